"""Places on the resident's pages where higher apps add what they know.

applications sits below payments (and reservations), so it cannot ask them about an
application; they register a function here in their AppConfig.ready() instead, and the
pages show what those functions return:

* `check_notices(draft, run)` → sentences for the check-your-answers page (e.g. 「手数料
  600円は、送信の後にお支払いいただきます。」);
* `submission_panels(submission, *, audience)` → panels for the done page, the status page
  and マイページ (`audience` is "done", "status" or "mypage"): a title, sentences, and at
  most one action (a link with its label), e.g. 「お支払いへ進む」.

A function that fails is logged and left out: an extra panel must never cost a resident
the page itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tenohira.catalog import extensions as catalog_extensions

logger = logging.getLogger(__name__)


# The same panel the catalog's procedure page shows (a title, sentences, one action).
Panel = catalog_extensions.Panel


_check_notices: list[Callable] = []
_submission_panels: list[Callable] = []


def add_check_notice(function: Callable) -> Callable:
    if function not in _check_notices:
        _check_notices.append(function)
    return function


def add_submission_panel(function: Callable) -> Callable:
    if function not in _submission_panels:
        _submission_panels.append(function)
    return function


def check_notices(draft, run) -> list[str]:
    found: list[str] = []
    for function in _check_notices:
        try:
            found += list(function(draft, run) or [])
        except Exception:  # noqa: BLE001 - see the module docstring
            logger.exception("check notice %s failed", getattr(function, "__name__", function))
    return found


def submission_panels(submission, *, audience: str) -> list[Panel]:
    found: list[Panel] = []
    for function in _submission_panels:
        try:
            found += list(function(submission, audience=audience) or [])
        except Exception:  # noqa: BLE001
            logger.exception("submission panel %s failed", getattr(function, "__name__", function))
    return found
