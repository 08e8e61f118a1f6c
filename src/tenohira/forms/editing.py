"""Edits to raw inputs that a resident asks for with a button (they work without
JavaScript): add or remove a row of a repeating group, fill an address from its postal
code."""

from __future__ import annotations

import re

from tenohira.core import japanese
from tenohira.forms.fields import FIELD_TYPES, Raw, first
from tenohira.forms.schema import Field


def add_row(raw: Raw, group: Field, prefix: str) -> None:
    count = FIELD_TYPES["group"].row_count(group, raw, prefix)
    raw[f"{prefix}-count"] = [str(min(count + 1, group.option("max", 10)))]


def remove_row(raw: Raw, group: Field, prefix: str, index: int) -> None:
    count = FIELD_TYPES["group"].row_count(group, raw, prefix)
    if count <= group.option("min", 1) or not 0 <= index < count:
        return
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)-(.+)$")
    moved: Raw = {}
    for name, values in raw.items():
        match = pattern.match(name)
        if not match:
            moved[name] = values
            continue
        row, rest = int(match.group(1)), match.group(2)
        if row < index:
            moved[name] = values
        elif row > index:
            moved[f"{prefix}-{row - 1}-{rest}"] = values
    moved[f"{prefix}-count"] = [str(count - 1)]
    raw.clear()
    raw.update(moved)


def fill_address(raw: Raw, prefix: str) -> str | None:
    """Fill prefecture/city/town from the postal code; returns an error message or None."""
    try:
        code = japanese.postal_code(first(raw, f"{prefix}__postal_code"))
    except japanese.InputError as exc:
        return str(exc)
    found = japanese.lookup_postal_code(code)
    if found is None:
        return f"郵便番号「{code}」は見つかりません。番号を確かめてください。"
    raw[f"{prefix}__postal_code"] = [code]
    for part in ("prefecture", "city", "town"):
        raw[f"{prefix}__{part}"] = [found[part]]
    if found["street"] and not first(raw, f"{prefix}__street").strip():
        raw[f"{prefix}__street"] = [found["street"]]
    return None


def apply_button(action: str, raw: Raw, fields: dict[str, Field]) -> tuple[list[str], tuple[str, str] | None]:
    """Apply the no-JavaScript button a form page was sent with to its raw inputs.

    `action` is the button's value: add:<group>, remove:<group>:<row>, lookup:<address
    input prefix>, remove_file:<token>. Buttons of fields not in `fields` (the fields the
    page may change) are ignored. Returns the attachment tokens to remove and, when the
    postal code cannot be looked up, an (input name, message) problem.
    """
    if action.startswith("remove_file:"):
        return [action.split(":", 1)[1]], None
    kind, _, rest = action.partition(":")
    prefix, _, index = rest.partition(":")
    field = fields.get(prefix)
    if kind == "add" and field is not None and field.type == "group":
        add_row(raw, field, prefix)
    elif kind == "remove" and field is not None and field.type == "group" and index.isdigit():
        remove_row(raw, field, prefix, int(index))
    elif kind == "lookup" and prefix.split("-", 1)[0] in fields:
        problem = fill_address(raw, prefix)
        if problem:
            return [], (f"{prefix}__postal_code", problem)
    return [], None
