"""The card's four items in the form: filled at the start (and when a resident signs in
part-way), locked where the form says (a posted value is ignored), 外字 kept exactly and
reported; the split of names and addresses never guesses."""

from __future__ import annotations

import re

import pytest

from tenohira.applications import prefill, services
from tenohira.applications.models import Draft
from tenohira.catalog.models import Procedure
from tenohira.forms.schema import parse
from tests.support.residents import card_identity, sign_in

SCHEMA = {
    "title": "届出（テスト）",
    "steps": [
        {"key": "applicant", "title": "届け出る方", "fields": [
            {"key": "applicant_name", "type": "name", "label": "氏名", "required": True,
             "prefill": "name", "prefill_locked": True},
            {"key": "birth_date", "type": "date", "label": "生年月日", "required": True,
             "prefill": "birthdate", "prefill_locked": True},
            {"key": "gender", "type": "choice", "label": "性別", "prefill": "gender",
             "choices": [{"value": "m", "label": "男性"}, {"value": "f", "label": "女性"},
                         {"value": "o", "label": "その他"}]},
        ]},
        {"key": "contact", "title": "住所", "fields": [
            {"key": "address", "type": "address", "label": "住所", "required": True,
             "prefill": "address", "prefill_locked": True},
        ]},
    ],
}
KANA = {"applicant_name__family_kana": "タカハシ", "applicant_name__given_kana": "キチロウ"}


def start_signed_in(publish_form, browser, identity, code="PRF"):
    publish_form(SCHEMA, code)
    Procedure.objects.filter(code=code).update(identity="card_signin")
    sign_in(browser, identity)
    response = browser.post(f"/procedures/{code}/apply/")
    assert response.status_code == 302
    return re.search(r"/apply/([0-9a-f-]{36})/", response["Location"]).group(1)


def test_the_four_items_are_filled_and_locked_and_the_page_says_where_from(publish_form, browser):
    public_id = start_signed_in(publish_form, browser, card_identity("alice"))
    html = browser.get(f"/apply/{public_id}/applicant/").content.decode()
    assert "マイナンバーカードから入力しました" in html
    assert re.search(r'name="applicant_name__family" value="髙橋" readonly', html)
    assert re.search(r'name="applicant_name__given" value="𠮷郎" readonly', html)
    assert re.search(r'name="birth_date" value="1985-04-12" readonly', html)
    assert not re.search(r'name="applicant_name__family_kana"[^>]*readonly', html)  # the card has no furigana
    assert 'value="m" checked>' in html  # gender filled, not locked (the form did not ask)
    # 外字 reported to the resident, listed for staff
    assert "一部の文字は、市のシステムで別の字体で表示されることがあります" in html
    assert Draft.objects.get(public_id=public_id).identity["gaiji"] == ["髙", "𠮷"]


def test_posted_values_for_locked_inputs_are_ignored(publish_form, browser):
    public_id = start_signed_in(publish_form, browser, card_identity("alice"))
    response = browser.post(f"/apply/{public_id}/applicant/", {
        "action": "continue", "applicant_name__family": "別人", "applicant_name__given": "花子",
        "birth_date": "2000-01-01", "gender": "f", **KANA,
    })
    assert response.status_code == 302
    response = browser.post(f"/apply/{public_id}/contact/", {
        "action": "continue", "address__prefecture": "東京都", "address__city": "千代田区",
        "address__street": "1-1", "address__postal_code": "100-0001",
    })
    assert response.status_code == 302
    answers = services.run_of(Draft.objects.get(public_id=public_id)).answers
    assert answers["applicant_name"] == {"family": "髙橋", "given": "𠮷郎", "family_kana": "タカハシ",
                                         "given_kana": "キチロウ"}
    assert answers["birth_date"] == "1985-04-12"
    assert answers["gender"] == "f"  # unlocked: the resident's choice stands
    assert answers["address"] == {
        "postal_code": "963-8024", "prefecture": "福島県", "city": "郡山市", "town": "朝日",
        "street": "一丁目二十三番七号", "building": "サンプル第二コーポラス朝日 三〇五号室",
    }


def test_gaiji_in_a_compatibility_code_point_is_kept_exactly(publish_form, browser):
    """﨑 (U+FA11) and 神 (U+FA19): NFKC would turn the second into U+795E."""
    claims = {"name": "山﨑 神子", "address": "福島県郡山市虎丸町九番十五号 \ufa19社ハイツ", "birthdate": "2001-07-30",
              "gender": "female"}
    public_id = start_signed_in(publish_form, browser, card_identity("saki", claims=claims))
    browser.post(f"/apply/{public_id}/applicant/", {"action": "continue", **KANA})
    browser.post(f"/apply/{public_id}/contact/", {"action": "continue"})
    draft = Draft.objects.get(public_id=public_id)
    answers = services.run_of(draft).answers
    assert answers["applicant_name"]["family"] == "山\ufa11"
    assert answers["address"]["building"] == "\ufa19社ハイツ"
    assert draft.identity["gaiji"] == ["\ufa11", "\ufa19"]  # both only in CP932's IBM extensions


def test_another_providers_claims_fill_but_do_not_lock(publish_form, browser):
    identity = card_identity("ext", level="email", provider="city_oidc", label="サンプル市ID",
                             claims={"name": "山田 花子"})
    publish_form(SCHEMA, "EML")
    Procedure.objects.filter(code="EML").update(identity="email")
    sign_in(browser, identity)
    public_id = re.search(r"/apply/([0-9a-f-]{36})/", browser.post("/procedures/EML/apply/")["Location"]).group(1)
    html = browser.get(f"/apply/{public_id}/applicant/").content.decode()
    assert 'value="山田"' in html and "readonly" not in html
    browser.post(f"/apply/{public_id}/applicant/", {
        "action": "continue", "applicant_name__family": "山田", "applicant_name__given": "はなこ",
        "birth_date": "1990-01-01", **KANA,
    })
    answers = services.run_of(Draft.objects.get(public_id=public_id)).answers
    assert answers["applicant_name"]["given"] == "はなこ"


def test_signing_in_part_way_fills_what_is_still_empty(publish_form, browser):
    publish_form(SCHEMA, "MID")
    started = browser.post("/procedures/MID/apply/")
    public_id = re.search(r"/apply/([0-9a-f-]{36})/", started["Location"]).group(1)
    browser.post(f"/apply/{public_id}/applicant/", {
        "action": "continue", "applicant_name__family": "手入力", "applicant_name__given": "",
    })
    sign_in(browser, card_identity("alice"))
    browser.get(f"/apply/{public_id}/applicant/")
    draft = Draft.objects.get(public_id=public_id)
    assert draft.identity["subject"] == "alice"
    raw = draft.raw["applicant"]
    # locked by the card: replaced; the address step (never visited) is filled too
    assert raw["applicant_name__family"] == ["髙橋"] and raw["birth_date"] == ["1985-04-12"]
    assert draft.raw["contact"]["address__city"] == ["郡山市"]


# --- the splits ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("髙橋 𠮷郎", ("髙橋", "𠮷郎")),
    ("渡邉\u3000﨑子", ("渡邉", "﨑子")),
    ("ジョン スミス ジュニア", ("ジョン", "スミス ジュニア")),
    ("山田太郎", None),  # no space: never guessed
])
def test_names_split_at_the_first_space(name, expected):
    assert prefill.split_name(name) == expected


@pytest.mark.parametrize(("address", "expected"), [
    ("三重県四日市市諏訪町1番5号", ("510-0085", "三重県", "四日市市", "諏訪町", "1番5号", "")),
    ("神奈川県横浜市中区本町六丁目50番地の10", ("231-0005", "神奈川県", "横浜市中区", "本町", "六丁目50番地の10", "")),
    ("佐賀県杵島郡大町町大字大町1番地", ("", "佐賀県", "杵島郡大町町", "", "大字大町1番地", "")),
    # 大手町 has codes of its own for some buildings: the code is left for the resident.
    ("東京都千代田区大手町一丁目9番2号 サンプルビル101号室",
     ("", "東京都", "千代田区", "大手町", "一丁目9番2号", "サンプルビル101号室")),
])
def test_addresses_split_by_the_postal_data(address, expected):
    parts = prefill.split_address(address)
    assert tuple(parts[k] for k in ("postal_code", "prefecture", "city", "town", "street", "building")) == expected


def test_an_unknown_place_is_not_split():
    assert prefill.split_address("サンプル県サンプル市1-1") is None
    assert prefill.split_address("福島県サンプル村1-1") is None


def test_characters_outside_jis_x0208_are_found():
    assert prefill.outside_jis_x0208("髙橋 𠮷郎 山﨑 神田 ｱｲｳ 1-2") == ["髙", "𠮷", "﨑"]


def test_gender_maps_only_to_a_choice_that_says_it():
    field = parse(SCHEMA).field_map()["gender"]
    assert prefill.gender_choice(field, "female") == "f"
    assert prefill.gender_choice(field, "other") == "o"
    assert prefill.gender_choice(field, "unknown") is None
