"""What a step page shows: each field bound to what was typed and to its error.

Conditions on earlier pages are decided here (a field that does not apply is not shown).
A condition on an answer of the same page cannot be decided before the page is sent, so
such a field is always rendered, marked with its condition: a small script hides it
while the condition is false, and without JavaScript the resident sees it with a hint
saying when it applies. The server ignores it when the condition is false.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tenohira.forms.conditions import Scope, holds
from tenohira.forms.engine import FormRun, StepOutcome, anchor_for
from tenohira.forms.fields import FIELD_TYPES, Raw, first
from tenohira.forms.schema import Field, Step, condition_fields


@dataclass
class BoundField:
    field: Field
    prefix: str
    raw: Raw
    error: str = ""
    live_condition: dict | None = None
    condition_hint: str = ""
    rows: list[list[BoundField]] = field(default_factory=list)
    computed: str = ""
    compute_data: dict | None = None  # what forms.js needs to recompute it as one types
    attachments: list = field(default_factory=list)
    # Inputs filled from the resident's identity that they cannot change (prefill_locked),
    # and the sentence that says where the value came from.
    locked: frozenset[str] = frozenset()
    locked_note: str = ""
    # A reservation_slot's free slots now (forms.extensions), listed like choices.
    slot_options: list = field(default_factory=list)

    @property
    def is_locked(self) -> bool:
        return bool(self.locked)

    @property
    def value_locked(self) -> bool:
        return self.prefix in self.locked

    @property
    def id(self) -> str:
        return f"f-{self.prefix}"

    @property
    def anchor(self) -> str:
        return anchor_for(self.field, self.prefix)

    @property
    def template(self) -> str:
        return FIELD_TYPES[self.field.type].template

    @property
    def value(self) -> str:
        return first(self.raw, self.prefix)

    @property
    def max_length(self) -> int:
        """The browser's maxlength: the same limit the server checks."""
        return FIELD_TYPES[self.field.type].input_limit(self.field)

    @property
    def values(self) -> list[str]:
        return self.raw.get(self.prefix, [])

    def part(self, name: str) -> str:
        return first(self.raw, f"{self.prefix}__{name}")

    @property
    def parts(self) -> list[dict[str, str]]:
        return [
            {"name": f"{self.prefix}__{key}", "id": f"f-{self.prefix}__{key}", "label": label, "value": self.part(key),
             "locked": f"{self.prefix}__{key}" in self.locked}
            for key, label in FIELD_TYPES[self.field.type].parts.items()
        ]

    @property
    def choices(self) -> list[dict[str, Any]]:
        if self.field.type == "yesno":
            options = [{"value": "yes", "label": "はい"}, {"value": "no", "label": "いいえ"}]
        elif self.field.type == "reservation_slot":
            options = [{"value": o.value, "label": o.label} for o in self.slot_options]
        else:
            options = self.field.option("choices", [])
        chosen = set(self.values)
        return [
            {"value": str(o["value"]), "label": o["label"], "id": f"f-{self.prefix}-{i}",
             "checked": str(o["value"]) in chosen, "hint": o.get("hint", "")}
            for i, o in enumerate(options)
        ]

    @property
    def describedby(self) -> str:
        ids = []
        if self.field.hint or self.condition_hint:
            ids.append(f"{self.id}-hint")
        if self.locked:
            ids.append(f"{self.id}-locked")
        if self.error:
            ids.append(f"{self.id}-error")
        return " ".join(ids)

    @property
    def condition_json(self) -> str:
        return json.dumps(self.live_condition, ensure_ascii=False) if self.live_condition else ""

    @property
    def compute_json(self) -> str:
        return json.dumps(self.compute_data, ensure_ascii=False) if self.compute_data else ""

    @property
    def row_label(self) -> str:
        return self.field.option("row_label") or self.field.label

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def can_add(self) -> bool:
        return len(self.rows) < self.field.option("max", 10)

    @property
    def can_remove(self) -> bool:
        return len(self.rows) > self.field.option("min", 1)


def _describe(condition: dict, fields: dict[str, Field]) -> str:
    """「保護者は就労していますか」で「はい」を選んだ場合 — for residents without JavaScript."""
    if "field" in condition and "equals" in condition:
        source = fields.get(condition["field"])
        if source is not None:
            value = condition["equals"]
            if source.type == "yesno":
                label = "はい" if value in (True, "yes") else "いいえ"
            else:
                label = next((c["label"] for c in source.option("choices", []) if str(c["value"]) == str(value)), str(value))
            return f"「{source.label}」で「{label}」を選んだ場合に入力してください。"
    return "前の質問の答えによっては入力が必要です。"


def bind_step(
    run: FormRun, step: Step, raw: Raw, outcome: StepOutcome | None, attachments: dict, *,
    locked: set[str] = frozenset(), locked_note: str = "",
) -> list[BoundField]:
    """`locked`: input names filled from the resident's identity that render read-only."""
    problems = outcome.problems if outcome else {}
    earlier = Scope({k: v for k, v in run.answers.items() if k not in {f.key for f in step.fields}})
    same_page = {f.key for f in step.fields}
    top_fields = {f.key: f for f in step.fields}

    def bind(fld: Field, prefix: str, scope: Scope, siblings: set[str], lookup: dict[str, Field]) -> BoundField | None:
        refs = set(condition_fields(fld.show_if))
        live = bool(refs & siblings)
        if not live and not holds(fld.show_if, scope):
            return None
        bound = BoundField(fld, prefix, raw, error=problems.get(prefix).message if prefix in problems else "")
        if live:
            bound.live_condition = fld.show_if
            bound.condition_hint = _describe(fld.show_if, lookup)
        if fld.type == "group":
            kind = FIELD_TYPES["group"]
            child_lookup = {**lookup, **{c.key: c for c in fld.children}}
            for index in range(kind.row_count(fld, raw, prefix)):
                row = []
                for child in fld.children:
                    bound_child = bind(child, f"{prefix}-{index}-{child.key}", scope, {c.key for c in fld.children} | siblings, child_lookup)
                    if bound_child is not None:
                        row.append(bound_child)
                bound.rows.append(row)
        if fld.type == "computed":
            value = run.answers.get(fld.key)
            bound.computed = FIELD_TYPES["computed"].display(fld, value if value is not None else 0)
            bound.compute_data = _compute_data(fld, run, same_page)
        if fld.type == "reservation_slot":
            from tenohira.forms.extensions import slot_options

            bound.slot_options = slot_options(fld, run.answers)
        if fld.type == "file":
            bound.attachments = [attachments[t] for t in raw.get(prefix, []) if t in attachments]
        mine = {name for name in locked if name == prefix or name.startswith(f"{prefix}__")}
        if mine:
            bound.locked, bound.locked_note = frozenset(mine), locked_note
        return bound

    bound_fields = []
    for fld in step.fields:
        bound = bind(fld, fld.key, earlier, same_page, top_fields)
        if bound is not None:
            bound_fields.append(bound)
    return bound_fields


def _compute_data(fld: Field, run: FormRun, same_page: set[str]) -> dict:
    """The expression of a computed field with what the page cannot read from its own
    inputs: the numbers behind each chosen option (a 粗大ごみ item's fee) and the answers
    given on earlier pages. forms.js evaluates it the way forms.expressions does, so the
    fee changes while the resident types; the server still computes the stored value."""
    expression = fld.option("expression")
    options: dict[str, dict[str, dict[str, Any]]] = {}
    known: dict[str, Any] = {}

    def walk(node: Any, group: str | None) -> None:
        if not isinstance(node, dict):
            return
        ((operator, argument),) = node.items()
        if operator in {"add", "mul"}:
            for part in argument:
                walk(part, group)
        elif operator == "sum_over":
            walk(argument[1], argument[0])
            if argument[0] not in same_page:
                known[argument[0]] = run.answers.get(argument[0]) or []
        elif operator == "option":
            key, attr = argument
            source = run.fields.get(f"{group}.{key}") if group else None
            source = source or run.fields.get(key)
            if source is not None:
                options.setdefault(key, {})[attr] = {
                    str(c["value"]): c.get(attr) for c in source.option("choices", [])
                }
        elif operator in {"field", "count"} and argument not in same_page and group is None:
            known[argument] = run.answers.get(argument)

    walk(expression, fld.parent.key if fld.parent else None)
    return {"expression": expression, "options": options, "known": known, "format": fld.option("format", "")}


def error_summary(bound_fields: list[BoundField], extra: list[tuple[str, str]] = ()) -> list[dict[str, str]]:
    """Errors in page order, each linking to its input."""
    items = []

    def walk(fields):
        for bound in fields:
            if bound.error:
                items.append({"anchor": bound.anchor, "message": bound.error})
            for row in bound.rows:
                walk(row)

    walk(bound_fields)
    for name, message in extra:
        items.append({"anchor": f"f-{name}", "message": message})
    return items
