"""The DX dashboards: the headquarters report on screen, cut to what the user may read.

/staff/insights/                     a DX管理者: the whole city; a 部局長: their department(s)
/staff/insights/departments/<id>/    one department (a DX管理者: any; a 部局長: their own)
/staff/insights/download/<fmt>/      the same report as PDF, XLSX or open-data CSV

Every view is wrapped in backoffice.auth.staff_required(check=insights.selectors.may_view)
and reads the report only through insights.selectors.report_for(user, ...): staff without
a DX role get 403, and a department head never receives another department's rows.
The period is chosen with ?fy=2023 (fiscal year) or ?year=2023 (calendar year, how cashless
is reported); the default is the latest fiscal year with an inventory.

A DX管理者 also sees the procedures the catalog says are applied for online here while no
form is published (catalog.selectors.online_without_form): the division's to-do list, so
the gap is closed by work rather than shown to residents as online.
"""

from __future__ import annotations

import os
import tempfile
from urllib.parse import urlencode

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tenohira.backoffice.auth import staff_required
from tenohira.backoffice.selectors import is_dx_admin
from tenohira.catalog.models import Department
from tenohira.insights import selectors
from tenohira.insights.render import html as html_render

FORMATS = {
    "pdf": ("to_pdf", "application/pdf", "pdf"),
    "xlsx": ("to_xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "csv": ("to_open_data_csv", "text/csv; charset=utf-8", "csv"),
}
YEARS_BACK = 6
TODO_LISTED = 30  # a page lists this many of the to-do procedures and counts the rest


def _year(value) -> int | None:
    try:
        year = int(value)
    except (TypeError, ValueError):
        return None
    return year if 2000 <= year <= 2100 else None


def _period(request) -> dict:
    """{"fiscal_year": …} or {"year": …} from the query string."""
    year = _year(request.GET.get("year"))
    if year is not None:
        return {"year": year}
    return {"fiscal_year": _year(request.GET.get("fy")) or selectors.default_fiscal_year()}


def _period_choices(period: dict) -> dict:
    from tenohira.core.calendar import fiscal_year_label

    latest = max(selectors.default_fiscal_year(), period.get("fiscal_year") or 0, period.get("year") or 0)
    years = list(range(latest, latest - YEARS_BACK, -1))
    return {
        "fiscal_years": [{"value": y, "label": f"{fiscal_year_label(y)}（{y}年度）"} for y in years],
        "calendar_years": [{"value": y, "label": f"{y}年"} for y in years],
    }


def _online_without_form(department: Department | None) -> dict:
    """The to-do list of the DX division (the largest first), cut to a page's worth."""
    from tenohira.catalog.selectors import online_without_form

    procedures = online_without_form()
    if department is not None:
        procedures = procedures.filter(section__department=department)
    from tenohira.core.calendar import fiscal_year_label

    listed = list(procedures[:TODO_LISTED])
    count = len(listed) if len(listed) < TODO_LISTED else procedures.count()
    rows = [{
        "pk": p.pk, "name": p.name, "department": p.section.department.name, "section": p.section.name,
        "annual_applications": f"{p.annual_applications:,}",
        "planned": fiscal_year_label(p.planned_online_fiscal_year) if p.planned_online_fiscal_year else "－",
    } for p in listed]
    return {"procedures": rows, "count": count, "more": count - len(listed)}


def _page(request, *, department: Department | None):
    period = _period(request)
    report = selectors.report_for(request.user, department=department, **period)
    query = urlencode(period_query(period))
    dx_admin = is_dx_admin(request.user)
    context = {
        **html_render.context(report),
        "period": period,
        "choices": _period_choices(period),
        "department": department,
        "departments": selectors.departments_for(request.user),
        "is_dx_admin": dx_admin,
        "without_form": _online_without_form(department) if dx_admin else None,
        "query": query,
        "downloads": [
            {"label": label, "fmt": fmt}
            for fmt, label in (("pdf", "PDF（本部会資料）"), ("xlsx", "Excel（表ごとのシート）"),
                               ("csv", "オープンデータ CSV"))
        ],
        "department_query": f"department={department.pk}&" if department else "",
    }
    return render(request, "insights/dashboard.html", context)


def period_query(period: dict) -> dict:
    return {"year": period["year"]} if "year" in period else {"fy": period["fiscal_year"]}


@require_GET
@staff_required(check=selectors.may_view)
def dashboard(request):
    return _page(request, department=None)


def _department_or_404(user, department_id: int) -> Department:
    """The department, if the user may read it; 404 otherwise (a department head cannot
    even learn which department ids exist)."""
    department = selectors.departments_for(user).filter(pk=department_id).first()
    if department is None:
        raise Http404("department not found")
    return department


@require_GET
@staff_required(check=selectors.may_view)
def department(request, department_id: int):
    chosen = _department_or_404(request.user, department_id)
    return _page(request, department=chosen)


@require_GET
@staff_required(check=selectors.may_view)
def download(request, fmt: str):
    if fmt not in FORMATS:
        raise Http404("unknown format")
    chosen = None
    if request.GET.get("department"):
        try:
            chosen = _department_or_404(request.user, int(request.GET["department"]))
        except ValueError as exc:
            raise Http404("department not found") from exc
    period = _period(request)
    report = selectors.report_for(request.user, department=chosen, **period)
    function, content_type, extension = FORMATS[fmt]
    from tenohira.insights import render as outputs

    stem = "dx-report-" + "-".join(str(v) for v in period_query(period).values())
    if chosen is not None:
        stem += f"-department-{chosen.pk}"
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, f"report.{extension}")
        getattr(outputs, function)(report, path)
        with open(path, "rb") as handle:
            body = handle.read()
    response = HttpResponse(body, content_type=content_type)
    disposition = "inline" if fmt == "pdf" else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{stem}.{extension}"'
    return response
