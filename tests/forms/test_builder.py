"""forms.builder: operations on a working copy, problems in plain Japanese, the readable
difference between versions, keys from labels, and bounded input."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenohira.forms import builder
from tenohira.forms.builder import BuilderError
from tenohira.forms.schema import KEY_PATTERN, parse


def _form() -> dict:
    """A small form built with the builder's own operations: 3 pages, a condition, a fee."""
    schema = builder.new_schema("証明書の交付請求")
    builder.edit_step(schema, "step1", {"title": "請求する方"})
    name = builder.add_field(schema, "step1", "name", "氏名")
    builder.edit_field(schema, name, {"label": "氏名", "required": "1", "kana": "1"})
    mail = builder.add_field(schema, "step1", "yesno", "郵送を希望しますか")
    step2 = builder.add_step(schema, "請求の内容")
    kind = builder.add_field(schema, step2, "choice", "証明書の種類")
    builder.edit_field(schema, kind, {"label": "証明書の種類", "required": "1",
                                      "choice_label": ["住民票の写し", "印鑑登録証明書", ""],
                                      "choice_value": ["c1", "c2", ""], "choice_fee": ["300", "350", ""]})
    copies = builder.add_field(schema, step2, "number", "通数")
    builder.edit_field(schema, copies, {"label": "通数", "required": "1", "integer": "1", "min": "1", "max": "10", "unit": "通"})
    fee = builder.add_field(schema, step2, "computed", "手数料")
    builder.edit_field(schema, fee, {"label": "手数料", "yen": "1", "term_kind": ["option"], "term_field": [kind],
                                     "term_amount": [""], "term_times": [copies]})
    step3 = builder.add_step(schema, "送付先")
    address = builder.add_field(schema, step3, "address", "送付先の住所")
    builder.edit_field(schema, address, {"label": "送付先の住所", "required": "1"})
    builder.edit_step(schema, step3, {"title": "送付先", "show_source": mail, "show_op": "is", "show_value": ["yes"]})
    return schema


def test_a_built_form_parses_and_has_no_problems():
    schema = _form()
    parse(schema)
    assert [p for p in builder.problems(schema) if p.blocking] == []
    fee = schema["steps"][1]["fields"][2]
    assert fee["expression"] == {"mul": [{"option": ["q3", "fee"]}, {"field": "q4"}]}
    assert schema["steps"][2]["show_if"] == {"field": "q2", "equals": True}
    assert builder.describe_condition(schema, schema["steps"][2]["show_if"]) == "「郵送を希望しますか」が「はい」のとき"
    assert builder.describe_expression(schema, fee["expression"]) == "「証明書の種類」で選んだものの金額 × 「通数」"


def test_every_field_type_can_be_added_and_parses():
    schema = builder.new_schema("すべての種類")
    for ftype in builder.TYPE_LABELS:
        builder.add_field(schema, "step1", ftype, f"{builder.TYPE_LABELS[ftype]}の項目")
    computed = next(p for p, f, _s, _g in builder.walk_fields(schema) if f["type"] == "computed")
    builder.edit_field(schema, computed, {"label": "金額", "term_kind": ["constant"], "term_amount": ["500"], "yen": "1"})
    parse(schema)
    assert {f["type"] for _p, f, _s, g in builder.walk_fields(schema) if g is None} == set(builder.TYPE_LABELS)


def test_options_per_type_and_validation_rules():
    schema = builder.new_schema("オプション")
    text = builder.add_field(schema, "step1", "text", "車両番号")
    builder.edit_field(schema, text, {"label": "車両番号", "max_length": "20", "code": "1"})
    date = builder.add_field(schema, "step1", "date", "希望日")
    builder.edit_field(schema, date, {"label": "希望日", "min_days_from_today": "７", "max_days_from_today": "90"})
    multi = builder.add_field(schema, "step1", "multichoice", "必要な書類")
    builder.edit_field(schema, multi, {"label": "必要な書類", "choice_label": ["A", "B", "C"], "choice_value": ["", "", ""],
                                       "min": "1", "max": "2"})
    upload = builder.add_field(schema, "step1", "file", "添付")
    builder.edit_field(schema, upload, {"label": "添付", "accept": ["pdf", "exe"], "max_size_mb": "5", "max_files": "2"})
    fields = {f["key"]: f for _p, f, _s, _g in builder.walk_fields(schema)}
    assert fields[text]["max_length"] == 20 and fields[text]["code"] is True
    assert fields[date]["min_days_from_today"] == 7 and fields[date]["max_days_from_today"] == 90
    assert [c["label"] for c in fields[multi]["choices"]] == ["A", "B", "C"] and fields[multi]["max"] == 2
    assert fields[upload]["accept"] == ["pdf"] and fields[upload]["max_files"] == 2
    parse(schema)


@pytest.mark.parametrize(("data", "message"), [
    ({"label": ""}, "項目名を入力してください。"),
    ({"label": "x" * 201}, "項目名は200文字以内で入力してください（今は201文字です）。"),
    ({"label": "通数", "min": "5", "max": "1"}, "最小値は最大値以下にしてください。"),
    ({"label": "通数", "min": "1e999999", "integer": "1"}, "最小値は整数で入力してください。"),
    ({"label": "通数", "min": "9" * 25}, "最小値は20文字以内の数字で入力してください。"),
    ({"label": "通数", "show_source": "nope", "show_op": "is"}, "条件には、この項目より前にある項目だけを選べます。"),
])
def test_bad_input_is_refused_and_nothing_changes(data, message):
    schema = builder.new_schema("題")
    key = builder.add_field(schema, "step1", "number", "通数")
    before = copy.deepcopy(schema)
    with pytest.raises(BuilderError) as caught:
        builder.edit_field(schema, key, data)
    assert str(caught.value) == message
    assert schema == before


def test_conditions_only_from_earlier_fields():
    schema = _form()
    sources = builder.condition_sources(schema, before="q4")
    assert [s["path"] for s in sources] == ["q2", "q3"]  # the name has no answers to compare
    with pytest.raises(BuilderError):
        builder.edit_field(schema, "q2", {"label": "郵送を希望しますか", "show_source": "q4", "show_op": "answered"})
    builder.edit_field(schema, "q4", {"label": "通数", "integer": "1", "show_source": "q3", "show_op": "is",
                                      "show_value": ["c1", "c2"]})
    assert schema["steps"][1]["fields"][1]["show_if"] == {"field": "q3", "in": ["c1", "c2"]}
    assert builder.condition_picker({"field": "q3", "in": ["c1", "c2"]}) == {"source": "q3", "op": "is", "values": ["c1", "c2"]}
    assert builder.condition_picker({"all": [{"field": "a", "equals": 1}]}) is None


def test_move_across_pages_and_drag_position():
    schema = _form()
    builder.move_field(schema, "q3", -1)  # first of page 2 → end of page 1
    assert [f["key"] for f in schema["steps"][0]["fields"]][-1] == "q3"
    builder.move_field_to(schema, "q3", schema["steps"][2]["key"], 0)
    assert schema["steps"][2]["fields"][0]["key"] == "q3"
    builder.move_step(schema, schema["steps"][2]["key"], -1)
    assert schema["steps"][1]["title"] == "送付先"


def test_problems_in_plain_japanese_with_places():
    schema = _form()
    builder.remove_field(schema, "q2")  # the page 送付先 depends on it
    schema["steps"][1]["fields"][0]["choices"] = []
    builder.add_step(schema, "空のページ")
    dup = builder.add_field(schema, "step1", "text", "メモ")
    schema["steps"][0]["fields"][-1]["key"] = "q1"  # the name field's key
    messages = {p.message: p.anchor for p in builder.problems(schema) if p.blocking}
    assert "ページ「送付先」の表示条件が、削除された（またはない）項目「q2」を参照しています。" in messages
    assert messages["「証明書の種類」の選択肢が1つもありません。"] == "field-q3"
    assert any(m.startswith("ページ「空のページ」に項目が1つもありません") for m in messages)
    assert any("key「q1」が「氏名」と重複しています" in m for m in messages)
    assert dup


def test_condition_on_a_later_field_is_a_problem():
    schema = _form()
    builder.move_field_to(schema, "q2", schema["steps"][2]["key"], 5)
    found = [p.message for p in builder.problems(schema) if p.blocking]
    assert any("前のページの項目でしか決められません" in m for m in found)


def test_diff_is_readable():
    old = _form()
    new = copy.deepcopy(old)
    builder.set_label(new, "q4", "部数")
    builder.add_field(new, "step1", "phone", "電話番号")
    builder.remove_field(new, "q2")
    builder.edit_field(new, "q3", {"label": "証明書の種類", "choice_label": ["住民票の写し", "印鑑登録証明書", "戸籍"],
                                   "choice_value": ["c1", "c2", ""], "choice_fee": ["300", "400", "450"]})
    lines = builder.diff(old, new)
    assert "「通数」のラベルを「通数」から「部数」に変更" in lines
    assert "ページ「請求する方」に項目「電話番号」を追加" in lines
    assert "ページ「請求する方」から項目「郵送を希望しますか」を削除" in lines
    assert "「証明書の種類」の選択肢に「戸籍」を追加" in lines
    assert "「証明書の種類」の選択肢「印鑑登録証明書」の金額を350から400に変更" in lines
    assert builder.diff(None, old) == ["新しいフォーム「証明書の交付請求」（3ページ、6項目）を初めて公開します。"]
    assert builder.diff(old, copy.deepcopy(old)) == []


def test_bounds():
    schema = builder.new_schema("上限")
    for _ in range(builder.MAX_STEPS - 1):
        builder.add_step(schema, "")
    with pytest.raises(BuilderError, match="ページは50までです"):
        builder.add_step(schema, "")
    with pytest.raises(BuilderError, match="最後の1ページは削除できません"):
        builder.remove_step(builder.new_schema("x"), "step1")
    with pytest.raises(BuilderError, match="選択肢は200までです"):
        builder.choices_from([], {"choice_label": ["a"] * 300})


@settings(max_examples=200, deadline=None)
@given(labels=st.lists(st.text(max_size=60), max_size=40))
def test_keys_are_valid_and_unique(labels):
    used: set[str] = set()
    for label in labels:
        key = builder.make_key(label, used)
        assert re.match(KEY_PATTERN, key), key
        assert key not in used
        used.add(key)


def test_keys_from_labels():
    assert builder.make_key("Email", set()) == "email"
    assert builder.make_key("ふりがな", set()) == "furigana"
    assert builder.make_key("通数", {"q1"}) == "q2"
    assert builder.make_key("Email", {"email"}) == "email_2"


@settings(max_examples=100, deadline=None)
@given(label=st.text(max_size=400), number=st.text(max_size=40))
def test_any_typed_text_is_refused_or_accepted_never_crashes(label, number):
    schema = builder.new_schema("題")
    key = builder.add_field(schema, "step1", "number", "数")
    try:
        builder.edit_field(schema, key, {"label": label, "min": number})
    except BuilderError:
        return
    fld = schema["steps"][0]["fields"][0]
    assert 0 < len(fld["label"]) <= builder.MAX_LABEL
    assert fld.get("min") is None or abs(fld["min"]) <= builder.MAX_NUMBER
