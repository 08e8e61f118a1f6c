"""Plan against actual for the goal of every procedure online (100%オンライン化).

Each catalog procedure may carry the fiscal year it is planned to go online
(`Procedure.planned_online_fiscal_year`, オンライン化予定年度). For each fiscal year and
department this compares, cumulatively:

- planned: procedures planned to be online by that year (planned year ≤ the year);
- actual: procedures that were online at some moment of that year, by the catalog's one
  definition (catalog.selectors.online_procedure_ids_during: a published form whose
  application window was open, or an external online service);
- on plan: planned and online; behind: planned and not online (a year already begun);
- the same in covered applications (the procedures' 年間申請件数), against all
  applications: what share of residents' applications the plan and the facts reach.

The facts are today's catalog: the procedures it lists (published), their departments and
applications. A year not yet begun has a plan and no actual (`null`). Rates are exact
fractions rounded half-up to 0.1 once (insights.numbers), like every DX figure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from tenohira.core.calendar import fiscal_year_label
from tenohira.insights.numbers import exact_pct, round1

# Years shown around the report's year: the work of one request stays bounded however far
# the plan reaches (earlier plans still count: the figures are cumulative).
YEARS_BEFORE = 5
YEARS_AFTER = 10
BEHIND_LISTED = 50

COLUMNS = {
    "procedures": "手続数",
    "planned": "予定（累計）",
    "actual": "実績",
    "on_plan": "予定のうち実績",
    "behind": "予定のうち未実施",
    "planned_rate": "予定のオンライン化率(%)",
    "actual_rate": "実績のオンライン化率(%)",
    "achievement_rate": "予定の達成率(%)",
    "annual_applications": "年間申請件数",
    "planned_applications": "予定のカバー件数",
    "actual_applications": "実績のカバー件数",
    "planned_coverage_rate": "予定のカバー率(%)",
    "actual_coverage_rate": "実績のカバー率(%)",
}


def _number(value) -> float | None:
    return None if value is None else float(value)


@dataclass
class _Tally:
    procedures: int = 0
    annual: int = 0
    planned: int = 0
    planned_applications: int = 0
    actual: int = 0
    actual_applications: int = 0
    on_plan: int = 0

    def as_dict(self, actual_known: bool) -> dict:
        known = actual_known or None  # None where the year has not begun: no actual yet
        return {
            "procedures": self.procedures,
            "planned": self.planned,
            "actual": self.actual if known else None,
            "on_plan": self.on_plan if known else None,
            "behind": self.planned - self.on_plan if known else None,
            "planned_rate": _number(round1(exact_pct(self.planned, self.procedures))),
            "actual_rate": _number(round1(exact_pct(self.actual, self.procedures))) if known else None,
            "achievement_rate": _number(round1(exact_pct(self.on_plan, self.planned))) if known else None,
            "annual_applications": self.annual,
            "planned_applications": self.planned_applications,
            "actual_applications": self.actual_applications if known else None,
            "planned_coverage_rate": _number(round1(exact_pct(self.planned_applications, self.annual))),
            "actual_coverage_rate": _number(round1(exact_pct(self.actual_applications, self.annual)))
            if known else None,
        }


@dataclass
class _Procedure:
    pk: int
    name: str
    section: str
    department: str
    planned: int | None
    annual: int


@dataclass
class _Catalog:
    procedures: list[_Procedure] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)


def _catalog() -> _Catalog:
    from tenohira.catalog.models import Procedure

    catalog = _Catalog()
    rows = (
        Procedure.objects.filter(is_published=True)
        .order_by("section__department__order", "section__department_id", "section__order", "section_id", "name", "pk")
        .values_list("pk", "name", "section__name", "section__department__name", "planned_online_fiscal_year",
                     "annual_applications")
    )
    seen: set[str] = set()
    for row in rows:
        procedure = _Procedure(*row)
        catalog.procedures.append(procedure)
        if procedure.department not in seen:
            seen.add(procedure.department)
            catalog.departments.append(procedure.department)
    return catalog


def _years(fiscal_year: int, planned: set[int]) -> list[int]:
    low = max(min(planned | {fiscal_year}), fiscal_year - YEARS_BEFORE)
    high = min(max(planned | {fiscal_year}), fiscal_year + YEARS_AFTER)
    return list(range(low, high + 1))


def _online_during(year: int, today: dt.date) -> set[int] | None:
    """Procedures online at some moment of the fiscal year (up to today); None for a year
    that has not begun."""
    from tenohira.catalog.selectors import online_procedure_ids_during

    start, end = dt.date(year, 4, 1), dt.date(year + 1, 3, 31)
    if start > today:
        return None
    return online_procedure_ids_during(start, min(end, today))


def section(fiscal_year: int, *, today: dt.date | None = None) -> dict:
    """The `plan` section of the report (docs/insights-report.md)."""
    today = today or timezone.localdate()
    catalog = _catalog()
    planned_years = {p.planned for p in catalog.procedures if p.planned is not None}
    years = []
    online_in_report_year: set[int] | None = None
    for year in _years(fiscal_year, planned_years):
        online = _online_during(year, today)
        if year == fiscal_year:
            online_in_report_year = online
        by_department = {name: _Tally() for name in catalog.departments}
        total = _Tally()
        for procedure in catalog.procedures:
            is_planned = procedure.planned is not None and procedure.planned <= year
            is_online = online is not None and procedure.pk in online
            for tally in (by_department[procedure.department], total):
                tally.procedures += 1
                tally.annual += procedure.annual
                if is_planned:
                    tally.planned += 1
                    tally.planned_applications += procedure.annual
                if is_online:
                    tally.actual += 1
                    tally.actual_applications += procedure.annual
                if is_planned and is_online:
                    tally.on_plan += 1
        known = online is not None
        years.append({
            "fiscal_year": year,
            "label": fiscal_year_label(year),
            "actual_known": known,
            "departments": [{"department": name, **tally.as_dict(known)} for name, tally in by_department.items()],
            "total": total.as_dict(known),
        })

    behind = []
    if online_in_report_year is not None:
        late = [p for p in catalog.procedures
                if p.planned is not None and p.planned <= fiscal_year and p.pk not in online_in_report_year]
        late.sort(key=lambda p: (p.planned, -p.annual, p.department, p.name))
        behind = [
            {"department": p.department, "section": p.section, "procedure": p.name, "id": p.pk,
             "planned_fiscal_year": p.planned, "planned_label": fiscal_year_label(p.planned),
             "annual_applications": p.annual}
            for p in late[:BEHIND_LISTED]
        ]
        behind_count = len(late)
    else:
        behind_count = 0
    unplanned = [p for p in catalog.procedures if p.planned is None
                 and (online_in_report_year is None or p.pk not in online_in_report_year)]
    return {
        "fiscal_year": fiscal_year,
        "label": fiscal_year_label(fiscal_year),
        "as_of": today.isoformat(),
        "columns": dict(COLUMNS),
        "years": years,
        "behind": behind,
        "behind_count": behind_count,
        "unplanned": {"procedures": len(unplanned), "annual_applications": sum(p.annual for p in unplanned)},
    }
