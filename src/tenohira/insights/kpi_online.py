"""カウンターレス: online-ization by department, "what next", and the coverage simulator.

Definitions (docs/insights-report.md):

- online rate (オンライン化率) = online procedures ÷ procedures
- covered applications (オンライン化手続の申請件数) = annual applications of the procedures
  that are online; coverage rate (カバー率) = covered ÷ annual applications
- online applications (オンライン申請件数) = applications actually received online, where a
  figure exists; online use rate (オンライン利用率) = online applications ÷ covered
  applications, over the departments (or procedures) that have a figure only
- differences: counts, and rates in points (current − previous)

Rates are exact fractions until they are shown, then rounded half-up to 0.1 once
(`tenohira.insights.numbers`); a difference in points is the difference of the exact rates,
rounded once. Totals are summed from counts. Published rates are never used as results:
they are compared with the rates computed from the same row's counts, and a department
whose published rate is off by more than 0.05 points is flagged.

Where a year's inventory is per procedure, its department rows are derived from the
procedure rows. A procedure matched to a catalog procedure counts as online when the catalog
says it was online at some moment of the fiscal year (catalog.selectors.
online_procedure_ids_during: a published form whose application window was open then, or an
external online service) — never because the catalog merely says "online here" while no
form is published. Online here, its online applications are those Tenohira received that
year (DailyApplications, channel "online").
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from django.db.models import Sum

from tenohira.core.calendar import fiscal_year_label
from tenohira.core.text import normalize
from tenohira.insights.models import DailyApplications, InventoryDepartment, InventoryProcedure
from tenohira.insights.numbers import exact_pct, points, rate_disagrees, round1

DEFAULT_SIMULATION_SIZE = 43

COLUMNS = {
    "procedures": "手続数",
    "online_procedures": "オンライン化手続数",
    "online_rate": "オンライン化率(%)",
    "annual_applications": "年間申請件数",
    "covered_applications": "オンライン化手続の申請件数",
    "coverage_rate": "カバー率(%)",
    "online_applications": "オンライン申請件数",
    "online_use_rate": "オンライン利用率(%)",
}
MEASURE_LABELS = {"online_rate": "オンライン化率", "coverage_rate": "カバー率", "online_use_rate": "オンライン利用率"}


def number(value: Decimal | None) -> float | None:
    """A rounded Decimal as a JSON number (22.8, not "22.8")."""
    return None if value is None else float(value)


@dataclass
class Figures:
    procedures: int = 0
    online_procedures: int = 0
    annual_applications: int = 0
    covered_applications: int = 0
    online_applications: int | None = None
    # The covered applications of the parts that have an online-applications figure: the
    # use rate's denominator, so a department without a figure neither counts as 0% nor
    # dilutes the total.
    covered_with_online_figure: int = 0

    @classmethod
    def of(cls, procedures: int, online_procedures: int, annual_applications: int, covered_applications: int,
           online_applications: int | None = None) -> Figures:
        return cls(procedures, online_procedures, annual_applications, covered_applications, online_applications,
                   covered_applications if online_applications is not None else 0)

    @property
    def online_rate(self) -> Fraction | None:
        return exact_pct(self.online_procedures, self.procedures)

    @property
    def coverage_rate(self) -> Fraction | None:
        return exact_pct(self.covered_applications, self.annual_applications)

    @property
    def online_use_rate(self) -> Fraction | None:
        if self.online_applications is None:
            return None
        return exact_pct(self.online_applications, self.covered_with_online_figure)

    def add(self, other: Figures) -> None:
        self.procedures += other.procedures
        self.online_procedures += other.online_procedures
        self.annual_applications += other.annual_applications
        self.covered_applications += other.covered_applications
        if other.online_applications is not None:
            self.online_applications = (self.online_applications or 0) + other.online_applications
            self.covered_with_online_figure += other.covered_with_online_figure

    def as_dict(self) -> dict:
        return {
            "procedures": self.procedures,
            "online_procedures": self.online_procedures,
            "online_rate": number(round1(self.online_rate)),
            "annual_applications": self.annual_applications,
            "covered_applications": self.covered_applications,
            "coverage_rate": number(round1(self.coverage_rate)),
            "online_applications": self.online_applications,
            "online_use_rate": number(round1(self.online_use_rate)),
        }


def difference(current: Figures | None, previous: Figures | None) -> dict | None:
    if current is None or previous is None:
        return None
    both_online = current.online_applications is not None and previous.online_applications is not None
    return {
        "procedures": current.procedures - previous.procedures,
        "online_procedures": current.online_procedures - previous.online_procedures,
        "online_rate_points": number(points(current.online_rate, previous.online_rate)),
        "annual_applications": current.annual_applications - previous.annual_applications,
        "covered_applications": current.covered_applications - previous.covered_applications,
        "coverage_rate_points": number(points(current.coverage_rate, previous.coverage_rate)),
        "online_applications": current.online_applications - previous.online_applications if both_online else None,
        "online_use_rate_points": number(points(current.online_use_rate, previous.online_use_rate)),
    }


@dataclass
class DepartmentYear:
    department: str
    figures: Figures
    published_online_rate: Decimal | None = None
    published_coverage_rate: Decimal | None = None
    published_online_use_rate: Decimal | None = None


# ---------------------------------------------------------------- per-procedure inventory


def _fiscal_year_end(fiscal_year: int) -> dt.date:
    return dt.date(fiscal_year + 1, 3, 31)


def _platform_online_counts(fiscal_year: int, procedure_ids: list[int]) -> dict[int, int]:
    if not procedure_ids:
        return {}
    rows = (
        DailyApplications.objects.filter(fiscal_year=fiscal_year, procedure_id__in=procedure_ids, channel="online")
        .values("procedure_id").annotate(total=Sum("count"))
    )
    return {row["procedure_id"]: row["total"] or 0 for row in rows}


@dataclass
class ProcedureState:
    row: InventoryProcedure
    online: bool
    on_platform: bool
    online_applications: int | None


_states_cache: ContextVar[dict | None] = ContextVar("procedure_states_cache", default=None)


@contextmanager
def states_cached():
    """Within this block procedure_states is read once per fiscal year: one report asks
    for the same years several times (KPIs, what-next, simulation), each a full read."""
    token = _states_cache.set({})
    try:
        yield
    finally:
        _states_cache.reset(token)


def procedure_states(fiscal_year: int) -> list[ProcedureState]:
    """Every inventory procedure of the year (in file order) with whether it is online,
    taking the catalog into account, and its online applications."""
    cache = _states_cache.get()
    if cache is not None:
        if fiscal_year not in cache:
            cache[fiscal_year] = _procedure_states(fiscal_year)
        return cache[fiscal_year]
    return _procedure_states(fiscal_year)


def _catalog_online(fiscal_year: int, procedure_ids: set[int]) -> tuple[set[int], set[int]]:
    """(online, online here) among these catalog procedures during the fiscal year.
    "Here" leaves out those with an external online service: their applications are made
    there, so the inventory's own figure is theirs, not Tenohira's count."""
    if not procedure_ids:
        return set(), set()
    from tenohira.catalog.models import Channel, ProcedureChannel
    from tenohira.catalog.selectors import online_procedure_ids_during

    online = online_procedure_ids_during(dt.date(fiscal_year, 4, 1), _fiscal_year_end(fiscal_year)) & procedure_ids
    external = set(ProcedureChannel.objects.filter(kind=Channel.EXTERNAL, procedure_id__in=online)
                   .values_list("procedure_id", flat=True))
    return online, online - external


def _procedure_states(fiscal_year: int) -> list[ProcedureState]:
    rows = list(InventoryProcedure.objects.filter(fiscal_year=fiscal_year).order_by("id"))
    online, here = _catalog_online(fiscal_year, {row.procedure_id for row in rows if row.procedure_id})
    received = _platform_online_counts(fiscal_year, sorted(here))
    states = []
    for row in rows:
        on_platform = row.procedure_id in here
        states.append(ProcedureState(
            row=row,
            online=row.online or row.procedure_id in online,
            on_platform=on_platform,
            online_applications=received.get(row.procedure_id, 0) if on_platform else row.online_applications,
        ))
    return states


def _derived_departments(fiscal_year: int) -> list[DepartmentYear]:
    by_department: dict[str, DepartmentYear] = {}
    for state in procedure_states(fiscal_year):
        row = state.row
        entry = by_department.setdefault(row.department, DepartmentYear(row.department, Figures()))
        entry.figures.add(Figures.of(
            procedures=1,
            online_procedures=int(state.online),
            annual_applications=row.annual_applications,
            covered_applications=row.annual_applications if state.online else 0,
            online_applications=state.online_applications,
        ))
    return list(by_department.values())


# ---------------------------------------------------------------- a year, by department


def departments_of_year(fiscal_year: int) -> tuple[str | None, list[DepartmentYear]]:
    """(source, rows) of one fiscal year: the imported department totals when there are
    any, else rows derived from the per-procedure inventory, else (None, [])."""
    stored = list(InventoryDepartment.objects.filter(fiscal_year=fiscal_year).order_by("order", "id"))
    if stored:
        return "departments", [
            DepartmentYear(
                d.department,
                Figures.of(d.procedures, d.online_procedures, d.annual_applications, d.covered_applications,
                           d.online_applications),
                d.published_online_rate, d.published_coverage_rate, d.published_online_use_rate,
            )
            for d in stored
        ]
    derived = _derived_departments(fiscal_year)
    return ("procedures" if derived else None), derived


def total_of(rows: list[DepartmentYear]) -> Figures | None:
    if not rows:
        return None
    total = Figures()
    for row in rows:
        total.add(row.figures)
    return total


def _check(entry: DepartmentYear, fiscal_year: int) -> list[dict]:
    flags = []
    figures = entry.figures
    for measure, published, numerator, denominator in (
        ("online_rate", entry.published_online_rate, figures.online_procedures, figures.procedures),
        ("coverage_rate", entry.published_coverage_rate, figures.covered_applications, figures.annual_applications),
        ("online_use_rate", entry.published_online_use_rate, figures.online_applications,
         figures.covered_with_online_figure),
    ):
        if published is None or numerator is None:
            continue
        computed = round1(exact_pct(numerator, denominator))
        if not rate_disagrees(published, computed):
            continue
        label = MEASURE_LABELS[measure]
        shown = "計算できません" if computed is None else f"{computed}%"
        flags.append({
            "department": entry.department,
            "fiscal_year": fiscal_year,
            "measure": measure,
            "label": label,
            "published": number(published),
            "computed": number(computed),
            "numerator": numerator,
            "denominator": denominator,
            "message": (
                f"{entry.department}の{label}は公表値 {published}% ですが、"
                f"件数から計算すると {shown}（{numerator}/{denominator}）です。"
            ),
        })
    return flags


def section(fiscal_year: int) -> dict:
    """The `online` section of the report (docs/insights-report.md)."""
    previous_year = fiscal_year - 1
    source, current_rows = departments_of_year(fiscal_year)
    previous_source, previous_rows = departments_of_year(previous_year)
    previous_by_name = {row.department: row for row in previous_rows}
    current_names = {row.department for row in current_rows}

    departments = []
    flags = []
    for row in current_rows:
        previous = previous_by_name.get(row.department)
        row_flags = _check(row, fiscal_year)
        flags.extend(row_flags)
        published = None
        printed = (row.published_online_rate, row.published_coverage_rate, row.published_online_use_rate)
        if any(rate is not None for rate in printed):
            published = {
                "online_rate": number(row.published_online_rate),
                "coverage_rate": number(row.published_coverage_rate),
                "online_use_rate": number(row.published_online_use_rate),
            }
        departments.append({
            "department": row.department,
            "current": row.figures.as_dict(),
            "previous": previous.figures.as_dict() if previous else None,
            "difference": difference(row.figures, previous.figures if previous else None),
            "published": published,
            "flags": [flag["measure"] for flag in row_flags],
        })
    for row in previous_rows:
        flags.extend(_check(row, previous_year))
        if row.department not in current_names:
            departments.append({
                "department": row.department, "current": None, "previous": row.figures.as_dict(),
                "difference": None, "published": None, "flags": [],
            })

    current_total = total_of(current_rows)
    previous_total = total_of(previous_rows)
    return {
        "fiscal_year": fiscal_year,
        "previous_fiscal_year": previous_year,
        "label": fiscal_year_label(fiscal_year),
        "previous_label": fiscal_year_label(previous_year),
        "source": source,
        "previous_source": previous_source,
        "columns": dict(COLUMNS),
        "departments": departments,
        # How many departments gave an online-applications figure: when not all, the
        # total's online applications and use rate are theirs only.
        "online_applications_departments": {
            "current": sum(1 for row in current_rows if row.figures.online_applications is not None),
            "previous": sum(1 for row in previous_rows if row.figures.online_applications is not None),
        },
        "total": {
            "current": current_total.as_dict() if current_total else None,
            "previous": previous_total.as_dict() if previous_total else None,
            "difference": difference(current_total, previous_total),
        },
        "flags": flags,
    }


# ---------------------------------------------------------------- what next, simulator


def base_of(fiscal_year: int) -> Figures:
    """The totals that coverage gains are measured against (the year's KPIs)."""
    _source, rows = departments_of_year(fiscal_year)
    return total_of(rows) or Figures()


def candidates(fiscal_year: int) -> list[ProcedureState]:
    """Per-procedure inventory rows not yet online, most applications first (ties in
    file order)."""
    waiting = [state for state in procedure_states(fiscal_year) if not state.online]
    return sorted(waiting, key=lambda state: -state.row.annual_applications)


def what_next(fiscal_year: int) -> list[dict]:
    base = base_of(fiscal_year)
    ranked = []
    added = 0
    for rank, state in enumerate(candidates(fiscal_year), start=1):
        row = state.row
        added += row.annual_applications
        ranked.append({
            "rank": rank,
            "id": row.pk,
            "department": row.department,
            "section": row.section,
            "procedure": row.name,
            "annual_applications": row.annual_applications,
            "coverage_gain_points": number(round1(exact_pct(row.annual_applications, base.annual_applications))),
            "cumulative_coverage_rate": number(
                round1(exact_pct(base.covered_applications + added, base.annual_applications))
            ),
        })
    return ranked


class UnknownProcedure(LookupError):
    """A name or id given to the simulator that is not (or not uniquely) in the inventory."""


def _select(fiscal_year: int, procedures) -> list[ProcedureState]:
    states = procedure_states(fiscal_year)
    by_id = {state.row.pk: state for state in states}
    by_name: dict[str, list[ProcedureState]] = {}
    for state in states:
        by_name.setdefault(normalize(state.row.name), []).append(state)
    chosen: dict[int, ProcedureState] = {}
    problems = []
    for item in procedures:
        if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
            state = by_id.get(int(item))
            if state is None:
                problems.append(f"id {item} は{fiscal_year}年度の手続棚卸にありません")
                continue
        else:
            found = by_name.get(normalize(str(item)), [])
            if len(found) != 1:
                problems.append(
                    f"「{item}」は{fiscal_year}年度の手続棚卸に" + ("ありません" if not found else f"{len(found)}件あります（id で指定してください）")
                )
                continue
            state = found[0]
        chosen[state.row.pk] = state
    if problems:
        raise UnknownProcedure("、".join(problems) + "。")
    return list(chosen.values())


def simulation(fiscal_year: int, procedures=None, *, size: int = DEFAULT_SIMULATION_SIZE) -> dict | None:
    """What coverage becomes if these procedures (ids or names; by default the first `size`
    candidates) go online. Procedures already online add nothing."""
    if procedures is None:
        chosen = candidates(fiscal_year)[:size]
    else:
        chosen = [state for state in _select(fiscal_year, procedures) if not state.online]
        size = len(list(procedures))
    base = base_of(fiscal_year)
    if not base.annual_applications:
        return None
    added = sum(state.row.annual_applications for state in chosen)
    covered = base.covered_applications + added
    return {
        "size": size,
        "procedures": len(chosen),
        "added_applications": added,
        "covered_applications": covered,
        "coverage_rate": number(round1(exact_pct(covered, base.annual_applications))),
        "gain_points": number(round1(exact_pct(added, base.annual_applications))),
    }


def simulate(fiscal_year: int, procedures) -> Decimal | None:
    """The coverage rate (%, half-up to 0.1) if these procedures (inventory ids or names)
    go online; None when the year has no applications to measure against."""
    chosen = [state for state in _select(fiscal_year, procedures) if not state.online]
    base = base_of(fiscal_year)
    added = sum(state.row.annual_applications for state in chosen)
    return round1(exact_pct(base.covered_applications + added, base.annual_applications))


def next_section(fiscal_year: int, *, size: int = DEFAULT_SIMULATION_SIZE) -> dict:
    """The `next` section of the report."""
    base = base_of(fiscal_year)
    return {
        "fiscal_year": fiscal_year,
        "base": {
            "annual_applications": base.annual_applications,
            "covered_applications": base.covered_applications,
            "coverage_rate": number(round1(base.coverage_rate)),
        },
        "candidates": what_next(fiscal_year),
        "simulation": simulation(fiscal_year, size=size),
    }
