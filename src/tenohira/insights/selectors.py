"""Who may read which DX figures, and the report cut down to what they may read.

A DX管理者 reads the whole report. A 部局長 (backoffice Role.DEPARTMENT_HEAD) reads their
own department's rows only: every row of another department is removed, and so is every
city-wide figure (totals, the 本部会 simulation, cashless by facility, the monthly trend)
because a total minus one's own rows tells about the others. Anyone else reads nothing.

The report's figures are not personal data, but headquarters decides when departments see
each other's standing; the dashboards follow that.
"""

from __future__ import annotations

import copy
import datetime as dt

from django.core.exceptions import PermissionDenied
from django.db.models import Max

from tenohira.backoffice import selectors as staff_selectors
from tenohira.catalog.models import Department


def may_view(user) -> bool:
    return staff_selectors.is_dx_admin(user) or staff_selectors.is_department_head(user)


def departments_for(user):
    """The departments (catalog.Department) whose figures `user` may read."""
    return staff_selectors.departments_for(user)


def scope_for(user, department: Department | None = None) -> list[str] | None:
    """None for everything (a DX管理者 looking at the whole city), else the names of the
    departments to keep. Raises PermissionDenied for a user with no insights role."""
    if not may_view(user):
        raise PermissionDenied("DXの状況を見る権限がありません。")
    if department is not None:
        if not departments_for(user).filter(pk=department.pk).exists():
            raise PermissionDenied("この部局の数値を見る権限がありません。")
        return [department.name]
    if staff_selectors.is_dx_admin(user):
        return None
    return list(departments_for(user).values_list("name", flat=True))


def default_fiscal_year() -> int:
    """The latest fiscal year with an inventory, else the current one."""
    from tenohira.insights.models import InventoryDepartment, InventoryProcedure
    from tenohira.insights.report import fiscal_year_of

    years = [
        InventoryDepartment.objects.aggregate(m=Max("fiscal_year"))["m"],
        InventoryProcedure.objects.aggregate(m=Max("fiscal_year"))["m"],
    ]
    years = [y for y in years if y is not None]
    from django.utils import timezone

    return max(years) if years else fiscal_year_of(timezone.localdate())


def report_for(user, *, department: Department | None = None, fiscal_year: int | None = None,
               year: int | None = None, date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict:
    """The report `user` may read (for one department when `department` is given)."""
    from tenohira.insights.report import build

    names = scope_for(user, department)
    report = build(fiscal_year=fiscal_year, year=year, date_from=date_from, date_to=date_to)
    return report if names is None else restrict(report, names)


# --- cutting a report down to some departments ------------------------------------------


def _keep(rows, names: set[str]) -> list:
    return [r for r in rows or [] if isinstance(r, dict) and r.get("department") in names]


def _department_lists_only(value, names: set[str]):
    """For a section whose shape is not known here: keep only lists of department rows
    (filtered) and headings; drop every other figure, since it may be a city-wide one."""
    if isinstance(value, list):
        if value and all(isinstance(v, dict) and "department" in v for v in value):
            return _keep(value, names)
        return None
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if key in {"columns", "label", "title"}:
                kept[key] = item
                continue
            result = _department_lists_only(item, names)
            if result not in (None, {}, []):
                kept[key] = result
        return kept
    return None


def restrict(report: dict, departments) -> dict:
    """A copy of `report` holding only the rows of `departments` (names)."""
    names = set(departments)
    result = copy.deepcopy(report)
    label = "、".join(sorted(names)) if names else "（部局なし）"
    result["scope"] = {"departments": sorted(names), "label": label}
    result.setdefault("notes", [])
    result["notes"] = [n for n in result["notes"] if not any(_mentions_other(n, names, report))]
    result["notes"].append(f"{label}の数値だけを表示しています（全庁の合計と他の部局の数値は含みません）。")

    online = result.get("online")
    if isinstance(online, dict):
        online["departments"] = _keep(online.get("departments"), names)
        online["flags"] = _keep(online.get("flags"), names)
        online["total"] = None
        online["online_applications_departments"] = None  # counts the other departments
    following = result.get("next")
    if isinstance(following, dict):
        following["candidates"] = _keep(following.get("candidates"), names)
        for candidate in following["candidates"]:
            # Both are measured against the city's total applications: city-wide figures.
            candidate["coverage_gain_points"] = None
            candidate["cumulative_coverage_rate"] = None
        following["simulation"] = None
        following["base"] = None
    plan = result.get("plan")
    if isinstance(plan, dict):
        for year in plan.get("years") or []:
            year["departments"] = _keep(year.get("departments"), names)
            year["total"] = None
        plan["behind"] = _keep(plan.get("behind"), names)
        plan["behind_count"] = None
        plan["unplanned"] = None  # city-wide
    savings = result.get("savings")
    if isinstance(savings, dict):
        for key in ("departments", "measures", "flags"):
            savings[key] = _keep(savings.get(key), names)
        savings["total"] = None
    after_hours = result.get("after_hours")
    if isinstance(after_hours, dict):
        after_hours["departments"] = _keep(after_hours.get("departments"), names)
        after_hours["procedures"] = _keep(after_hours.get("procedures"), names)
        after_hours["overall"] = None
    # Cashless is reported by facility (not by department): nothing of it is a department's own.
    if result.get("cashless") is not None:
        result["cashless"] = None
    paperless = result.get("paperless")
    if isinstance(paperless, dict):
        monthly = paperless.get("monthly")
        if isinstance(monthly, dict):
            monthly["departments"] = _keep(monthly.get("departments"), names)
            monthly["total"] = None
            monthly["months"] = []
        totals = paperless.get("period_totals")
        if isinstance(totals, dict):
            totals["departments"] = _keep(totals.get("departments"), names)
            totals["total"] = None
        paperless["flags"] = _keep(paperless.get("flags"), names)
        paperless["notes"] = []
    known = {"schema_version", "municipality", "period", "generated_at", "rounding", "notes", "scope",
             "online", "next", "plan", "after_hours", "savings", "cashless", "paperless"}
    for key in list(result):
        if key not in known and isinstance(result[key], dict | list):
            result[key] = _department_lists_only(result[key], names) or None
    return result


def _mentions_other(note: str, names: set[str], report: dict):
    """Notes naming another department are dropped with that department's rows."""
    online = report.get("online") or {}
    for row in online.get("departments") or []:
        name = row.get("department")
        yield bool(name) and name not in names and name in note
