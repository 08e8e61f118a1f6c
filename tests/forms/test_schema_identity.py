"""Schema options for identity: `signature` (when a 電子署名 is needed) and the fields'
`prefill` / `prefill_locked`, checked like every other option before a form is saved."""

from __future__ import annotations

import copy

import pytest

from tenohira.forms.schema import SchemaError, parse

BASE = {
    "title": "テスト",
    "steps": [{"key": "one", "title": "内容", "fields": [
        {"key": "applicant_name", "type": "name", "label": "氏名", "prefill": "name", "prefill_locked": True},
        {"key": "delivery", "type": "choice", "label": "受け取り方法",
         "choices": [{"value": "mail", "label": "郵送"}, {"value": "counter", "label": "窓口"}]},
    ]}],
    "signature": {"required_if": {"field": "delivery", "equals": "mail"}, "note": "郵送で受け取る場合"},
}


def with_changes(**changes) -> dict:
    schema = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key == "field":
            schema["steps"][0]["fields"][0].update(value)
        elif value is None:
            schema.pop(key)
        else:
            schema[key] = value
    return schema


def errors_of(schema) -> str:
    with pytest.raises(SchemaError) as refused:
        parse(schema)
    return "\n".join(refused.value.errors)


def test_the_options_parse():
    schema = parse(BASE)
    assert schema.signature.required_if == {"field": "delivery", "equals": "mail"}
    assert schema.signature.note == "郵送で受け取る場合"
    assert schema.field_map()["applicant_name"].option("prefill_locked") is True
    assert parse(with_changes(signature=None)).signature is None
    assert parse(with_changes(signature={})).signature.required_if is None  # always


@pytest.mark.parametrize(("changes", "words"), [
    ({"signature": {"required_if": {"field": "nowhere", "equals": "mail"}}}, "存在しない項目「nowhere」"),
    ({"signature": {"required_if": {"field": "delivery", "like": "mail"}}}, "equals / in / contains / answered"),
    ({"signature": {"when": "mail"}}, "required_if（条件）と note（説明）だけ"),
    ({"signature": "mail"}, "required_if（条件）と note（説明）だけ"),
    ({"signature": {"note": 3}}, "note（いつ署名が必要かの説明）は文字列"),
    ({"field": {"prefill": "mynumber"}}, "prefill「mynumber」は使えません"),
    ({"field": {"prefill": "birthdate"}}, "prefill「birthdate」は date の項目にだけ"),
    ({"field": {"prefill_locked": "yes"}}, "prefill_locked は true か false"),
    ({"field": {"prefill": None, "prefill_locked": True}}, "prefill_locked には prefill"),
])
def test_problems_are_named(changes, words):
    schema = with_changes(**changes)
    if changes.get("field", {}).get("prefill", "") is None:
        schema["steps"][0]["fields"][0].pop("prefill")
    assert words in errors_of(schema)


def test_prefill_is_not_allowed_inside_a_group():
    schema = copy.deepcopy(BASE)
    schema["steps"][0]["fields"].append({"key": "children", "type": "group", "label": "子", "fields": [
        {"key": "child_name", "type": "name", "label": "氏名", "prefill": "name"},
    ]})
    assert "group）の中では使えません" in errors_of(schema)
