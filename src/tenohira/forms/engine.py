"""Running a form: which steps and fields apply, and what the answers are.

The only thing kept while a resident fills a form is what they typed (raw inputs, per
step). Answers are always recomputed from it in step order, so a change on an earlier page
re-decides every later condition, and a hidden field's typing is kept (if the resident
changes their mind it comes back) but never validated or submitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from tenohira.forms.conditions import Scope, holds
from tenohira.forms.expressions import evaluate
from tenohira.forms.fields import (
    FIELD_TYPES,
    MAX_INPUT_LENGTH,
    FieldError,
    Raw,
    first,
    is_question,
    name_of,
    yesno_message,
)
from tenohira.forms.schema import Field, FormSchema, Step


@dataclass
class FieldProblem:
    anchor: str  # id of the input the error summary links to
    message: str


@dataclass
class StepOutcome:
    answers: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, FieldProblem] = field(default_factory=dict)  # by input prefix

    @property
    def ok(self) -> bool:
        return not self.problems


def anchor_for(fld: Field, prefix: str) -> str:
    kind = FIELD_TYPES[fld.type]
    if fld.type == "group":
        return f"f-{prefix}"
    if kind.parts:
        return f"f-{prefix}__{next(iter(kind.parts))}"
    if fld.type in {"choice", "multichoice", "yesno"}:
        return f"f-{prefix}-0"
    return f"f-{prefix}"


def _is_required(fld: Field, scope: Scope) -> bool:
    if fld.required_if is not None:
        return fld.required or holds(fld.required_if, scope)
    return fld.required


def _clean_field(fld: Field, raw: Raw, prefix: str, scope: Scope, fields, outcome: StepOutcome, target: dict):
    kind = FIELD_TYPES[fld.type]
    if not kind.has_value or not holds(fld.show_if, scope):
        return
    if fld.type == "computed":
        value = evaluate(fld.option("expression"), scope, fields, fld.parent.key if fld.parent else None)
        target[fld.key] = int(value) if value == value.to_integral_value() else str(value)
        return
    if fld.type == "group":
        rows = []
        row_label = fld.option("row_label") or fld.label
        posted = kind.posted_count(fld, raw, prefix)
        if posted is not None and posted > fld.option("max", 10):
            # Only a made-up POST gets here (追加 stops at the maximum); the rows past it
            # were never stored.
            label = fld.option("row_label") or fld.label
            outcome.problems[prefix] = FieldProblem(
                anchor_for(fld, prefix), f"{label}は{fld.option('max', 10)}件まで入力できます。"
            )
        for index in range(kind.row_count(fld, raw, prefix)):
            row: dict[str, Any] = {}
            row_scope = scope.child(row)
            for child in fld.children:
                # A message inside a row says which row (「お子さん2の学年を選んでください」),
                # in the error summary and by the field alike.
                named = replace(child, options={**child.options, "_row": f"{row_label}{index + 1}"})
                _clean_field(named, raw, f"{prefix}-{index}-{child.key}", row_scope, fields, outcome, row)
            rows.append(row)
        target[fld.key] = rows
        return
    if kind.is_empty(fld, raw, prefix):
        if _is_required(fld, scope):
            message = fld.option("required_message") or _required_message(fld)
            outcome.problems[prefix] = FieldProblem(anchor_for(fld, prefix), message)
        elif fld.type == "consent":
            target[fld.key] = False
        return
    try:
        value = kind.clean_in(fld, raw, prefix, scope)
    except FieldError as exc:
        outcome.problems[prefix] = FieldProblem(anchor_for(fld, prefix), str(exc))
        return
    if fld.type == "consent" and _is_required(fld, scope) and not value:
        outcome.problems[prefix] = FieldProblem(anchor_for(fld, prefix), _required_message(fld))
        return
    target[fld.key] = value


def _required_message(fld: Field) -> str:
    """「〜を入力してください」「〜を選んでください」; a label that is a question is quoted
    and answered (「「犬を飼っていますか」で「はい」か「いいえ」を選んでください」)."""
    name = name_of(fld)
    if fld.type == "yesno":
        return yesno_message(fld)
    if fld.type in {"choice", "multichoice", "reservation_slot"}:
        return f"{name}の答えを選んでください。" if is_question(fld.label) else f"{name}を選んでください。"
    if fld.type == "consent":
        # A consent label is a sentence (「…に同意します」): it cannot take に同意してください.
        row = fld.option("_row")
        return f"{row + 'の' if row else ''}「{fld.label.rstrip('。')}」にチェックを入れてください。"
    if fld.type == "file":
        return f"{name}を添付してください。"
    if is_question(fld.label):
        return f"{name}に答えてください。"
    return f"{name}を入力してください。"


class FormRun:
    """A form schema applied to the raw inputs of every step."""

    def __init__(self, schema: FormSchema, raw_by_step: dict[str, Raw], file_names: dict[str, str] | None = None):
        self.schema = schema
        self.file_names = file_names or {}  # attachment token → original file name
        self.raw_by_step = raw_by_step
        self.fields = schema.field_map()
        self.answers: dict[str, Any] = {}
        self.outcomes: dict[str, StepOutcome] = {}
        self.visible: list[Step] = []
        scope = Scope(self.answers)
        for step in schema.steps:
            if not holds(step.show_if, scope):
                continue
            self.visible.append(step)
            outcome = StepOutcome()
            raw = raw_by_step.get(step.key, {})
            for fld in step.fields:
                _clean_field(fld, raw, fld.key, scope, self.fields, outcome, self.answers)
            outcome.answers = {f.key: self.answers[f.key] for f in step.fields if f.key in self.answers}
            self.outcomes[step.key] = outcome

    def is_visible(self, step: Step) -> bool:
        return step in self.visible

    def next_step(self, step: Step) -> Step | None:
        index = self.visible.index(step) if step in self.visible else -1
        return self.visible[index + 1] if index + 1 < len(self.visible) else None

    def previous_step(self, step: Step) -> Step | None:
        index = self.visible.index(step) if step in self.visible else 0
        return self.visible[index - 1] if index > 0 else None

    def first_incomplete(self) -> Step | None:
        """The first visible step never saved or with problems (where "continue" goes)."""
        for step in self.visible:
            if step.key not in self.raw_by_step or not self.outcomes[step.key].ok:
                return step
        return None

    @property
    def complete(self) -> bool:
        return self.first_incomplete() is None

    def summary(self) -> list[dict]:
        """Rows for the check-your-answers page, receipt PDF and e-mail."""
        rows = []
        for step in self.visible:
            items = []
            for fld in step.fields:
                if fld.key not in self.answers:
                    continue
                value = self.answers[fld.key]
                if fld.type == "group":
                    for index, row in enumerate(value, start=1):
                        for child in fld.children:
                            if child.key in row:
                                items.append({
                                    "label": f"{fld.option('row_label', fld.label)}{index} {child.label}",
                                    "value": self._display(child, row[child.key]),
                                })
                else:
                    items.append({"label": fld.label, "value": self._display(fld, value)})
            rows.append({"step": step, "items": items})
        return rows


    def _display(self, fld: Field, value: Any) -> str:
        if fld.type == "file" and value and all(token in self.file_names for token in value):
            return "、".join(self.file_names[token] for token in value)
        return display(fld, value)


def display(fld: Field, value: Any) -> str:
    if isinstance(value, Decimal):
        value = str(value)
    return FIELD_TYPES[fld.type].display(fld, value)


def raw_from_post(post, step: Step) -> Raw:
    """Keep only the inputs this step's fields post (nothing else is stored), each with
    as many values as its field takes and none longer than MAX_INPUT_LENGTH."""
    allowed: dict[str, Field] = {}
    for fld in step.fields:
        for name, owner in _input_names(fld, fld.key):
            allowed[name] = owner
    raw: Raw = {}
    for name, values in post.lists():
        owner = allowed.get(name)
        if owner is None:
            continue
        limit = 1 if name.endswith("-count") else FIELD_TYPES[owner.type].max_values(owner)
        # NUL is never typed, and PostgreSQL cannot store it in the draft's JSON.
        raw[name] = [str(v)[:MAX_INPUT_LENGTH].replace("\x00", "") for v in values[: max(limit, 1)]]
    return raw


def _input_names(fld: Field, prefix: str) -> list[tuple[str, Field]]:
    """(input name, the field it belongs to) for every input a field may post."""
    if fld.type != "group":
        return [(name, fld) for name in FIELD_TYPES[fld.type].input_names(fld, prefix)]
    names = [(f"{prefix}-count", fld)]
    for index in range(fld.option("max", 10)):
        for child in fld.children:
            names += _input_names(child, f"{prefix}-{index}-{child.key}")
    return names


__all__ = ["FormRun", "StepOutcome", "FieldProblem", "raw_from_post", "display", "first"]
