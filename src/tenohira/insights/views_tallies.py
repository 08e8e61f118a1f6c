"""Staff pages of the response tallies (申込集計表).

/staff/tallies/                               the forms the user may tally
/staff/tallies/<code>/                        the tally: period and status filter, header,
                                              per-question tables with charts, cross tabulation
/staff/tallies/<code>/download/<fmt>/         the same as xlsx, csv (?encoding=cp932) or pdf

Procedures come only from backoffice.selectors.tally_procedure(s)_for: a section's staff
tally their section's forms, a DX管理者 every form; anyone else gets 404. A tally holds
counts, never answers, but it is read from residents' submissions, so each view and
download is audited and never cached.
"""

from __future__ import annotations

import io

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from tenohira.applications.models import Submission
from tenohira.audit.services import record
from tenohira.backoffice.auth import staff_required
from tenohira.backoffice.selectors import tally_procedure_for, tally_procedures_for
from tenohira.insights import tallies, tally_outputs

FORMATS = {
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "attachment"),
    "csv": ("text/csv", "attachment"),
    "pdf": ("application/pdf", "inline"),
}
MAX_PARAM = 40  # every query value is a date, a status or a question key: short


def _param(request, name: str) -> str:
    return (request.GET.get(name) or "").strip()[:MAX_PARAM]


def _filters(request) -> dict:
    """What the clerk chose, as typed (kept on the page even when it is refused)."""
    statuses = [s[:MAX_PARAM] for s in request.GET.getlist("status")[: len(Submission.Status.values) + 1]]
    return {"from": _param(request, "from"), "to": _param(request, "to"), "status": statuses,
            "row": _param(request, "row"), "col": _param(request, "col"), "split": _param(request, "split")}


def _tally(procedure, chosen: dict) -> dict:
    """The tally for the chosen filters; TallyError (Japanese) when they cannot be used."""
    unknown = [s for s in chosen["status"] if s not in Submission.Status.values]
    if unknown:
        raise tallies.TallyError("状態の選び方が正しくありません。一覧から選んでください。")
    scope = tallies.TallyScope(procedure, tallies.parse_date(chosen["from"], "開始日"),
                               tallies.parse_date(chosen["to"], "終了日"), chosen["status"] or None)
    if scope.date_from and scope.date_to and scope.date_from > scope.date_to:
        raise tallies.TallyError("開始日は終了日より前の日にしてください。")
    if bool(chosen["row"]) != bool(chosen["col"]):
        raise tallies.TallyError("クロス集計には、行と列の質問を両方選んでください。")
    cross = (chosen["row"], chosen["col"]) if chosen["row"] else None
    return tallies.compute(scope, cross=cross, split=chosen["split"] or None)


def _audit(request, procedure, action: str, chosen: dict, **extra) -> None:
    detail = {k: v for k, v in chosen.items() if v}
    record(action, user=request.user, target=f"procedure:{procedure.code}", detail={**detail, **extra},
           request=request)


@require_GET
@staff_required
def index(request):
    procedures = tally_procedures_for(request.user).order_by("section__department__name", "section__name", "code")
    return render(request, "insights/tallies/index.html", {"procedures": procedures})


def _page_context(result: dict) -> dict:
    plan = tally_outputs.layout(result)
    tables = []
    for table in plan.tables:
        tables.append({
            "table": table, "id": table.key.replace("_", "-"),
            "header_rows": table.header_rows(),
            "rows": [list(zip(cells, table.columns, strict=True)) for cells in table.formatted_rows()],
            "total": list(zip(table.formatted_total(), table.columns, strict=True)) if table.total is not None else None,
            # Built by insights.charts: every text in the SVG is escaped there.
            "charts": [{"chart": c, "svg": mark_safe(c.svg())} for c in table.figures],  # noqa: S308
        })
    simple = [t for t in tables if t["table"].key != "cross"]
    cross = next((t for t in tables if t["table"].key == "cross"), None)
    return {"header_rows": tally_outputs.header_rows(result), "simple": simple, "cross_table": cross,
            "notes": result["notes"]}


@require_GET
@staff_required
def tally(request, procedure_code: str):
    procedure = tally_procedure_for(request.user, procedure_code)
    chosen = _filters(request)
    error = ""
    result = None
    try:
        result = _tally(procedure, chosen)
    except tallies.TallyError as exc:
        error = str(exc)
    # The pickers list the questions of the form (all versions), also when the chosen
    # filters were refused.
    questions = result["questions"] if result else tallies.compute(tallies.TallyScope(procedure))["questions"]
    _audit(request, procedure, "tallies.view", chosen, refused=bool(error))
    context = {
        "procedure": procedure, "chosen": chosen, "error": error, "result": result,
        "statuses": [{"value": v, "label": label, "checked": v in chosen["status"] or (
            not chosen["status"] and v not in tallies.DEFAULT_EXCLUDED)} for v, label in Submission.Status.choices],
        "axis_questions": tallies.axis_questions(questions),
        "query": request.GET.urlencode(),
        **(_page_context(result) if result else {}),
    }
    response = render(request, "insights/tallies/tally.html", context, status=400 if error else 200)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@staff_required
def download(request, procedure_code: str, fmt: str):
    procedure = tally_procedure_for(request.user, procedure_code)
    if fmt not in FORMATS:
        from django.http import Http404

        raise Http404("unknown format")
    chosen = _filters(request)
    encoding = "cp932" if request.GET.get("encoding") == "cp932" else "utf-8"
    try:
        result = _tally(procedure, chosen)
        if fmt == "csv":
            body = tally_outputs.to_csv(result, encoding)
        else:
            buffer = io.BytesIO()
            getattr(tally_outputs, f"to_{fmt}")(result, buffer)
            body = buffer.getvalue()
    except tallies.TallyError as exc:
        response = HttpResponse(f"集計表を作れませんでした: {exc}", content_type="text/plain; charset=utf-8",
                                status=400)
        response["Cache-Control"] = "no-store"
        return response
    _audit(request, procedure, "tallies.download", chosen, format=fmt, encoding=encoding if fmt == "csv" else "")
    content_type, disposition = FORMATS[fmt]
    if fmt == "csv":
        content_type += "; charset=" + ("shift_jis" if encoding == "cp932" else "utf-8")
    stem = f"tally-{procedure.code}-{result['header']['tallied_on']}"
    if fmt == "csv" and encoding == "cp932":
        stem += "-sjis"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'{disposition}; filename="{stem}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response
