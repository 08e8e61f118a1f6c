"""Where a higher app supplies what a field type cannot know by itself.

forms sits at the bottom of the apps: a `reservation_slot` field offers the free slots
of a booking resource (粗大ごみ collection days of the resident's district), but the slots
live in reservations, which sits above forms and must not be imported from here. So
reservations registers a *slot source* at start-up (reservations.receivers_collection)
and the field type asks it:

* `options(field, answers)` → the slots the resident may choose now, as `SlotOption`
  (full days are left out);
* `validate(field, value, answers)` → the stored value (the slot id) or raises
  `forms.fields.FieldError` with what to fix;
* `label(field, value)` → the slot in words for the check page, the receipt and the
  e-mail (「令和7年12月8日（月）8:30～12:00」).

`answers` are the answers of the form so far (earlier pages), read with `.get(key)`.

Without a registered source (an installation without reservations) the field offers
nothing and refuses every value, so a form can never be sent with a day nobody booked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SlotOption:
    value: str  # the slot id, as the radio button posts it
    label: str  # 「12月8日（火）8:30～12:00 空き 12」
    free: int


@dataclass
class SlotSource:
    options: Callable[[Any, Any], list[SlotOption]]
    validate: Callable[[Any, Any, Any], Any]
    label: Callable[[Any, Any], str]


_source: SlotSource | None = None


def register_slot_source(source: SlotSource) -> None:
    """One source per installation (the reservations app); registering again replaces it."""
    global _source
    _source = source


def slot_source() -> SlotSource | None:
    return _source


def slot_options(field, answers) -> list[SlotOption]:
    return _source.options(field, answers) if _source is not None else []


def slot_label(field, value) -> str:
    if value in (None, ""):
        return ""
    if _source is None:
        return str(value)
    return _source.label(field, value)
