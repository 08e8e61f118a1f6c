"""The demo forms (src/tenohira/forms/demo/*.json): they parse, and a resident who types
realistic answers gets through every one of them with the answers the section expects."""

import datetime as dt
import json
from pathlib import Path

import pytest
from django.utils import timezone

import tenohira.forms
from tenohira.forms.engine import FormRun
from tenohira.forms.schema import parse

DEMO_DIR = Path(tenohira.forms.__file__).resolve().parent / "demo"
DEMO_CODES = ["HJC", "HKC", "INU", "KBK", "SDG"]


def load(code: str) -> dict:
    return json.loads((DEMO_DIR / f"{code}.json").read_text(encoding="utf-8"))


def schema_of(code: str):
    return parse(load(code))


# --- raw inputs as a browser posts them (see forms/fields.py) ---------------------------


def name(prefix, family, given, family_kana="", given_kana=""):
    return {
        f"{prefix}__family": [family], f"{prefix}__given": [given],
        f"{prefix}__family_kana": [family_kana], f"{prefix}__given_kana": [given_kana],
    }


def address(prefix, postal_code, prefecture, city, town, street, building=""):
    parts = {"postal_code": postal_code, "prefecture": prefecture, "city": city, "town": town,
             "street": street, "building": building}
    return {f"{prefix}__{part}": [value] for part, value in parts.items()}


def koriyama(prefix="address", street="1-23-7", building=""):
    # 963-8601 is in the bundled postal data (郡山市朝日); the page fills the town from it.
    return address(prefix, "963-8601", "福島県", "郡山市", "朝日", street, building)


def contact(email="hanako@example.jp"):
    return {**koriyama(), "phone": ["090-1234-5678"], "email": [email]}


def problems_of(run: FormRun) -> dict[str, str]:
    return {prefix: p.message for outcome in run.outcomes.values() for prefix, p in outcome.problems.items()}


def summary_values(run: FormRun) -> dict[str, str]:
    return {item["label"]: item["value"] for section in run.summary() for item in section["items"]}


# --- every file --------------------------------------------------------------------------


def test_the_five_demo_forms_are_there():
    # …and the demo survey (ANK, a survey with no 受付番号 to follow: tests/applications/test_surveys.py).
    assert sorted(p.stem for p in DEMO_DIR.glob("*.json")) == sorted([*DEMO_CODES, "ANK"])


@pytest.mark.parametrize("code", DEMO_CODES)
def test_demo_form_parses_and_has_a_start_page(code):
    raw = load(code)
    schema = parse(raw)
    assert schema.title and len(schema.intro) > 40
    assert isinstance(raw["you_need"], list) and raw["you_need"]
    assert isinstance(raw["minutes"], int) and 1 <= raw["minutes"] <= 30
    # The confirmation e-mail goes to the field email_field names.
    email = schema.field_map()[raw["email_field"]]
    assert email.type == "email" and email.required
    for step in schema.steps:
        assert step.title
        for field in step.fields:
            if field.type == "phone":
                assert "例: " in field.hint
    # The consent is asked on the check page, after the resident has read the answers
    # back, never on a page of its own before that.
    assert schema.consent is not None and schema.consent.label.endswith("同意します")
    assert not any(f.type == "consent" for f in schema.all_fields())


@pytest.mark.parametrize("code", DEMO_CODES)
def test_demo_form_is_only_answered_by_typing(code):
    """Nothing typed yet: the first page is where the resident starts, and every
    required field there says what is missing."""
    run = FormRun(schema_of(code), {})
    assert not run.complete
    assert run.first_incomplete() == run.visible[0]


# --- 放課後児童クラブ入所申請 --------------------------------------------------------------


def hkc_raw(*, working=True, certificate=("tok-certificate-1",)):
    work = {"working": ["yes" if working else "no"], "employer": ["株式会社サンプル商事 駅前店"],
            "work_days": ["５"], "work_hours": ["9:00〜17:00"], "work_certificate": list(certificate)}
    if not working:
        work.update({"not_working_reason": ["job_seeking"]})
    return {
        "guardian": {**name("guardian_name", "山田", "太郎", "やまだ", "たろう"), "relationship": ["father"]},
        "contact": contact(),
        "child": {
            "children-count": ["2"],
            **name("children-0-child_name", "山田", "花子", "ヤマダ", "ハナコ"),
            "children-0-birth_date": ["平成28年5月10日"],
            "children-0-school": ["サンプル市立中央小学校"],
            "children-0-grade": ["3"], "children-0-club": ["chuo"], "children-0-period": ["year"],
            **name("children-1-child_name", "山田", "一郎", "ヤマダ", "イチロウ"),
            "children-1-birth_date": ["2018-09-01"],
            "children-1-school": ["サンプル市立中央小学校"],
            "children-1-grade": ["1"], "children-1-club": ["chuo"], "children-1-period": ["summer"],
        },
        "work": work,
    }


def test_hkc_two_children_and_a_working_guardian():
    run = FormRun(schema_of("HKC"), hkc_raw())
    assert problems_of(run) == {}
    assert run.complete
    answers = run.answers
    assert answers["guardian_name"] == {"family": "山田", "given": "太郎", "family_kana": "ヤマダ", "given_kana": "タロウ"}
    assert answers["phone"] == "09012345678"
    assert answers["address"]["postal_code"] == "963-8601"
    first, second = answers["children"]
    assert first["child_name"]["given_kana"] == "ハナコ"
    assert first["birth_date"] == "2016-05-10"
    assert (first["grade"], first["club"], first["period"]) == ("3", "chuo", "year")
    assert second["birth_date"] == "2018-09-01" and second["period"] == "summer"
    assert answers["working"] is True
    assert answers["work_days"] == 5  # typed in full width
    assert answers["work_certificate"] == ["tok-certificate-1"]
    assert "not_working_reason" not in answers
    shown = summary_values(run)
    assert shown["お子さん1 氏名"] == "山田 花子（ヤマダ ハナコ）"
    assert shown["お子さん2 利用したい期間"] == "夏休みのみ"
    assert shown["1週間の勤務日数"] == "5日"
    assert shown["就労証明書"] == "1ファイル"


def test_hkc_working_guardian_must_attach_the_certificate():
    run = FormRun(schema_of("HKC"), hkc_raw(certificate=()))
    assert not run.complete
    assert run.first_incomplete().key == "work"
    assert problems_of(run) == {"work_certificate": "就労証明書を添付してください。"}


def test_hkc_not_working_hides_the_employer_and_asks_the_reason():
    raw = hkc_raw(working=False)
    run = FormRun(schema_of("HKC"), raw)
    assert run.complete, problems_of(run)
    for hidden in ("employer", "work_days", "work_hours", "work_certificate", "not_working_detail"):
        assert hidden not in run.answers  # typed earlier, but never stored while hidden
    assert run.answers["not_working_reason"] == "job_seeking"
    assert "勤務先の名称" not in summary_values(run)

    raw["work"]["not_working_reason"] = ["other"]
    run = FormRun(schema_of("HKC"), raw)
    assert problems_of(run) == {"not_working_detail": "その他の理由を入力してください。"}

    del raw["work"]["not_working_reason"]
    run = FormRun(schema_of("HKC"), raw)
    assert problems_of(run) == {"not_working_reason": "就労していない理由を選んでください。"}


def test_hkc_children_are_between_one_and_five():
    raw = hkc_raw()
    raw["child"]["children-count"] = ["9"]
    run = FormRun(schema_of("HKC"), raw)
    assert len(run.answers["children"]) == 5  # at most five rows, the extra ones need answers
    assert "children-4-child_name" in problems_of(run)
    raw["child"]["children-count"] = ["0"]
    run = FormRun(schema_of("HKC"), raw)
    assert len(run.answers["children"]) == 1


def test_hkc_birth_date_in_the_future_is_refused():
    raw = hkc_raw()
    raw["child"]["children-0-birth_date"] = [(timezone.localdate() + dt.timedelta(days=3)).isoformat()]
    run = FormRun(schema_of("HKC"), raw)
    assert problems_of(run) == {"children-0-birth_date": "お子さん1の生年月日に未来の日付は入力できません。"}


# --- 粗大ごみ収集の申込 ----------------------------------------------------------------------


@pytest.fixture
def collection_routes(db):
    """The demo city's 粗大ごみ routes with their collection days (reservations.demo.collection):
    the form's 収集日 is one of them."""
    from tenohira.catalog.models import Department, Section
    from tenohira.reservations.demo import collection

    department = Department.objects.create(name="環境部", order=1)
    Section.objects.create(department=department, name="３Ｒ推進課", order=1)
    collection.seed()


def sdg_days(district="東地区"):
    """The collection days the form offers for a district (slot ids, soonest first)."""
    from tenohira.forms.extensions import slot_options

    return [o.value for o in slot_options(schema_of("SDG").field_map()["collection_day"], {"district": district})]


def sdg_raw(*, items=(("futon", "2"), ("bicycle", "1")), district="東地区", day=None, place="entrance"):
    rows = {"items-count": [str(max(len(items), 1))]}
    for index, (item, count) in enumerate(items):
        rows[f"items-{index}-item"] = [item]
        rows[f"items-{index}-quantity"] = [count]
    return {
        "applicant": name("applicant_name", "佐藤", "健", "さとう", "けん"),
        "contact": {**contact("ken.sato@example.jp"), "district": [district]},
        "items": rows,
        "collection": {
            "collection_day": [day if day is not None else sdg_days(district)[0]],
            "place": [place],
        },
    }


@pytest.mark.usefixtures("collection_routes")
def test_sdg_fee_is_computed_from_the_items():
    run = FormRun(schema_of("SDG"), sdg_raw())
    assert run.complete, problems_of(run)
    assert run.answers["items"] == [{"item": "futon", "quantity": 2}, {"item": "bicycle", "quantity": 1}]
    assert run.answers["fee"] == 2 * 300 + 500
    shown = summary_values(run)
    assert shown["手数料の合計"] == "1,100円"
    assert shown["品目1 品目"] == "布団・毛布（300円）"
    assert shown["品目1 数"] == "2点"
    assert shown["品目2 品目"] == "自転車（500円）"


@pytest.mark.usefixtures("collection_routes")
def test_sdg_fee_follows_every_row():
    run = FormRun(schema_of("SDG"), sdg_raw(items=(("sofa", "1"), ("bed", "2"), ("futon", "5"))))
    assert run.complete, problems_of(run)
    assert run.answers["fee"] == 1000 + 2 * 1000 + 5 * 300


@pytest.mark.usefixtures("collection_routes")
def test_sdg_every_row_needs_an_item_and_a_count_within_limits():
    run = FormRun(schema_of("SDG"), sdg_raw(items=(("futon", "1"), ("chest", ""))))
    assert problems_of(run) == {"items-1-quantity": "品目2の数を入力してください。"}
    run = FormRun(schema_of("SDG"), sdg_raw(items=(("futon", "6"),)))
    assert problems_of(run) == {"items-0-quantity": "品目1の数は5点以下で入力してください。"}
    run = FormRun(schema_of("SDG"), sdg_raw(items=()))
    assert problems_of(run) == {"items-0-item": "品目1を選んでください。", "items-0-quantity": "品目1の数を入力してください。"}


@pytest.mark.usefixtures("collection_routes")
def test_sdg_fee_table_matches_the_choices():
    """Every item's fee is shown on its choice, and the computation charges that fee."""
    schema = schema_of("SDG")
    fields = schema.field_map()
    assert fields["fee"].option("expression") == {
        "sum_over": ["items", {"mul": [{"option": ["item", "fee"]}, {"field": "quantity"}]}]
    }
    choices = fields["items.item"].option("choices")
    assert 8 <= len(choices) <= 12
    for choice in choices:
        assert 300 <= choice["fee"] <= 1000
        assert f"{choice['fee']:,}円" in choice["label"]
        run = FormRun(schema, sdg_raw(items=((choice["value"], "3"),)))
        assert run.answers["fee"] == 3 * choice["fee"]


@pytest.mark.usefixtures("collection_routes")
def test_sdg_collection_days_are_the_districts_free_days_7_to_60_days_ahead():
    from tenohira.reservations.models import Resource, Slot

    today = timezone.localdate()
    route = Resource.objects.get(kind=Resource.Kind.COLLECTION, district="東地区")
    offered = list(Slot.objects.filter(pk__in=sdg_days("東地区")).order_by("starts_at"))
    assert offered and {slot.resource_id for slot in offered} == {route.pk}
    ahead = [(timezone.localtime(slot.starts_at).date() - today).days for slot in offered]
    assert min(ahead) >= 7 and max(ahead) <= 60
    # Every collection day of the route in that window is offered, none before or after it.
    window = [
        slot.pk for slot in route.slots.all()
        if 7 < (timezone.localtime(slot.starts_at).date() - today).days <= 60
    ]
    assert set(window) <= {slot.pk for slot in offered}
    sooner = [slot.pk for slot in route.slots.all() if (timezone.localtime(slot.starts_at).date() - today).days < 7]
    assert sooner and not set(sooner) & {slot.pk for slot in offered}
    run = FormRun(schema_of("SDG"), sdg_raw(day=str(offered[0].pk)))
    assert run.complete, problems_of(run)
    assert summary_values(run)["収集日"].endswith("8:30～12:00（東地区）")


@pytest.mark.usefixtures("collection_routes")
def test_sdg_a_day_of_another_district_is_refused():
    west = sdg_days("西地区")[0]
    run = FormRun(schema_of("SDG"), sdg_raw(district="東地区", day=west))
    assert problems_of(run) == {"collection_day": "収集日を、表示された日から選んでください。"}


@pytest.mark.usefixtures("collection_routes")
def test_sdg_other_place_needs_a_description():
    raw = sdg_raw(place="other")
    assert problems_of(FormRun(schema_of("SDG"), raw)) == {"place_detail": "出す場所の説明を入力してください。"}
    raw["collection"]["place_detail"] = ["駐車場の奥"]
    assert FormRun(schema_of("SDG"), raw).complete


def test_engine_can_sum_fees_over_a_repeating_group():
    raw = {"title": "t", "steps": [{"key": "s", "title": "s", "fields": [
        {"key": "items", "type": "group", "label": "品目", "min": 1, "max": 10, "fields": [
            {"key": "item", "type": "choice", "label": "品目", "required": True,
             "choices": [{"value": "futon", "label": "布団", "fee": 300}]},
            {"key": "quantity", "type": "number", "label": "数", "min": 1, "max": 5, "required": True},
        ]},
        {"key": "fee", "type": "computed", "label": "手数料", "format": "yen",
         "expression": {"sum_over": ["items", {"mul": [{"option": ["item", "fee"]}, {"field": "quantity"}]}]}},
    ]}]}
    schema = parse(raw)
    run = FormRun(schema, {"s": {"items-count": ["1"], "items-0-item": ["futon"], "items-0-quantity": ["2"]}})
    assert run.answers["fee"] == 600


# --- 住民票の写し等の交付請求 ----------------------------------------------------------------


def hjc_raw(*, kind="household", copies="2", include=("relationship",), purpose="employment", **more):
    certificate = {"kind": [kind], "copies": [copies]}
    certificate.update(more)
    return {
        "certificate": certificate,
        "contents": {"include": list(include)},
        "use": {"purpose": [purpose]},
        "applicant": {**name("applicant_name", "鈴木", "一郎", "スズキ", "イチロウ"), "birth_date": ["S60.4.1"]},
        "contact": contact("ichiro@example.jp"),
        "receive": {"delivery": ["mail"]},
    }


def test_hjc_fee_is_copies_times_300_yen():
    run = FormRun(schema_of("HJC"), hjc_raw())
    assert run.complete, problems_of(run)
    assert run.answers["copies"] == 2
    assert run.answers["fee"] == 600
    assert run.answers["include"] == ["relationship"]
    assert run.answers["birth_date"] == "1985-04-01"
    shown = summary_values(run)
    assert shown["手数料"] == "600円"
    assert shown["通数"] == "2通"
    assert shown["受け取り方法"].startswith("郵送")


def test_hjc_says_truthfully_what_the_card_is_asked_for():
    """The card is checked on this site now (applications.assurance): sign-in with the
    4-digit PIN at the start, and for postal delivery only, the signature with the
    6-16 character password before sending; the counter still checks a document."""
    schema = schema_of("HJC")
    assert "利用者証明用電子証明書の暗証番号（数字4桁）" in schema.intro
    assert "署名用電子証明書のパスワード（英数字6〜16文字）" in schema.intro
    assert any("暗証番号（数字4桁）" in item for item in schema.you_need)
    assert any(item.startswith("郵送で受け取る場合は、署名用電子証明書") for item in schema.you_need)
    assert "本人確認書類" in schema.intro and "住民票に記載されている住所にだけ" in schema.intro
    # What the intro promises is what the form does.
    assert schema.signature.required_if == {"field": "delivery", "equals": "mail"}
    fields = schema.field_map()
    assert {key: fields[key].option("prefill") for key in ("applicant_name", "birth_date", "address")} == {
        "applicant_name": "name", "birth_date": "birthdate", "address": "address"}
    assert all(fields[key].option("prefill_locked") for key in ("applicant_name", "birth_date", "address"))
    guidance = schema.field_map()["mynumber_guidance"].option("text")
    assert "マイナンバー" in guidance


def test_hjc_nothing_to_include_is_a_valid_answer():
    run = FormRun(schema_of("HJC"), hjc_raw(include=()))
    assert run.complete, problems_of(run)
    assert "include" not in run.answers


def test_hjc_other_purpose_needs_words():
    raw = hjc_raw(purpose="other")
    assert problems_of(FormRun(schema_of("HJC"), raw)) == {"purpose_other": "その他の使いみちを入力してください。"}
    raw["use"]["purpose_other"] = ["銀行口座の住所変更"]
    run = FormRun(schema_of("HJC"), raw)
    assert run.complete and run.answers["purpose_other"] == "銀行口座の住所変更"


def test_hjc_partial_copy_asks_whose_and_a_certificate_skips_the_contents_page():
    run = FormRun(schema_of("HJC"), hjc_raw(kind="partial"))
    assert problems_of(run) == {"persons": "住民票に載せる方の氏名を入力してください。"}

    run = FormRun(schema_of("HJC"), hjc_raw(kind="certificate", certify_items=["氏名、生年月日、住所"]))
    assert run.complete, problems_of(run)
    assert "contents" not in [step.key for step in run.visible]
    assert "include" not in run.answers  # typed on a page that no longer applies


@pytest.mark.parametrize("copies", ["0", "11", "1.5", "いち"])
def test_hjc_copies_out_of_range(copies):
    assert "copies" in problems_of(FormRun(schema_of("HJC"), hjc_raw(copies=copies)))


# --- 犬の登録（畜犬登録） ----------------------------------------------------------------------


def inu_raw(*, same_as_owner=True, certificate=()):
    return {
        "owner": name("owner_name", "高橋", "美咲", "タカハシ", "ミサキ"),
        "contact": contact("misaki@example.jp"),
        "dog": {"dog_name": ["ハナ"], "breed": ["柴"], "colour": ["茶"], "sex": ["female"],
                "birth_date": ["令和6年3月1日"], "microchip": ["３９２１４１０００１２３４５６"]},
        "kept": {"same_as_owner": ["yes" if same_as_owner else "no"]},
        "rabies": {"rabies_date": ["2025-04-15"], "rabies_certificate": list(certificate)},
    }


def test_inu_registration_without_the_optional_photo():
    run = FormRun(schema_of("INU"), inu_raw())
    assert run.complete, problems_of(run)
    assert run.answers["dog_name"] == "ハナ"
    assert run.answers["birth_date"] == "2024-03-01"
    assert run.answers["microchip"] == "392141000123456"  # full width folded
    assert run.answers["same_as_owner"] is True
    assert "kept_address" not in run.answers
    assert "rabies_certificate" not in run.answers
    assert summary_values(run)["性別"] == "メス"


def test_inu_dog_kept_elsewhere_needs_that_address():
    raw = inu_raw(same_as_owner=False, certificate=["tok-rabies"])
    assert problems_of(FormRun(schema_of("INU"), raw)) == {"kept_address": "犬を飼う場所の住所を入力してください。"}
    raw["kept"].update(address("kept_address", "100-0001", "東京都", "千代田区", "千代田", "1-1"))
    run = FormRun(schema_of("INU"), raw)
    assert run.complete, problems_of(run)
    assert run.answers["kept_address"]["city"] == "千代田区"
    assert run.answers["rabies_certificate"] == ["tok-rabies"]


def test_inu_fee_is_stated_before_sending():
    assert "3,000円" in schema_of("INU").consent.text


# --- 公文書開示請求 ------------------------------------------------------------------------


def kbk_raw(*, requester="individual", method="paper_copy", delivery="mail", **requester_more):
    return {
        "requester": {"requester_type": [requester], **requester_more},
        "person": name("requester_name", "伊藤", "直子", "イトウ", "ナオコ"),
        "contact": {**koriyama(street="2-1"), "phone": ["024-123-4567"], "email": ["naoko@example.jp"]},
        "document": {"document": ["令和6年度 中央公園の維持管理業務の委託契約書"], "purpose": [""]},
        "method": {"disclosure_method": [method], "delivery": [delivery]},
    }


def test_kbk_individual_asks_a_paper_copy_by_mail():
    run = FormRun(schema_of("KBK"), kbk_raw())
    assert run.complete, problems_of(run)
    assert run.answers["requester_type"] == "individual"
    assert "organisation" not in run.answers and "representative" not in run.answers
    assert "purpose" not in run.answers  # optional, left empty
    assert run.answers["delivery"] == "mail"
    assert run.answers["phone"] == "0241234567"


def test_kbk_corporation_names_itself_and_its_representative():
    raw = kbk_raw(requester="corporation")
    assert set(problems_of(FormRun(schema_of("KBK"), raw))) == {"organisation", "representative"}
    raw["requester"].update({"organisation": ["株式会社サンプル総研"],
                             **name("representative", "渡辺", "修")})
    run = FormRun(schema_of("KBK"), raw)
    assert run.complete, problems_of(run)
    assert run.answers["representative"] == {"family": "渡辺", "given": "修"}  # no furigana asked
    assert summary_values(run)["代表者の氏名"] == "渡辺 修"


def test_kbk_inspection_needs_no_delivery():
    run = FormRun(schema_of("KBK"), kbk_raw(method="inspection", delivery=""))
    assert run.complete, problems_of(run)
    assert "delivery" not in run.answers
    run = FormRun(schema_of("KBK"), kbk_raw(method="electronic_copy", delivery=""))
    assert problems_of(run) == {"delivery": "写しの受け取り方法を選んでください。"}
