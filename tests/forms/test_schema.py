"""Form definitions are checked before they are saved, published versions never change,
and publishing is idempotent."""

from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError

from tenohira.applications import services as applications
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.forms.models import FormDefinition, FormVersion
from tenohira.forms.schema import SchemaError, parse
from tenohira.forms.services import publish

BASE = {
    "title": "犬の登録",
    "steps": [
        {"key": "owner", "title": "飼い主", "fields": [
            {"key": "owner_name", "type": "text", "label": "飼い主の氏名", "required": True},
            {"key": "has_other", "type": "yesno", "label": "ほかにも飼っていますか"},
        ]},
        {"key": "dog", "title": "犬", "fields": [
            {"key": "dog_name", "type": "text", "label": "犬の名前", "required": True},
            {"key": "count", "type": "number", "label": "頭数", "min": 1},
            {"key": "fee", "type": "computed", "label": "手数料", "expression": {"mul": [{"field": "count"}, 3000]}},
        ]},
    ],
}


def with_changes(change) -> dict:
    schema = copy.deepcopy(BASE)
    change(schema)
    return schema


def errors_of(schema) -> list[str]:
    with pytest.raises(SchemaError) as raised:
        parse(schema)
    return raised.value.errors


def field(schema, step: int, index: int) -> dict:
    return schema["steps"][step]["fields"][index]


def test_the_base_schema_is_valid():
    parsed = parse(BASE)
    assert [s.key for s in parsed.steps] == ["owner", "dog"]
    assert list(parsed.field_map()) == ["owner_name", "has_other", "dog_name", "count", "fee"]


def test_unknown_field_type_names_the_field_and_the_known_types():
    errors = errors_of(with_changes(lambda s: field(s, 1, 0).update(type="dogtag")))
    assert len(errors) == 1
    assert "2 ページ目 の 1 番目の項目（dog_name）" in errors[0]
    assert "不明な項目の種類「dogtag」です" in errors[0]
    assert "text" in errors[0] and "yesno" in errors[0]


def test_duplicate_key_names_both_places():
    errors = errors_of(with_changes(lambda s: field(s, 1, 0).update(key="owner_name")))
    assert any("key「owner_name」が重複しています" in e and "1 ページ目 の 1 番目の項目" in e for e in errors)


def test_same_key_in_two_groups_is_allowed_but_not_twice_in_one_row():
    def two_groups(s):
        for group in ("dogs", "cats"):
            s["steps"][1]["fields"].append({"key": group, "type": "group", "label": group, "fields": [
                {"key": "name", "type": "text", "label": "名前"}]})
    parsed = parse(with_changes(two_groups))
    assert {"dogs.name", "cats.name"} <= set(parsed.field_map())

    def twice_in_a_row(s):
        s["steps"][1]["fields"].append({"key": "dogs", "type": "group", "label": "犬", "fields": [
            {"key": "name", "type": "text", "label": "名前"}, {"key": "name", "type": "text", "label": "名前"}]})
    errors = errors_of(with_changes(twice_in_a_row))
    assert any("key「name」が重複しています" in e for e in errors)


def test_condition_on_a_missing_field_names_both():
    errors = errors_of(with_changes(lambda s: field(s, 1, 0).update(show_if={"field": "breed", "equals": "shiba"})))
    assert errors == ["dog_name の表示条件が、存在しない項目「breed」を参照しています。"]


def test_required_if_and_step_conditions_on_missing_fields_are_caught_too():
    def change(s):
        field(s, 1, 1)["required_if"] = {"field": "nowhere", "answered": True}
        s["steps"][1]["show_if"] = {"field": "ghost", "equals": True}
    errors = errors_of(with_changes(change))
    assert "count の必須条件が、存在しない項目「nowhere」を参照しています。" in errors
    assert "ページ「dog」 の表示条件が、存在しない項目「ghost」を参照しています。" in errors


def test_a_cycle_of_conditions_is_refused():
    def change(s):
        field(s, 0, 0)["show_if"] = {"field": "has_other", "equals": True}
        field(s, 0, 1)["show_if"] = {"field": "owner_name", "answered": True}
    errors = errors_of(with_changes(change))
    cycles = [e for e in errors if e.startswith("条件または計算式が循環しています")]
    assert cycles, errors
    assert "has_other" in cycles[0] and "owner_name" in cycles[0] and "→" in cycles[0]


def test_a_field_shown_only_if_itself_is_a_cycle():
    errors = errors_of(with_changes(lambda s: field(s, 0, 1).update(show_if={"field": "has_other", "equals": True})))
    assert any("循環" in e and "has_other" in e for e in errors)


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "has_other", "is": True},
        {"field": "has_other", "equals": True, "in": [True]},
        {"field": "has_other"},
        {"all": {"field": "has_other", "equals": True}},
        {"whatever": 1},
        "has_other == yes",
    ],
)
def test_malformed_conditions_are_refused_naming_the_field(condition):
    errors = errors_of(with_changes(lambda s: field(s, 1, 0).update(show_if=condition)))
    assert errors and all(e.startswith("項目「dog_name」: 条件") for e in errors), errors


def test_computed_expression_naming_a_missing_field_is_refused():
    errors = errors_of(with_changes(lambda s: field(s, 1, 2).update(expression={"mul": [{"field": "copies"}, 300]})))
    assert errors == ["fee の計算式が、存在しない項目「copies」を参照しています。"]


def test_malformed_computed_expression_is_refused():
    errors = errors_of(with_changes(lambda s: field(s, 1, 2).update(expression={"pow": [2, 3]})))
    assert errors == ["2 ページ目 の 3 番目の項目（fee）: 計算式の「pow」は使えません（add, mul, sum_over, count, field, option）。"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.pop("title"), "title（フォームの題名）がありません。"),
        (lambda s: field(s, 0, 0).update(key="Owner Name"), "key「Owner Name」は英小文字で始まる"),
        (lambda s: field(s, 0, 0).update(label=""), "label（項目名）がありません。"),
        (lambda s: field(s, 0, 0).update(required="yes"), "required は true か false です。"),
        (lambda s: field(s, 1, 1).update(min="1"), "min は数値です。"),
        (lambda s: s["steps"][1].update(key="owner"), "ページの key「owner」が重複しています。"),
        (lambda s: s["steps"][1].update(fields=[]), "fields（項目）が1つもありません。"),
        (lambda s: s["steps"][0]["fields"].append({"key": "kind", "type": "choice", "label": "種類"}),
         "choices（選択肢）が必要です。"),
        (lambda s: s["steps"][0]["fields"].append({"key": "info", "type": "guidance"}), "text（説明文）が必要です。"),
        (lambda s: s["steps"][0]["fields"].append({"key": "photo", "type": "file", "label": "写真", "accept": ["exe"]}),
         "accept に使えない種類があります: exe"),
        (lambda s: s["steps"][0]["fields"].append({"key": "kids", "type": "group", "label": "子", "min": 3, "max": 1,
                                                   "fields": [{"key": "n", "type": "text", "label": "名"}]}),
         "min と max は 0 ≤ min ≤ max の整数です。"),
        (lambda s: s["steps"][0]["fields"].append({"key": "kids", "type": "group", "label": "子", "max": 51,
                                                   "fields": [{"key": "n", "type": "text", "label": "名"}]}),
         "max は 50 以下です（1つの項目で繰り返せる行数の上限）。"),
        (lambda s: s["steps"][0]["fields"].append({"key": "story", "type": "textarea", "label": "経緯",
                                                   "max_length": 20_000}),
         "max_length は 10000 以下の正の整数です。"),
        (lambda s: s["steps"][0]["fields"].append({"key": "amount", "type": "number", "label": "金額",
                                                   "max_digits": 400}),
         "max_digits は 1 から 30 の整数です。"),
    ],
)
def test_other_mistakes_are_explained_in_japanese(change, expected):
    errors = errors_of(with_changes(change))
    assert any(expected in e for e in errors), errors


def test_every_problem_is_reported_at_once():
    def change(s):
        field(s, 0, 0)["type"] = "nope"
        field(s, 1, 0)["label"] = ""
        s["steps"][1]["title"] = ""
    errors = errors_of(with_changes(change))
    assert len(errors) == 3


def test_steps_are_required():
    assert errors_of({"title": "空", "steps": []}) == ["steps（ページ）が1つもありません。"]
    assert errors_of(["not", "an", "object"]) == ["定義は JSON のオブジェクトでなければなりません。"]


# --- versions in the database -------------------------------------------------------------------


@pytest.fixture
def dog_procedure(db):
    department = Department.objects.create(name="環境部")
    section = Section.objects.create(department=department, name="環境衛生課")
    return Procedure.objects.create(code="INU", section=section, name="犬の登録（畜犬登録）")


def test_a_version_with_a_broken_schema_cannot_be_saved(dog_procedure):
    definition = FormDefinition.objects.create(procedure=dog_procedure)
    broken = with_changes(lambda s: field(s, 0, 0).update(type="dogtag"))
    with pytest.raises(SchemaError):
        FormVersion.objects.create(definition=definition, number=1, schema=broken)
    assert not FormVersion.objects.exists()
    version = FormVersion(definition=definition, number=1, schema=broken)
    with pytest.raises(ValidationError) as raised:
        version.clean()
    assert "不明な項目の種類「dogtag」です" in str(raised.value.message_dict["schema"])


def test_a_published_version_refuses_changes(dog_procedure):
    version, created = publish(dog_procedure, BASE)
    assert created and version.status == FormVersion.Status.PUBLISHED and version.published_at
    version.schema = with_changes(lambda s: field(s, 0, 0).update(label="氏名"))
    with pytest.raises(ValidationError, match="公開済みの版は変更できません"):
        version.save()
    version.refresh_from_db()
    assert version.schema == BASE
    version.status = FormVersion.Status.DRAFT
    with pytest.raises(ValidationError, match="公開済みの版は変更できません"):
        version.save()


def test_a_draft_version_may_change_until_published(dog_procedure):
    definition = FormDefinition.objects.create(procedure=dog_procedure)
    version = FormVersion.objects.create(definition=definition, number=1, schema=BASE)
    version.schema = with_changes(lambda s: field(s, 0, 0).update(label="氏名"))
    version.save()
    version.status = FormVersion.Status.PUBLISHED
    version.save()
    version.refresh_from_db()
    assert version.parsed().field_map()["owner_name"].label == "氏名"
    assert version.published_at is not None


def test_publish_is_idempotent_and_a_change_makes_a_new_version(dog_procedure):
    first, created = publish(dog_procedure, BASE)
    assert created and first.number == 1
    again, created_again = publish(dog_procedure, copy.deepcopy(BASE))
    assert again.pk == first.pk and not created_again
    assert FormVersion.objects.count() == 1

    changed = with_changes(lambda s: field(s, 1, 0).update(label="犬の呼び名"))
    second, created = publish(dog_procedure, changed)
    assert created and second.number == 2 and second.pk != first.pk
    first.refresh_from_db()
    assert first.schema == BASE and first.status == FormVersion.Status.PUBLISHED
    assert dog_procedure.form.published_version() == second
    assert publish(dog_procedure, changed) == (second, False)


def test_publish_refuses_a_broken_schema_and_keeps_the_current_version(dog_procedure):
    current, _ = publish(dog_procedure, BASE)
    with pytest.raises(SchemaError):
        publish(dog_procedure, with_changes(lambda s: field(s, 0, 0).update(type="dogtag")))
    assert dog_procedure.form.published_version() == current
    assert FormVersion.objects.count() == 1


def test_submissions_keep_the_version_they_were_filled_with(dog_procedure):
    first, _ = publish(dog_procedure, BASE)
    draft, _secret = applications.start_draft(first)
    schema = first.parsed()
    applications.save_step(draft, schema.step("owner"), {"owner_name": ["山田 太郎"], "has_other": ["no"]}, {}, [])
    applications.save_step(draft, schema.step("dog"), {"dog_name": ["ポチ"], "count": ["1"]}, {}, [])

    changed = with_changes(lambda s: field(s, 1, 0).update(label="犬の呼び名"))
    second, created = publish(dog_procedure, changed)
    assert created

    submission, _secret = applications.submit(draft)
    assert submission.form_version == first
    assert submission.answers["dog_name"] == "ポチ" and submission.answers["fee"] == 3000
    assert [item["label"] for item in submission.summary[1]["items"]][0] == "犬の名前"
    # New drafts start on the new version.
    new_draft, _secret = applications.start_draft(dog_procedure.form.published_version())
    assert new_draft.form_version == second
