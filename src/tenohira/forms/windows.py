"""受付期間 as a resident reads it: 「令和5年11月6日（月）から受け付けます」.

A form's window (FormDefinition.opens_at / closes_at) is stored in UTC and shown in Japan
time with the era year and the weekday, the way municipal notices write dates. The end is
exclusive: a window that closes at midnight ends on the day before, so a form closing at
2023-12-01 00:00 reads 「令和5年11月30日（木）まで」.
"""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from tenohira.core.fiscal import local
from tenohira.core.wareki import format_wareki

WEEKDAYS = "月火水木金土日"


def _day(date: dt.date) -> str:
    return f"{format_wareki(date)}（{WEEKDAYS[date.weekday()]}）"


def _clock(moment: dt.datetime) -> str:
    return f"{moment.hour}時{moment.minute:02d}分" if moment.minute else f"{moment.hour}時"


def opening(opens_at: dt.datetime) -> str:
    """令和5年11月6日（月） or 令和5年11月6日（月）8時30分."""
    at = local(opens_at)
    if at.time() == dt.time(0, 0):
        return _day(at.date())
    return f"{_day(at.date())}{_clock(at)}"


def closing(closes_at: dt.datetime) -> str:
    """The last moment residents may send, from the exclusive end: 令和5年11月30日（木）
    for a window ending at midnight, else 令和5年11月30日（木）17時15分."""
    at = local(closes_at)
    if at.time() == dt.time(0, 0):
        return _day(at.date() - dt.timedelta(days=1))
    return f"{_day(at.date())}{_clock(at)}"


def notice(definition, at: dt.datetime | None = None) -> str:
    """One sentence for the start page: when the window opens, until when it is open, or
    that it has closed; "" for a form without a window."""
    state = definition.window_state(at)
    if getattr(definition, "kind", "") == "survey":
        return _survey_notice(definition, state)
    if state == "before":
        text = _("%(opens)sから受け付けます。") % {"opens": opening(definition.opens_at)}
        if definition.closes_at:
            text += _("受付は%(closes)sまでです。") % {"closes": closing(definition.closes_at)}
        return text
    if state == "closed":
        return _("受付は%(closes)sで終了しました。") % {"closes": closing(definition.closes_at)}
    if definition.closes_at:
        return _("%(closes)sまで受け付けています。") % {"closes": closing(definition.closes_at)}
    return ""


def _survey_notice(definition, state: str) -> str:
    """The same for a survey (アンケート), whose window is its 回答期間."""
    if state == "before":
        text = _("%(opens)sから回答を受け付けます。") % {"opens": opening(definition.opens_at)}
        if definition.closes_at:
            text += _("回答期間は%(closes)sまでです。") % {"closes": closing(definition.closes_at)}
        return text
    if state == "closed":
        return _("回答期間は%(closes)sで終了しました。") % {"closes": closing(definition.closes_at)}
    if definition.closes_at:
        return _("回答期間は%(closes)sまでです。") % {"closes": closing(definition.closes_at)}
    return ""
