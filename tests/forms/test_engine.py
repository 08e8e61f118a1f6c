"""Conditions decided on the server from earlier answers: show_if / required_if on fields
and whole steps, kept-but-ignored typing of hidden fields, and re-deciding later steps when
an earlier answer changes."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from tenohira.applications import services
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.forms.conditions import Scope, holds
from tenohira.forms.engine import FormRun, raw_from_post
from tenohira.forms.rendering import bind_step, error_summary
from tenohira.forms.schema import parse
from tenohira.forms.services import publish

SCHEMA = {
    "title": "放課後児童クラブ（簡易版）",
    "steps": [
        {"key": "family", "title": "家庭の状況", "fields": [
            {"key": "working", "type": "yesno", "label": "保護者は就労していますか", "required": True},
            {"key": "contact_by", "type": "choice", "label": "連絡方法", "required": True,
             "choices": [{"value": "mail", "label": "メール"}, {"value": "phone", "label": "電話"}]},
            {"key": "phone", "type": "phone", "label": "電話番号",
             "required_if": {"field": "contact_by", "equals": "phone"}},
            {"key": "employer_now", "type": "text", "label": "今の勤務先", "required": True,
             "show_if": {"field": "working", "equals": True}},
        ]},
        {"key": "work", "title": "就労の状況", "show_if": {"field": "working", "equals": True}, "fields": [
            {"key": "employer", "type": "text", "label": "勤務先", "required": True},
            {"key": "days", "type": "number", "label": "勤務日数", "min": 1, "max": 7, "required": True},
        ]},
        {"key": "reason", "title": "就労していない理由", "show_if": {"field": "working", "equals": False}, "fields": [
            {"key": "why", "type": "choice", "label": "理由", "required": True,
             "choices": [{"value": "study", "label": "就学"}, {"value": "care", "label": "介護"},
                         {"value": "other", "label": "その他"}]},
            {"key": "why_detail", "type": "textarea", "label": "その他の理由", "required": True,
             "show_if": {"field": "why", "equals": "other"}},
        ]},
        {"key": "extra", "title": "追加の確認", "fields": [
            {"key": "needs", "type": "multichoice", "label": "希望", "choices": [
                {"value": "snack", "label": "おやつ"}, {"value": "late", "label": "延長"}]},
            {"key": "late_until", "type": "text", "label": "延長の時間", "required": True,
             "show_if": {"field": "needs", "contains": "late"}},
            {"key": "days_note", "type": "text", "label": "勤務日数の補足", "required": True,
             "show_if": {"all": [{"field": "working", "equals": True}, {"field": "days", "in": [6, 7]}]}},
            {"key": "phone_note", "type": "text", "label": "電話の希望時間",
             "required_if": {"any": [{"field": "phone", "answered": True}, {"field": "contact_by", "equals": "phone"}]}},
            {"key": "mail_note", "type": "text", "label": "メールの補足",
             "show_if": {"not": {"field": "contact_by", "equals": "phone"}}},
        ]},
    ],
}

WORKING = {
    "family": {"working": ["yes"], "contact_by": ["mail"], "employer_now": ["サンプル商事"]},
    "work": {"employer": ["サンプル商事"], "days": ["5"]},
    "extra": {"needs": ["snack"]},
}


def run(raw) -> FormRun:
    return FormRun(parse(SCHEMA), raw)


def problems(result: FormRun, step: str) -> dict[str, str]:
    return {prefix: p.message for prefix, p in result.outcomes[step].problems.items()}


def with_step(raw, step, **inputs):
    changed = {key: dict(values) for key, values in raw.items()}
    changed.setdefault(step, {}).update({k: v if isinstance(v, list) else [v] for k, v in inputs.items()})
    return changed


# --- whole steps ----------------------------------------------------------------------------


def test_a_step_is_shown_only_when_its_condition_holds():
    working = run(WORKING)
    assert [s.key for s in working.visible] == ["family", "work", "extra"]
    assert working.complete
    not_working = run(with_step(WORKING, "family", working="no"))
    assert [s.key for s in not_working.visible] == ["family", "reason", "extra"]
    assert not_working.first_incomplete().key == "reason"


def test_an_unanswered_condition_hides_both_alternatives():
    result = run({})
    assert [s.key for s in result.visible] == ["family", "extra"]
    assert result.first_incomplete().key == "family"


def test_next_and_previous_skip_hidden_steps():
    result = run(with_step(WORKING, "family", working="no"))
    family, reason, extra = result.visible
    assert result.next_step(family) == reason and result.next_step(reason) == extra
    assert result.previous_step(extra) == reason and result.next_step(extra) is None
    assert not result.is_visible(parse(SCHEMA).step("work"))


# --- fields -------------------------------------------------------------------------------------


def test_a_hidden_field_is_neither_validated_nor_answered_but_its_typing_is_kept():
    raw = with_step(WORKING, "family", working="no", employer_now="")
    raw = with_step(raw, "reason", why="study")
    result = run(raw)
    assert "employer_now" not in result.answers and "employer" not in result.answers
    assert "employer_now" not in problems(result, "family")
    assert result.complete
    # The typing of the hidden step and field is still in the raw inputs...
    assert raw["work"] == {"employer": ["サンプル商事"], "days": ["5"]}
    # ...so changing the answer back brings it back.
    back = run(with_step(raw, "family", working="yes", employer_now="サンプル商事"))
    assert back.answers["employer"] == "サンプル商事" and back.answers["days"] == 5


def test_required_if_makes_a_field_required_only_under_its_condition():
    by_mail = run(WORKING)
    assert "phone" not in problems(by_mail, "family") and "phone" not in by_mail.answers
    by_phone = run(with_step(WORKING, "family", contact_by="phone"))
    assert problems(by_phone, "family") == {"phone": "電話番号を入力してください。"}
    assert by_phone.first_incomplete().key == "family"
    answered = run(with_step(WORKING, "family", contact_by="phone", phone="024-924-2111"))
    assert answered.answers["phone"] == "0249242111"


def test_a_condition_on_a_field_of_the_same_step_is_decided_from_that_steps_answers():
    result = run(with_step(WORKING, "family", working="yes", employer_now=""))
    assert problems(result, "family") == {"employer_now": "今の勤務先を入力してください。"}


def test_contains_in_all_any_and_not_conditions():
    late = run(with_step(WORKING, "extra", needs=["snack", "late"]))
    assert problems(late, "extra") == {"late_until": "延長の時間を入力してください。"}

    six_days = run(with_step(with_step(WORKING, "work", days="6"), "extra", needs=["snack"]))
    assert problems(six_days, "extra") == {"days_note": "勤務日数の補足を入力してください。"}
    five_days = run(WORKING)
    assert "days_note" not in problems(five_days, "extra")

    by_phone = run(with_step(WORKING, "family", contact_by="phone", phone="090-1234-5678"))
    extra = problems(by_phone, "extra")
    assert extra == {"phone_note": "電話の希望時間を入力してください。"}
    # not: the mail note is offered only to those who chose mail.
    assert run(with_step(WORKING, "extra", mail_note="夜に")).answers["mail_note"] == "夜に"
    hidden = run(with_step(by_phone.raw_by_step, "extra", mail_note="夜に", phone_note="午前"))
    assert "mail_note" not in hidden.answers and hidden.answers["phone_note"] == "午前"


def test_conditions_inside_a_group_read_the_same_row_first():
    schema = parse({"title": "t", "steps": [{"key": "s", "title": "s", "fields": [
        {"key": "kind", "type": "choice", "label": "区分",
         "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
        {"key": "dogs", "type": "group", "label": "犬", "min": 1, "max": 3, "fields": [
            {"key": "vaccinated", "type": "yesno", "label": "注射済み", "required": True},
            {"key": "vaccine_date", "type": "date", "label": "注射日", "required": True,
             "show_if": {"field": "vaccinated", "equals": True}},
            {"key": "breed", "type": "text", "label": "犬種", "required_if": {"field": "kind", "equals": "b"}},
        ]},
    ]}]})
    raw = {"kind": ["b"], "dogs-count": ["2"], "dogs-0-vaccinated": ["yes"], "dogs-0-vaccine_date": ["R6.4.1"],
           "dogs-0-breed": ["柴"], "dogs-1-vaccinated": ["no"], "dogs-1-vaccine_date": ["typed before"]}
    result = FormRun(schema, {"s": raw})
    assert result.answers["dogs"] == [
        {"vaccinated": True, "vaccine_date": "2024-04-01", "breed": "柴"},
        {"vaccinated": False},
    ]
    # The second row's breed is required by the answer outside the group.
    assert {k: p.message for k, p in result.outcomes["s"].problems.items()} == {"dogs-1-breed": "犬2の犬種を入力してください。"}


# --- changing earlier answers ----------------------------------------------------------------------


def test_changing_an_earlier_answer_redecides_later_steps():
    complete = run(WORKING)
    assert complete.complete and complete.answers["days"] == 5
    changed = run(with_step(WORKING, "family", working="no"))
    assert not changed.complete
    assert changed.first_incomplete().key == "reason"
    assert "days" not in changed.answers
    summary_steps = [row["step"].key for row in changed.summary()]
    assert summary_steps == ["family", "reason", "extra"]
    labels = [item["label"] for row in changed.summary() for item in row["items"]]
    assert "勤務先" not in labels


def test_a_later_step_becomes_incomplete_when_an_earlier_answer_adds_a_requirement():
    result = run(with_step(WORKING, "extra", phone_note=""))
    assert result.complete
    result = run(with_step(with_step(WORKING, "extra", phone_note=""), "family", contact_by="phone",
                           phone="090-1234-5678"))
    assert result.first_incomplete().key == "extra"


def test_conditions_helper_semantics():
    scope = Scope({"a": True, "n": 3, "tags": ["x"], "empty": "", "none": None, "no": False})
    assert holds(None, scope)
    assert holds({"field": "a", "equals": True}, scope)
    assert not holds({"field": "a", "equals": "yes"}, scope)  # booleans compare as booleans
    assert holds({"field": "n", "equals": "3"}, scope)  # numbers compare as text
    assert holds({"field": "n", "in": [1, 3]}, scope)
    assert holds({"field": "tags", "contains": "x"}, scope) and not holds({"field": "n", "contains": 3}, scope)
    assert holds({"field": "n", "answered": True}, scope)
    for key in ("empty", "none", "missing", "no"):
        assert holds({"field": key, "answered": False}, scope), key
    assert holds({"all": [{"field": "a", "equals": True}, {"not": {"field": "n", "equals": 4}}]}, scope)
    assert holds({"any": [{"field": "a", "equals": False}, {"field": "n", "equals": 3}]}, scope)
    assert not holds({"any": []}, scope) and holds({"all": []}, scope)
    row = scope.child({"a": False})
    assert holds({"field": "a", "equals": False}, row) and holds({"field": "n", "equals": 3}, row)


# --- drafts keep hidden typing; rendering follows the conditions ------------------------------------


@pytest.fixture
def version(db):
    department = Department.objects.create(name="こども部")
    section = Section.objects.create(department=department, name="こども政策課")
    procedure = Procedure.objects.create(code="HKS", section=section, name="放課後児童クラブ（簡易版）")
    published, _ = publish(procedure, SCHEMA)
    return published


def test_a_drafts_raw_inputs_keep_hidden_typing_but_answers_do_not(version):
    draft, _secret = services.start_draft(version)
    schema = version.parsed()
    services.save_step(draft, schema.step("family"),
                       {"working": ["yes"], "contact_by": ["mail"], "employer_now": ["サンプル商事"]}, {}, [])
    services.save_step(draft, schema.step("work"), {"employer": ["サンプル商事"], "days": ["5"]}, {}, [])
    # The resident goes back and answers "no": the work step disappears.
    result, _problems = services.save_step(draft, schema.step("family"),
                                           {"working": ["no"], "contact_by": ["mail"], "employer_now": ["サンプル商事"]},
                                           {}, [])
    draft.refresh_from_db()
    assert draft.raw["work"] == {"employer": ["サンプル商事"], "days": ["5"]}
    assert draft.raw["family"]["employer_now"] == ["サンプル商事"]
    assert "employer" not in result.answers and "employer_now" not in result.answers
    assert result.first_incomplete().key == "reason"

    services.save_step(draft, schema.step("reason"), {"why": ["care"]}, {}, [])
    services.save_step(draft, schema.step("extra"), {}, {}, [])
    submission, _secret = services.submit(draft)
    assert submission.answers == {"working": False, "contact_by": "mail", "why": "care"}


def test_rendering_hides_fields_decided_by_earlier_steps_and_marks_same_page_conditions():
    schema = parse(SCHEMA)
    not_working = run(with_step(WORKING, "family", working="no", employer_now=""))
    reason = schema.step("reason")
    bound = bind_step(not_working, reason, {"why": ["study"]}, None, {})
    by_key = {b.field.key: b for b in bound}
    # why_detail depends on an answer of the same page: rendered, marked for the script,
    # with a hint for browsers without JavaScript.
    assert by_key["why_detail"].live_condition == {"field": "why", "equals": "other"}
    assert by_key["why_detail"].condition_hint == "「理由」で「その他」を選んだ場合に入力してください。"

    extra = schema.step("extra")
    shown = {b.field.key for b in bind_step(not_working, extra, {}, None, {})}
    # days_note depends on earlier pages (working = no): not rendered at all.
    assert "days_note" not in shown
    assert {"needs", "late_until", "phone_note", "mail_note"} <= shown


def test_error_summary_links_each_problem_to_its_input_in_page_order():
    schema = parse(SCHEMA)
    result = run(with_step({}, "family", working="", contact_by="phone"))
    family = schema.step("family")
    bound = bind_step(result, family, result.raw_by_step["family"], result.outcomes["family"], {})
    summary = error_summary(bound)
    assert summary == [
        {"anchor": "f-working-0", "message": "「保護者は就労していますか」で「はい」か「いいえ」を選んでください。"},
        {"anchor": "f-phone", "message": "電話番号を入力してください。"},
    ]


def test_raw_from_post_keeps_only_the_steps_inputs():
    schema = parse(SCHEMA)
    post = QueryDict(mutable=True)
    post.setlist("needs", ["snack", "late"])
    post["late_until"] = "19時"
    post["employer"] = "another page"
    post["csrfmiddlewaretoken"] = "x"
    post["action"] = "continue"
    post["needs-extra"] = "y" * 6000  # not an input of the field: never stored
    post["late_until"] = "z" * 20_000
    raw = raw_from_post(post, schema.step("extra"))
    assert raw == {"needs": ["snack", "late"], "late_until": ["z" * 10_000]}
