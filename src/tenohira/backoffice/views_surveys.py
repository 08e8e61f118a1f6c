"""Staff pages of surveys (アンケート): the surveys of the user's sections with their
response counts, links to the tallies, a blank template for keying paper answers, and the
upload that imports them (all or nothing, every problem listed)."""

from __future__ import annotations

import csv
import io

from django.db import transaction
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from tenohira.applications import survey_import
from tenohira.applications.models import Submission
from tenohira.audit.services import record
from tenohira.backoffice import selectors
from tenohira.backoffice.auth import staff_required


def _counts(procedure_ids) -> dict[int, dict]:
    rows = (
        Submission.objects.filter(procedure_id__in=procedure_ids)
        .values("procedure_id", "channel").annotate(n=Count("pk")).order_by()
    )
    counts: dict[int, dict] = {}
    for row in rows:
        entry = counts.setdefault(row["procedure_id"], {"total": 0, "online": 0, "paper": 0})
        entry["total"] += row["n"]
        entry["paper" if row["channel"] == "paper" else "online"] += row["n"]
    return counts


@staff_required
@require_GET
def index(request):
    procedures = list(selectors.survey_procedures_for(request.user).order_by("section__order", "code"))
    counts = _counts([p.pk for p in procedures])
    rows = [{"procedure": p, "counts": counts.get(p.pk, {"total": 0, "online": 0, "paper": 0})} for p in procedures]
    return render(request, "backoffice/surveys/index.html", {"rows": rows})


@staff_required
@require_http_methods(["GET", "POST"])
def detail(request, procedure_code: str):
    code = procedure_code
    procedure = selectors.survey_procedure_for(request.user, code)
    context = {"procedure": procedure, "outcome": None, "refused": "", "max_mb": survey_import.MAX_BYTES // (1024 * 1024),
               "max_rows": survey_import.MAX_ROWS}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        dry_run = request.POST.get("dry_run") == "1"
        if upload is None:
            context["refused"] = "取り込むファイルを選んでください。"
        elif upload.size > survey_import.MAX_BYTES:  # refused before it is read
            context["refused"] = f"ファイルが大きすぎます（{context['max_mb']}MB まで）。"
        else:
            try:
                with transaction.atomic():
                    outcome = survey_import.import_responses(
                        procedure, upload.read(), filename=upload.name, dry_run=dry_run, actor=request.user
                    )
                    if outcome.ok and not dry_run:
                        record("survey.import_responses", user=request.user, target=procedure.code, request=request,
                               detail={"file": upload.name[:200], "imported": outcome.imported})
                context["outcome"] = outcome
            except survey_import.ImportRefused as exc:
                context["refused"] = str(exc)
        if context["refused"] or (context["outcome"] and not context["outcome"].ok):
            status = 400
    context["counts"] = _counts([procedure.pk]).get(procedure.pk, {"total": 0, "online": 0, "paper": 0})
    return render(request, "backoffice/surveys/detail.html", context, status=status)


@staff_required
@require_GET
def template(request, procedure_code: str, fmt: str):
    code = procedure_code
    """The blank template: the header row only (UTF-8 with BOM, which Excel opens as
    such, or XLSX)."""
    procedure = selectors.survey_procedure_for(request.user, code)
    version = survey_import.survey_version(procedure)
    headers = survey_import.template_headers(version.parsed())
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "回答"
        sheet.append(headers)
        buffer = io.BytesIO()
        book.save(buffer)
        response = HttpResponse(
            buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
    elif fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerow(headers)
        response = HttpResponse(out.getvalue().encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
    else:
        from django.http import Http404

        raise Http404("format")
    response["Content-Disposition"] = f'attachment; filename="survey-{procedure.code}.{fmt}"'
    return response
