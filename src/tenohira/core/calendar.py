"""The business calendar (開庁日と開庁時間): when the offices are open, in Japan time.

A day is a *business day* unless it is a Saturday or Sunday, a national holiday
(国民の祝日, including 振替休日 and 国民の休日, from `jpholiday`), in the year-end closure
12/29–1/3 (年末年始), or a closure day the DX division entered (ClosureDay, in the admin).
A moment is *outside office hours* when, read in JST, it falls on a day that is not a
business day, or before OFFICE_OPENS (08:30:00), or at or after OFFICE_CLOSES (17:15:00):
08:29:59 is outside, 08:30:00 inside, 17:14:59 inside, 17:15:00 outside.

Periods are pairs of dates with both ends included (4/1..3/31 is a fiscal year).
Rules and examples: docs/insights-calendar.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import jpholiday
from django.conf import settings
from django.db.models import Count, Max

from tenohira.core.fiscal import JST
from tenohira.core.wareki import era_of

WEEKDAY_NAMES = "月火水木金土日"


def _clock(value: str | dt.time, setting: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        parts = [int(part) for part in str(value).strip().split(":")]
        return dt.time(*parts)
    except (TypeError, ValueError):
        raise ValueError(f"{setting}「{value}」は時刻（例: 08:30）ではありません。") from None


def office_hours() -> tuple[dt.time, dt.time]:
    """(opens, closes) from the settings OFFICE_OPENS / OFFICE_CLOSES (default 08:30, 17:15)."""
    opens = _clock(getattr(settings, "OFFICE_OPENS", "08:30"), "OFFICE_OPENS")
    closes = _clock(getattr(settings, "OFFICE_CLOSES", "17:15"), "OFFICE_CLOSES")
    if not opens < closes:
        raise ValueError(f"開庁時刻 {opens} が閉庁時刻 {closes} より前ではありません。")
    return opens, closes


def is_year_end_closure(day: dt.date) -> bool:
    """年末年始: 12/29 through 1/3, whatever weekday they fall on."""
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


@dataclass(frozen=True)
class BusinessCalendar:
    """The calendar with one set of closure days and office hours. Loops (a rebuild, an
    import of 100,000 rows) take one with `current()` and ask it, instead of checking the
    closure days' freshness once per question."""

    closures: frozenset[dt.date]
    opens: dt.time
    closes: dt.time

    def is_business_day(self, day: dt.date) -> bool:
        if isinstance(day, dt.datetime):
            raise TypeError("is_business_day takes a date; for a moment use is_outside_office_hours.")
        return not (
            day.weekday() >= 5
            or is_year_end_closure(day)
            or jpholiday.is_holiday(day)
            or day in self.closures
        )

    def is_outside_office_hours(self, moment: dt.datetime) -> bool:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("時刻帯のない日時は判定できません（JST か UTC の aware datetime を渡してください）。")
        local = moment.astimezone(JST)
        clock = local.time()
        return clock < self.opens or clock >= self.closes or not self.is_business_day(local.date())

    def non_business_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        return [day for day in _days(start, end) if not self.is_business_day(day)]


def _days(start: dt.date, end: dt.date):
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


# Closure days cached per process: (stamp, days). The stamp is one aggregate over a table
# of a few dozen rows; it changes with any insert, edit or delete (see ClosureDay.updated_at).
_closure_cache: tuple[tuple, frozenset[dt.date]] | None = None


def _closure_stamp() -> tuple:
    from tenohira.core.models import ClosureDay

    found = ClosureDay.objects.aggregate(count=Count("pk"), last=Max("pk"), changed=Max("updated_at"))
    return found["count"], found["last"], found["changed"]


def closure_days() -> frozenset[dt.date]:
    global _closure_cache
    from tenohira.core.models import ClosureDay

    stamp = _closure_stamp()
    cached = _closure_cache
    if cached is None or cached[0] != stamp:
        cached = (stamp, frozenset(ClosureDay.objects.values_list("date", flat=True)))
        _closure_cache = cached
    return cached[1]


def forget_closure_days() -> None:
    """Drop this process's cache (called when a ClosureDay is saved or deleted here)."""
    global _closure_cache
    _closure_cache = None


def current() -> BusinessCalendar:
    """The calendar as it stands now (closure days checked for freshness: one small query)."""
    opens, closes = office_hours()
    return BusinessCalendar(closure_days(), opens, closes)


def is_business_day(day: dt.date) -> bool:
    """開庁日: not Saturday/Sunday, not a national holiday (incl. 振替休日), not 12/29–1/3,
    not a ClosureDay. The database is asked only when the rest say it is a business day."""
    if isinstance(day, dt.datetime):
        raise TypeError("is_business_day takes a date; for a moment use is_outside_office_hours.")
    if day.weekday() >= 5 or is_year_end_closure(day) or jpholiday.is_holiday(day):
        return False
    return day not in closure_days()


def is_outside_office_hours(moment: dt.datetime) -> bool:
    """True if `moment` (an aware datetime) is, in JST, on a non-business day, before
    OFFICE_OPENS or at/after OFFICE_CLOSES."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("時刻帯のない日時は判定できません（JST か UTC の aware datetime を渡してください）。")
    opens, closes = office_hours()
    local = moment.astimezone(JST)
    if local.time() < opens or local.time() >= closes:
        return True
    return not is_business_day(local.date())


def closed_reason(day: dt.date) -> str | None:
    """Why the offices are closed on `day` (土曜日, 祝日の名前, 年末年始, 閉庁日の理由), or None."""
    from tenohira.core.models import ClosureDay

    if day.weekday() >= 5:
        return f"{WEEKDAY_NAMES[day.weekday()]}曜日"
    name = jpholiday.is_holiday_name(day)
    if name:
        return name
    if is_year_end_closure(day):
        return "年末年始"
    if day in closure_days():
        reason = ClosureDay.objects.filter(date=day).values_list("reason", flat=True).first()
        return reason or "閉庁日"
    return None


def business_days_between(start: dt.date, end: dt.date) -> int:
    """Business days d with start <= d <= end (both included; 0 when end < start).
    2023-11-06..2023-11-30 has 18 (25 days, 6 weekend days, 勤労感謝の日)."""
    if end < start:
        return 0
    calendar = current()
    return sum(1 for day in _days(start, end) if calendar.is_business_day(day))


def add_business_days(day: dt.date, n: int) -> dt.date:
    """The n-th business day after `day` (before it when n < 0), `day` itself not counted:
    Friday + 1 is the next Monday (or later, around holidays). n == 0 gives `day` when it is a
    business day, otherwise the next business day."""
    calendar = current()
    step = dt.timedelta(days=1 if n >= 0 else -1)
    if n == 0:
        while not calendar.is_business_day(day):
            day += step
        return day
    remaining = abs(n)
    while remaining:
        day += step
        if calendar.is_business_day(day):
            remaining -= 1
    return day


def fiscal_year_bounds(fiscal_year: int) -> tuple[dt.date, dt.date]:
    """(April 1, March 31 of the next year): both days belong to the fiscal year."""
    return dt.date(fiscal_year, 4, 1), dt.date(fiscal_year + 1, 3, 31)


def _era_year(name: str, year: int) -> str:
    return f"{name}{'元' if year == 1 else year}年"


def fiscal_year_label(fiscal_year: int) -> str:
    """令和5年度 for 2023. A fiscal year is named in the era in force on December 31 of its
    first calendar year: 2019 is 令和元年度 (the government renamed 平成31年度 when the era
    changed on 2019-05-01), 2018 is 平成30年度, 1988 is 昭和63年度 (平成 began 1989-01-08)."""
    name, year = era_of(dt.date(fiscal_year, 12, 31))
    return f"{_era_year(name, year)}度"


def date_label(day: dt.date) -> str:
    """令和5年11月6日 (元年 for an era's first year)."""
    name, year = era_of(day)
    return f"{_era_year(name, year)}{day.month}月{day.day}日"


def period_label(start: dt.date, end: dt.date) -> str:
    """A heading for the period start..end (both included):
    a fiscal year → 令和5年度; a calendar year → 2023年（令和5年）; a month → 令和5年11月;
    any other range → 令和5年11月6日～11月30日 (the era and year repeated only when they change)."""
    if end < start:
        raise ValueError(f"期間の始まり {start} が終わり {end} より後です。")
    if start.month == 4 and start.day == 1 and (end.year, end.month, end.day) == (start.year + 1, 3, 31):
        return fiscal_year_label(start.year)
    if (start.month, start.day) == (1, 1) and (end.month, end.day) == (12, 31) and start.year == end.year:
        first, last = era_of(start), era_of(end)
        if first[0] != last[0]:
            return f"{start.year}年"  # 2019: 平成31年 and 令和元年
        return f"{start.year}年（{_era_year(*first)}）"
    next_day = end + dt.timedelta(days=1)
    if start.day == 1 and next_day.day == 1 and (start.year, start.month) == (end.year, end.month):
        name, year = era_of(start)
        return f"{_era_year(name, year)}{start.month}月"
    first, last = era_of(start), era_of(end)
    if first != last:
        return f"{date_label(start)}～{date_label(end)}"
    return f"{date_label(start)}～{end.month}月{end.day}日"
