"""The headquarters report (本部会報告) as plain JSON-serialisable data.

`build()` gathers every section; every output (JSON, XLSX, PDF, HTML, the open-data CSV,
dashboards) renders this one structure. Its shape is documented key by key in
docs/insights-report.md; change that page with any key.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from tenohira.core import calendar
from tenohira.insights import (
    kpi_afterhours,
    kpi_cashless,
    kpi_online,
    kpi_paperless,
    kpi_plan,
    kpi_savings,
)

SCHEMA_VERSION = 1

ROUNDING = {
    "rule": "half_up",
    "decimals": 1,
    "description": (
        "率（%）は件数から正確に計算し、最後に一度だけ小数第2位を四捨五入して小数第1位で表示します。"
        "増減（ポイント）は四捨五入前の率の差を一度だけ四捨五入するため、表示された率どうしの差と"
        "0.1 ポイント異なることがあります。合計は件数を合計してから率を計算します。"
    ),
}

# Sections computed over the period (`from`..`to`), each by its own module.
_PERIOD_SECTIONS = {
    "after_hours": kpi_afterhours.section,
    "cashless": kpi_cashless.section,
    "paperless": kpi_paperless.section,
}


class PeriodError(ValueError):
    """The options do not describe one period."""


def fiscal_year_of(day: dt.date) -> int:
    return day.year if day.month >= 4 else day.year - 1


def resolve_period(*, fiscal_year=None, year=None, date_from=None, date_to=None) -> dict:
    """The `period` object: a fiscal year (the current one when nothing is given), a
    calendar year, or a range of dates (both included)."""
    given = [fiscal_year is not None, year is not None, date_from is not None or date_to is not None]
    if sum(given) > 1:
        raise PeriodError("年度（--fy）、暦年（--year）、期間（--from/--to）のどれか一つを指定してください。")
    if date_from is not None or date_to is not None:
        if date_from is None or date_to is None:
            raise PeriodError("期間は --from と --to の両方を指定してください。")
        if date_from > date_to:
            raise PeriodError(f"期間の始まり {date_from} が終わり {date_to} より後です。")
        return {
            "kind": "range",
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "label": calendar.period_label(date_from, date_to),
            "fiscal_year": fiscal_year_of(date_to),
        }
    if year is not None:
        start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
        return {"kind": "calendar_year", "from": start.isoformat(), "to": end.isoformat(),
                "label": calendar.period_label(start, end), "fiscal_year": fiscal_year_of(end)}
    if fiscal_year is None:
        fiscal_year = fiscal_year_of(timezone.localdate())
    start, end = dt.date(fiscal_year, 4, 1), dt.date(fiscal_year + 1, 3, 31)
    return {"kind": "fiscal_year", "from": start.isoformat(), "to": end.isoformat(),
            "label": calendar.fiscal_year_label(fiscal_year), "fiscal_year": fiscal_year}


def jsonable(value):
    """Decimals as numbers, dates as ISO strings, tuples as lists (for sections computed
    elsewhere that may return Python values)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def build(*, fiscal_year: int | None = None, year: int | None = None,
          date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict:
    """The whole report for a fiscal year (default: the current one), a calendar year
    (`year`) or a range (`date_from`..`date_to`)."""
    with kpi_online.states_cached():
        return _build(fiscal_year=fiscal_year, year=year, date_from=date_from, date_to=date_to)


def _build(*, fiscal_year, year, date_from, date_to) -> dict:
    period = resolve_period(fiscal_year=fiscal_year, year=year, date_from=date_from, date_to=date_to)
    inventory_year = period["fiscal_year"]
    start = dt.date.fromisoformat(period["from"])
    end = dt.date.fromisoformat(period["to"])
    notes: list[str] = []
    if period["kind"] != "fiscal_year":
        notes.append(
            f"オンライン化・次の候補・計画と実績・業務削減時間は年度単位の集計のため、"
            f"{calendar.fiscal_year_label(inventory_year)}の値です。"
        )
    report = {
        "schema_version": SCHEMA_VERSION,
        "municipality": {"name": settings.MUNICIPALITY_NAME},
        "period": period,
        "generated_at": timezone.localtime(timezone.now()).replace(microsecond=0).isoformat(),
        "rounding": ROUNDING,
        "notes": notes,
        "online": kpi_online.section(inventory_year),
        "next": kpi_online.next_section(inventory_year),
        "plan": kpi_plan.section(inventory_year),
        "after_hours": None,
        "savings": kpi_savings.section(inventory_year),
        "cashless": None,
        "paperless": None,
    }
    for key, section in _PERIOD_SECTIONS.items():
        report[key] = jsonable(section(start, end))
    if report["online"]["source"] is None:
        notes.append(f"{calendar.fiscal_year_label(inventory_year)}の手続棚卸が取り込まれていません。")
    return report
