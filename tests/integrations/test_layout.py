"""The standard data layout: every demo form yields the standard items it has, whatever its
field keys; explicit 'standard' options win and are checked; characters CP932 and
JIS X 0213 cannot hold are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tenohira.forms
from tenohira.forms.schema import SchemaError, parse
from tenohira.integrations.layout import ITEM_NAMES, charset_report, item_sources, standard_items

DEMO = Path(tenohira.forms.__file__).with_name("demo")
NAME = {"family": "山田", "given": "花子", "family_kana": "ヤマダ", "given_kana": "ハナコ"}
ADDRESS = {"postal_code": "963-8601", "prefecture": "福島県", "city": "郡山市", "town": "朝日",
           "street": "1-23-7", "building": "305"}

# What each demo form has, as standard items (a form without a date of birth of the
# applicant has no 生年月日: the dog's is not the owner's).
EXPECTED = {
    "HJC": {"氏名", "氏名カナ", "生年月日", "郵便番号", "住所", "電話番号", "メールアドレス"},
    "HKC": {"氏名", "氏名カナ", "郵便番号", "住所", "電話番号", "メールアドレス"},
    "INU": {"氏名", "氏名カナ", "郵便番号", "住所", "電話番号", "メールアドレス"},
    "KBK": {"氏名", "氏名カナ", "郵便番号", "住所", "電話番号", "メールアドレス", "法人名"},
    "SDG": {"氏名", "氏名カナ", "郵便番号", "住所", "電話番号", "メールアドレス"},
}


def answers_for(schema) -> dict:
    """An answer for every top-level field that can fill an item."""
    values = {"name": NAME, "address": ADDRESS, "phone": "0249241111", "email": "hanako@example.jp",
              "date": "1990-04-01", "text": "株式会社サンプル総研"}
    return {f.key: values[f.type] for f in schema.all_fields() if f.type in values}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_every_demo_form_yields_the_items_it_has(code):
    schema = parse(json.loads((DEMO / f"{code}.json").read_text(encoding="utf-8")))
    assert set(item_sources(schema)) == EXPECTED[code]
    items = standard_items(schema, answers_for(schema))
    assert list(items) == ITEM_NAMES  # every item present, in one order, None when absent
    assert {name for name, value in items.items() if value is not None} == EXPECTED[code]
    assert items["氏名"] == "山田\u3000花子" and items["氏名カナ"] == "ヤマダ\u3000ハナコ"
    assert items["郵便番号"] == "963-8601" and items["住所"] == "福島県郡山市朝日1-23-7\u3000305"


def test_the_first_answered_field_fills_an_item():
    schema = parse(json.loads((DEMO / "KBK.json").read_text(encoding="utf-8")))
    # An organisation's request: the representative's name, not the (unasked) person's.
    items = standard_items(schema, {"representative": {"family": "代表", "given": "太郎"}, "organisation": "株式会社サンプル"})
    assert items["氏名"] == "代表\u3000太郎" and items["法人名"] == "株式会社サンプル"
    items = standard_items(schema, {"requester_name": {"family": "個人", "given": "花子"}})
    assert items["氏名"] == "個人\u3000花子" and items["法人名"] is None


def test_the_card_filled_gender_and_an_explicit_standard_option():
    schema = parse({"title": "t", "steps": [{"key": "a", "title": "a", "fields": [
        {"key": "sex", "type": "choice", "label": "性別", "prefill": "gender",
         "choices": [{"value": "female", "label": "女"}, {"value": "male", "label": "男"}]},
        {"key": "contact", "type": "text", "label": "連絡先", "standard": "電話番号"},
        {"key": "phone", "type": "phone", "label": "電話"},
    ]}]})
    items = standard_items(schema, {"sex": "female", "contact": "090-0000-0000", "phone": "0300000000"})
    assert items["性別"] == "女" and items["電話番号"] == "090-0000-0000"


def test_the_standard_option_is_checked():
    def form(field):
        return {"title": "t", "steps": [{"key": "a", "title": "a", "fields": [field]}]}

    with pytest.raises(SchemaError) as unknown:
        parse(form({"key": "x", "type": "text", "label": "x", "standard": "本籍"}))
    assert "standard「本籍」は使えません" in str(unknown.value)
    with pytest.raises(SchemaError) as wrong_type:
        parse(form({"key": "x", "type": "number", "label": "x", "standard": "生年月日"}))
    assert "date の項目にだけ使えます" in str(wrong_type.value)
    parse(form({"key": "x", "type": "date", "label": "x", "standard": False}))


def test_characters_outside_cp932_and_jisx0213_are_reported():
    # 𠮷 (U+20BB7) is in neither; 髙 only in CP932 (an IBM extension); 㐂 (U+3402) only in
    # JIS X 0213 (plane 2); ① in both.
    report = charset_report([{"氏名": "𠮷田 髙子"}, {"note": ["㐂①", "plain"]}])
    assert report["cp932"] == ["𠮷", "㐂"]
    assert report["jisx0213"] == ["𠮷", "髙"]
