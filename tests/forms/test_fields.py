"""Each field type's validation and normalisation, run through the engine (FormRun) on a
tiny schema, as the step pages run it: raw inputs in, stored value or message out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from tenohira.core.wareki import format_wareki
from tenohira.forms.engine import FormRun, display
from tenohira.forms.schema import parse

# Property tests assert behaviour, never speed: a busy machine must not fail them.
no_deadline = settings(deadline=None)


def schema_with(*fields):
    return parse({"title": "テスト", "steps": [{"key": "s", "title": "ページ", "fields": list(fields)}]})


def run(fields, raw: dict) -> FormRun:
    fields = fields if isinstance(fields, list) else [fields]
    raw = {name: value if isinstance(value, list) else [value] for name, value in raw.items()}
    return FormRun(schema_with(*fields), {"s": raw})


def value_of(field: dict, raw: dict):
    result = run(field, raw)
    problems = result.outcomes["s"].problems
    assert not problems, {k: p.message for k, p in problems.items()}
    return result.answers.get(field["key"])


def problem_of(field: dict, raw: dict, prefix: str | None = None) -> str:
    result = run(field, raw)
    problems = result.outcomes["s"].problems
    prefix = prefix or field["key"]
    assert prefix in problems, f"no problem for {prefix}: answers={result.answers}"
    assert field["key"] not in result.answers
    return problems[prefix].message


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# --- text and textarea ------------------------------------------------------------------------

TEXT = {"key": "school", "type": "text", "label": "学校名", "max_length": 10, "required": True}


def test_text_is_stripped_and_kept_as_typed():
    assert value_of(TEXT, {"school": "  中央小学校 "}) == "中央小学校"
    assert value_of(TEXT, {"school": "ＡＢＣ小学校"}) == "ＡＢＣ小学校"  # names keep their width


def test_text_longer_than_max_length_is_refused_with_both_lengths():
    message = problem_of(TEXT, {"school": "あ" * 11})
    assert message == "学校名は10文字以内で入力してください（今は11文字です）。"
    assert value_of(TEXT, {"school": "あ" * 10}) == "あ" * 10


def test_required_text_left_empty_asks_for_it():
    assert problem_of(TEXT, {"school": "   "}) == "学校名を入力してください。"
    assert problem_of(TEXT, {}) == "学校名を入力してください。"


def test_optional_text_left_empty_has_no_answer():
    result = run({**TEXT, "required": False}, {"school": ""})
    assert result.outcomes["s"].ok and "school" not in result.answers


def test_code_like_text_is_folded_to_half_width():
    plate = {"key": "plate", "type": "text", "label": "登録番号", "code": True}
    assert value_of(plate, {"plate": "ＡＢ－１２３"}) == "AB-123"


def test_textarea_allows_long_text_up_to_2000_by_default():
    area = {"key": "detail", "type": "textarea", "label": "詳しい内容"}
    assert value_of(area, {"detail": "理由\n" * 400}) == ("理由\n" * 400).strip()
    assert problem_of(area, {"detail": "あ" * 2001}).startswith("詳しい内容は2000文字以内")


# --- number -------------------------------------------------------------------------------------

COPIES = {"key": "copies", "type": "number", "label": "通数", "min": 1, "max": 10, "unit": "通", "required": True}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("2", 2), ("２", 2), (" 10 ", 10), ("３通", 3), ("1通", 1), ("１０", 10)],
)
def test_number_accepts_full_width_digits_and_its_unit(typed, stored):
    assert value_of(COPIES, {"copies": typed}) == stored


def test_number_outside_min_and_max_is_refused_with_the_bound():
    assert problem_of(COPIES, {"copies": "0"}) == "通数は1通以上で入力してください。"
    assert problem_of(COPIES, {"copies": "11"}) == "通数は10通以下で入力してください。"


def test_number_that_is_not_a_number_is_refused():
    assert problem_of(COPIES, {"copies": "にまい"}) == "通数は数字で入力してください。"


def test_integer_number_refuses_fractions_and_decimal_number_keeps_them():
    assert problem_of(COPIES, {"copies": "1.5"}) == "通数は整数で入力してください。"
    weight = {"key": "weight", "type": "number", "label": "体重", "integer": False, "min": 0}
    assert value_of(weight, {"weight": "１２．５"}) == "12.5"


def test_number_with_thousands_commas():
    income = {"key": "income", "type": "number", "label": "所得", "min": 0}
    assert value_of(income, {"income": "1,234,567"}) == 1234567
    assert value_of(income, {"income": "１，２３４"}) == 1234


@no_deadline
@given(st.integers(min_value=0, max_value=10**9), st.booleans(), st.booleans())
def test_any_integer_in_any_width_with_or_without_commas(number, wide, commas):
    income = {"key": "income", "type": "number", "label": "所得", "min": 0}
    text = f"{number:,}" if commas else str(number)
    assert value_of(income, {"income": full_width(text) if wide else text}) == number


# --- e-mail ---------------------------------------------------------------------------------------

EMAIL = {"key": "email", "type": "email", "label": "メールアドレス", "required": True}


def test_email_full_width_is_folded_and_the_domain_lower_cased():
    assert value_of(EMAIL, {"email": "ｈａｎａｋｏ＠ＥＸＡＭＰＬＥ．ＪＰ"}) == "hanako@example.jp"
    assert value_of(EMAIL, {"email": " Taro.Yamada@Example.JP "}) == "Taro.Yamada@example.jp"


@pytest.mark.parametrize("typed", ["hanako", "hanako@", "@example.jp", "hanako@example", "はなこ@例"])
def test_email_in_a_wrong_form_is_refused(typed):
    assert problem_of(EMAIL, {"email": typed}) == "メールアドレスの形式が正しくありません（例: name@example.jp）。"


# --- phone and postal code --------------------------------------------------------------------------


def test_phone_is_stored_as_digits_and_shown_hyphenated():
    field = {"key": "tel", "type": "phone", "label": "電話番号"}
    result = run(field, {"tel": "０９０ー１２３４ー５６７８"})
    assert result.answers["tel"] == "09012345678"
    assert display(result.fields["tel"], "09012345678") == "090-1234-5678"
    assert "桁数" in problem_of(field, {"tel": "090-1234"})


def test_postal_code_must_exist():
    field = {"key": "zip", "type": "postal_code", "label": "郵便番号"}
    assert value_of(field, {"zip": "〒９６３８６０１"}) == "963-8601"
    assert problem_of(field, {"zip": "000-0000"}) == "郵便番号「000-0000」は見つかりません。番号を確かめてください。"
    assert problem_of(field, {"zip": "12345"}).startswith("郵便番号は7桁")
    assert display(schema_with(field).field_map()["zip"], "963-8601") == "〒963-8601"


# --- dates (和暦) ------------------------------------------------------------------------------------

BIRTH = {"key": "birth", "type": "date", "label": "生年月日", "not_future": True, "required": True}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("R6.4.1", "2024-04-01"),
        ("令和6年4月1日", "2024-04-01"),
        ("令和元年5月1日", "2019-05-01"),
        ("Ｒ６．４．１", "2024-04-01"),
        ("２０２４－０４－０１", "2024-04-01"),
        ("2024/4/1", "2024-04-01"),
        ("H28.5.10", "2016-05-10"),
        ("平成31年4月30日", "2019-04-30"),
        ("S60.4.1", "1985-04-01"),
    ],
)
def test_date_accepts_wareki_and_western_forms(typed, stored):
    assert value_of(BIRTH, {"birth": typed}) == stored


@no_deadline
@given(st.dates(min_value=dt.date(1989, 1, 8), max_value=dt.date(2024, 12, 31)), st.booleans(), st.data())
def test_any_heisei_or_reiwa_date_in_any_writing(date, wide, data):
    era, initial, start = ("令和", "R", dt.date(2019, 5, 1)) if date >= dt.date(2019, 5, 1) else ("平成", "H", dt.date(1989, 1, 8))
    year = date.year - start.year + 1
    written = data.draw(st.sampled_from([
        f"{era}{'元' if year == 1 else year}年{date.month}月{date.day}日",
        f"{initial}{year}.{date.month}.{date.day}",
        f"{initial.lower()}{year}/{date.month}/{date.day}",
        date.isoformat(),
        f"{date.year}年{date.month}月{date.day}日",
    ]))
    typed = full_width(written) if wide else written
    assert value_of(BIRTH, {"birth": typed}) == date.isoformat()


def test_date_shows_wareki_and_western():
    field = schema_with(BIRTH).field_map()["birth"]
    assert display(field, "2019-05-01") == "令和元年5月1日（2019年5月1日）"


@pytest.mark.parametrize("typed", ["平成31年5月1日", "令和1年4月30日", "2024-02-30", "きのう", "R6.13.1"])
def test_impossible_dates_are_refused_naming_the_field(typed):
    message = problem_of(BIRTH, {"birth": typed})
    assert message.startswith("生年月日の「")
    assert typed in message


def test_not_future_refuses_tomorrow_and_takes_today():
    today = timezone.localdate()
    assert value_of(BIRTH, {"birth": today.isoformat()}) == today.isoformat()
    tomorrow = today + dt.timedelta(days=1)
    assert problem_of(BIRTH, {"birth": tomorrow.isoformat()}) == "生年月日に未来の日付は入力できません。"


def test_min_days_from_today_names_the_earliest_date_in_wareki():
    pickup = {"key": "pickup", "type": "date", "label": "収集希望日", "min_days_from_today": 3,
              "max_days_from_today": 60}
    today = timezone.localdate()
    earliest = today + dt.timedelta(days=3)
    assert value_of(pickup, {"pickup": earliest.isoformat()}) == earliest.isoformat()
    assert problem_of(pickup, {"pickup": (earliest - dt.timedelta(days=1)).isoformat()}) == (
        f"収集希望日は{format_wareki(earliest)}以降の日付を入力してください。"
    )
    latest = today + dt.timedelta(days=60)
    assert value_of(pickup, {"pickup": latest.isoformat()}) == latest.isoformat()
    assert problem_of(pickup, {"pickup": (latest + dt.timedelta(days=1)).isoformat()}) == (
        f"収集希望日は{format_wareki(latest)}までの日付を入力してください。"
    )


# --- choices -------------------------------------------------------------------------------------

GRADE = {"key": "grade", "type": "choice", "label": "学年", "required": True,
         "choices": [{"value": "1", "label": "1年"}, {"value": "2", "label": "2年"}, {"value": 3, "label": "3年"}]}
KINDS = {"key": "kinds", "type": "multichoice", "label": "記載事項", "min": 1, "max": 2,
         "choices": [{"value": "honseki", "label": "本籍"}, {"value": "relationship", "label": "続柄"},
                     {"value": "code", "label": "住民票コード"}]}


def test_choice_takes_a_listed_value_and_shows_its_label():
    assert value_of(GRADE, {"grade": "2"}) == "2"
    assert value_of(GRADE, {"grade": "3"}) == "3"  # numeric values are compared as text
    assert display(schema_with(GRADE).field_map()["grade"], "2") == "2年"


def test_choice_refuses_an_unknown_value():
    assert problem_of(GRADE, {"grade": "7"}) == "学年を選択肢から選んでください。"


def test_required_choice_left_empty_asks_to_choose():
    assert problem_of(GRADE, {}) == "学年を選んでください。"


def test_multichoice_keeps_the_order_of_the_choices():
    assert value_of(KINDS, {"kinds": ["relationship", "honseki"]}) == ["honseki", "relationship"]
    assert display(schema_with(KINDS).field_map()["kinds"], ["honseki", "relationship"]) == "本籍、続柄"


def test_multichoice_refuses_unknown_values_and_respects_min_and_max():
    assert problem_of(KINDS, {"kinds": ["honseki", "mynumber"]}) == "記載事項を選択肢から選んでください。"
    assert problem_of(KINDS, {"kinds": ["honseki", "relationship", "code"]}) == "記載事項は2つまで選べます。"
    at_least_two = {**KINDS, "min": 2, "max": 3}
    assert problem_of(at_least_two, {"kinds": ["code"]}) == "記載事項は2つ以上選んでください。"


def test_yesno_is_a_boolean():
    working = {"key": "working", "type": "yesno", "label": "就労していますか", "required": True}
    assert value_of(working, {"working": "yes"}) is True
    assert value_of(working, {"working": "no"}) is False
    assert problem_of(working, {"working": "maybe"}) == "「就労していますか」で「はい」か「いいえ」を選んでください。"
    assert problem_of(working, {}) == "「就労していますか」で「はい」か「いいえ」を選んでください。"
    field = schema_with(working).field_map()["working"]
    assert (display(field, True), display(field, False)) == ("はい", "いいえ")


def test_required_consent_must_be_given():
    consent = {"key": "consent", "type": "consent", "label": "個人情報の利用", "required": True}
    assert value_of(consent, {"consent": "yes"}) is True
    assert problem_of(consent, {}) == "「個人情報の利用」にチェックを入れてください。"
    assert problem_of(consent, {"consent": "no"}) == "「個人情報の利用」にチェックを入れてください。"
    optional = {**consent, "required": False}
    assert value_of(optional, {}) is False


# --- name and address ---------------------------------------------------------------------------

NAME = {"key": "applicant", "type": "name", "label": "申請者の氏名", "required": True}


def name_raw(family="山田", given="花子", family_kana="やまだ", given_kana="ﾊﾅｺ", prefix="applicant"):
    return {f"{prefix}__family": family, f"{prefix}__given": given,
            f"{prefix}__family_kana": family_kana, f"{prefix}__given_kana": given_kana}


def test_name_converts_furigana_to_katakana():
    assert value_of(NAME, name_raw()) == {"family": "山田", "given": "花子", "family_kana": "ヤマダ", "given_kana": "ハナコ"}
    field = schema_with(NAME).field_map()["applicant"]
    assert display(field, value_of(NAME, name_raw())) == "山田 花子（ヤマダ ハナコ）"


def test_name_lists_the_missing_parts():
    assert problem_of(NAME, name_raw(given="", given_kana="")) == "申請者の氏名の名・メイを入力してください。"


def test_name_refuses_kanji_furigana_in_japanese():
    assert problem_of(NAME, name_raw(family_kana="山田")) == "申請者の氏名のフリガナはカタカナ（またはひらがな）で入力してください。"


def test_name_without_furigana():
    plain = {**NAME, "kana": False}
    assert value_of(plain, name_raw(family_kana="", given_kana="")) == {"family": "山田", "given": "花子"}


def test_required_name_left_empty_asks_for_it_and_links_to_the_first_part():
    result = run(NAME, {})
    assert result.outcomes["s"].problems["applicant"].message == "申請者の氏名を入力してください。"
    assert result.outcomes["s"].problems["applicant"].anchor == "f-applicant__family"


ADDRESS = {"key": "address", "type": "address", "label": "住所", "required": True}


def address_raw(**parts):
    values = {"postal_code": "〒９６３－８６０１", "prefecture": "福島県", "city": "郡山市", "town": "朝日",
              "street": "１－２３－７", "building": ""}
    values.update(parts)
    return {f"address__{part}": value for part, value in values.items()}


def test_address_normalises_postal_code_and_street_number():
    assert value_of(ADDRESS, address_raw()) == {
        "postal_code": "963-8601", "prefecture": "福島県", "city": "郡山市", "town": "朝日",
        "street": "1-23-7", "building": "",
    }
    field = schema_with(ADDRESS).field_map()["address"]
    assert display(field, value_of(ADDRESS, address_raw(building="朝日ハイツ101"))) == "〒963-8601 福島県郡山市朝日1-23-7 朝日ハイツ101"


def test_address_requires_postal_code_prefecture_city_and_street():
    message = problem_of(ADDRESS, address_raw(prefecture="", street=""))
    assert message == "住所の都道府県・番地を入力してください。"
    assert value_of(ADDRESS, address_raw(town=""))["town"] == ""  # the town is optional


def test_address_refuses_a_malformed_postal_code():
    assert problem_of(ADDRESS, address_raw(postal_code="96-38601x")).startswith("住所の郵便番号は7桁")


# --- computed values ------------------------------------------------------------------------------

FEE = {"key": "fee", "type": "computed", "label": "手数料", "format": "yen",
       "expression": {"mul": [{"field": "copies"}, 300]}}


def test_fee_is_copies_times_300_yen():
    result = run([COPIES, FEE], {"copies": "３"})
    assert result.answers["fee"] == 900
    assert display(result.fields["fee"], 900) == "900円"


def test_fee_is_zero_until_copies_are_given_and_cannot_be_typed():
    result = run([{**COPIES, "required": False}, FEE], {"fee": "1"})
    assert result.answers["fee"] == 0


def test_sum_over_a_group_reads_each_rows_chosen_option_fee():
    items = {"key": "items", "type": "group", "label": "品目", "min": 1, "max": 10, "fields": [
        {"key": "item", "type": "choice", "label": "品目", "required": True,
         "choices": [{"value": "futon", "label": "布団", "fee": 300}, {"value": "sofa", "label": "ソファー", "fee": 1000}]},
        {"key": "quantity", "type": "number", "label": "数", "min": 1, "max": 5, "required": True},
    ]}
    total = {"key": "total", "type": "computed", "label": "手数料", "format": "yen",
             "expression": {"sum_over": ["items", {"mul": [{"option": ["item", "fee"]}, {"field": "quantity"}]}]}}
    result = run([items, total], {"items-count": "2", "items-0-item": "futon", "items-0-quantity": "2",
                                  "items-1-item": "sofa", "items-1-quantity": "１"})
    assert result.outcomes["s"].ok
    assert result.answers["total"] == 2 * 300 + 1000
    count = {"key": "how_many", "type": "computed", "label": "品目数", "expression": {"count": "items"}}
    assert run([items, count], {"items-count": "3"}).answers["how_many"] == 3


# --- repeating groups --------------------------------------------------------------------------------

CHILDREN = {"key": "children", "type": "group", "label": "お子さん", "row_label": "お子さん", "min": 1, "max": 3,
            "fields": [
                {"key": "child_name", "type": "text", "label": "氏名", "required": True},
                {"key": "grade", "type": "choice", "label": "学年", "required": True,
                 "choices": [{"value": "1", "label": "1年"}, {"value": "2", "label": "2年"}]},
            ]}


def test_group_rows_are_cleaned_one_by_one():
    result = run(CHILDREN, {"children-count": "2", "children-0-child_name": "一郎", "children-0-grade": "1",
                            "children-1-child_name": "次郎", "children-1-grade": "2"})
    assert result.outcomes["s"].ok
    assert result.answers["children"] == [{"child_name": "一郎", "grade": "1"}, {"child_name": "次郎", "grade": "2"}]
    rows = [(item["label"], item["value"]) for item in result.summary()[0]["items"]]
    assert rows == [("お子さん1 氏名", "一郎"), ("お子さん1 学年", "1年"), ("お子さん2 氏名", "次郎"), ("お子さん2 学年", "2年")]


def test_group_row_errors_are_keyed_by_group_row_and_child():
    result = run(CHILDREN, {"children-count": "2", "children-0-child_name": "一郎", "children-0-grade": "1",
                            "children-1-grade": "5"})
    problems = result.outcomes["s"].problems
    assert set(problems) == {"children-1-child_name", "children-1-grade"}
    assert problems["children-1-child_name"].message == "お子さん2の氏名を入力してください。"
    assert problems["children-1-child_name"].anchor == "f-children-1-child_name"
    assert problems["children-1-grade"].message == "お子さん2の学年を選択肢から選んでください。"
    assert problems["children-1-grade"].anchor == "f-children-1-grade-0"


def test_group_row_count_stays_within_min_and_max():
    at_least_one = run(CHILDREN, {"children-count": "0"})
    assert len(at_least_one.answers["children"]) == 1
    assert "children-0-child_name" in at_least_one.outcomes["s"].problems
    at_most_three = run(CHILDREN, {"children-count": "99"})
    assert len(at_most_three.answers["children"]) == 3
    garbage = run(CHILDREN, {"children-count": "many"})
    assert len(garbage.answers["children"]) == 1


# --- files and guidance ------------------------------------------------------------------------


def test_file_field_holds_tokens_up_to_max_files():
    photos = {"key": "photos", "type": "file", "label": "写真", "max_files": 2, "required": True}
    assert value_of(photos, {"photos": ["t1", "t2"]}) == ["t1", "t2"]
    assert problem_of(photos, {"photos": ["t1", "t2", "t3"]}) == "写真は2ファイルまで添付できます。"
    assert problem_of(photos, {}) == "写真を添付してください。"


def test_guidance_has_no_value():
    guidance = {"key": "note", "type": "guidance", "text": "お読みください。"}
    result = run([guidance, TEXT], {"note": "typed anyway", "school": "中央小"})
    assert "note" not in result.answers
    assert result.answers == {"school": "中央小"}
    assert [item["label"] for item in result.summary()[0]["items"]] == ["学校名"]


SCIENTIFIC = {"key": "ratio", "type": "number", "label": "比率", "integer": False, "exponent": True}


def test_an_exponent_is_taken_only_where_the_field_allows_it_and_stays_small():
    assert value_of(SCIENTIFIC, {"ratio": ["1.5e3"]}) == "1500"
    assert value_of(SCIENTIFIC, {"ratio": ["２E-2"]}) == "0.02"
    assert problem_of(SCIENTIFIC, {"ratio": ["1e999"]}) == "比率は数字で入力してください。"
    assert problem_of(SCIENTIFIC, {"ratio": ["1e20"]}) == "比率は15桁以内の数字で入力してください。"
    assert problem_of({**SCIENTIFIC, "exponent": False}, {"ratio": ["1e3"]}) == "比率は数字で入力してください。"


@given(st.text(alphabet="0123456789eE+-.,,NaInfity０１２ ", max_size=60))
@settings(max_examples=200, deadline=None)
def test_any_number_text_gives_a_bounded_value_or_a_message(text):
    for field in (SCIENTIFIC, {"key": "ratio", "type": "number", "label": "比率"}):
        result = run([field], {"ratio": [text]})
        value = result.answers.get("ratio")
        if value is not None:
            assert len(str(value)) <= 130  # 15 digits, at most 99 places after the point
