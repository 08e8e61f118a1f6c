"""Places on a procedure's page where higher apps add what they know about it.

catalog sits below reservations (and others), so it cannot ask them; they register a
function here in their AppConfig.ready(), and the procedure page shows what those
functions return: `procedure_panels(procedure)` → panels with a title, sentences and at
most one action (e.g. 「来庁日時を予約する」, 「窓口の混雑状況」). A function that fails is logged
and left out: an extra panel must never cost a resident the page itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass
class Panel:
    title: str
    lines: list[str] = field(default_factory=list)
    action_url: str = ""
    action_label: str = ""
    tone: str = "info"  # info | warning | success


_procedure_panels: list[Callable] = []


def add_procedure_panel(function: Callable) -> Callable:
    if function not in _procedure_panels:
        _procedure_panels.append(function)
    return function


def procedure_panels(procedure) -> list[Panel]:
    found: list[Panel] = []
    for function in _procedure_panels:
        try:
            found += list(function(procedure) or [])
        except Exception:  # noqa: BLE001 - see the module docstring
            logger.exception("procedure panel %s failed", getattr(function, "__name__", function))
    return found
