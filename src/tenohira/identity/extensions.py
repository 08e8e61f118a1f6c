"""Places on マイページ where higher apps add what the signed-in resident has with them.

identity sits below reservations (and others), so it cannot ask them; they register a
function here when they start (`add_mypage_section(fn)`), and マイページ shows what those
functions return: `fn(account)` → sections with a title, rows and an optional link. A
function that fails is logged and left out: an extra section must never cost a resident
the page itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass
class Row:
    title: str
    url: str = ""
    lines: list[str] = field(default_factory=list)
    badge: str = ""


@dataclass
class Section:
    key: str  # an id for the section's heading (mypage-<key>)
    title: str
    rows: list[Row] = field(default_factory=list)
    empty: str = ""  # what to say when there are no rows
    link_url: str = ""
    link_label: str = ""


_sections: list[Callable] = []


def add_mypage_section(function: Callable) -> Callable:
    if function not in _sections:
        _sections.append(function)
    return function


def mypage_sections(account) -> list[Section]:
    found: list[Section] = []
    for function in _sections:
        try:
            found += list(function(account) or [])
        except Exception:  # noqa: BLE001 - see the module docstring
            logger.exception("mypage section %s failed", getattr(function, "__name__", function))
    return found
