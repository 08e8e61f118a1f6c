"""時間外の申請: the report section "after_hours" — online applications received outside
office hours (on a non-business day, before 08:30 or from 17:15, JST), overall, per
department and for the 50 procedures with the most applications.

Counts come from DailyApplications (insights.aggregates); withdrawn applications are not
counted. Shares are percentages rounded half-up to 0.1 (insights.numbers.pct), None when
there is no application. Definitions: docs/insights-calendar.md.
"""

from __future__ import annotations

import datetime as dt

from tenohira.core import calendar
from tenohira.insights import aggregates

TOP_PROCEDURES = 50
UNKNOWN_DEPARTMENT_LABEL = "部局不明"  # an imported log of a procedure outside the catalog, without 部局


def _figures(entry: dict) -> dict:
    return {"applications": entry["applications"], "outside_hours": entry["outside_hours"], "share": entry["share"]}


def _department(name: str) -> str:
    return name or UNKNOWN_DEPARTMENT_LABEL


def section(period_start: dt.date, period_end: dt.date, *, department=None) -> dict:
    """{"overall": {"applications", "outside_hours", "share"},
        "departments": [{"department", "applications", "outside_hours", "share"}, ...],
        "procedures": [{"procedure", "code", "department", "applications", "outside_hours", "share"}, ...],
        "channels": ["online"], "office_hours": {"opens": "08:30", "closes": "17:15"}}
    for JST days period_start..period_end (both included). Procedures: the top 50 by
    applications (ties by name); `code` is the catalog code, None for a procedure only known
    from an imported log."""
    found = aggregates.after_hours(period_start, period_end, department=department)
    opens, closes = calendar.office_hours()
    return {
        "overall": _figures(found["overall"]),
        "departments": [
            {"department": _department(row["department"]), **_figures(row)} for row in found["departments"]
        ],
        "procedures": [
            {"procedure": row["procedure"], "code": row["code"], "department": _department(row["department"]), **_figures(row)}
            for row in found["procedures"][:TOP_PROCEDURES]
        ],
        "channels": found["channels"],
        "office_hours": {"opens": f"{opens:%H:%M}", "closes": f"{closes:%H:%M}"},
    }
