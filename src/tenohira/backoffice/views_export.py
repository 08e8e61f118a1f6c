"""The staff export page: the queue's filters, a count of what would be exported, and the
download (CSV UTF-8 / CSV CP932 / XLSX / attachments ZIP). See docs/exports.md.

What is exported is exactly what selectors.queue(request.user, ...) returns for the
chosen section and filters: a staff member can never export an application they could not
open. Every download (and every refused CP932 attempt) writes an "export" audit record
with the row count, the format and the filters, before the first byte is sent.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from tenohira.applications.models import Attachment
from tenohira.audit.services import record as audit
from tenohira.backoffice import exports, selectors
from tenohira.backoffice.auth import staff_required
from tenohira.backoffice.forms import QueueFilterForm, procedures_of

REPORT_FORMAT = "cp932-report"
FILTER_NAMES = ("section", "procedure", "status", "date_from", "date_to", "overdue", "q")


def _has_section(user) -> bool:
    # Auditors and DX administrators hold no section and export nothing.
    return bool(selectors.section_ids(user))


@staff_required(check=_has_section)
@never_cache
@require_http_methods(["GET", "POST"])
def export(request):
    """GET: filters and the row-count preview. POST: the download (format=...)."""
    source = request.POST if request.method == "POST" else request.GET
    sections = list(selectors.sections_for(request.user).order_by("department__order", "order", "pk"))
    by_id = {s.pk: s for s in sections}
    try:
        chosen = int(source.get("section") or sections[0].pk)
    except ValueError:
        chosen = sections[0].pk
    section = by_id.get(chosen, sections[0])
    data = source.copy()
    data["section"] = str(section.pk)
    form = QueueFilterForm(data, sections=sections, procedures=list(procedures_of(section.pk)))
    form.is_valid()
    filters = form.filters()
    items = selectors.queue(request.user, section_id=section.pk, **filters)
    parts = exports.plan(items)
    context = {
        "form": form, "section": section, "parts": parts, "total": sum(p.rows for p in parts),
        "formats": exports.FORMATS, "hidden": _hidden(data), "raw": source.get("raw") == "1",
        "query": urlencode(_hidden(data)),
    }
    if request.method == "GET":
        context["attachment_count"] = Attachment.objects.filter(submission__in=items.order_by().values("pk")).count()
        return render(request, "backoffice/export.html", context)

    chosen_format = request.POST.get("format", "")
    if chosen_format not in exports.FORMATS and chosen_format != REPORT_FORMAT:
        context["error"] = "書き出す形式を選んでください。"
        return render(request, "backoffice/export.html", context, status=400)
    if form.errors:
        # Never export a wider set than asked for because one filter did not validate.
        context["error"] = "条件に誤りがあります。直してから書き出してください。"
        return render(request, "backoffice/export.html", context, status=400)
    if not context["total"]:
        context["error"] = "条件に合う申請がありません。"
        return render(request, "backoffice/export.html", context, status=400)

    # raw=1: cells exactly as stored, for a business system's import; by default a cell
    # that would start a formula in Excel gets a leading ' (docs/exports.md).
    raw = request.POST.get("raw") == "1"
    detail = {"format": chosen_format, "rows": context["total"], "filters": _audit_filters(section, filters),
              "versions": [f"{p.procedure.code} 第{p.version.number}版" for p in parts]}
    if raw:
        detail["raw"] = True
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if chosen_format == "csv-utf8":
        audit("export", user=request.user, target=section.name[:100], detail=detail, request=request)
        if len(parts) == 1:
            name, content_type = f"{_title(parts[0])}_{stamp}.csv", "text/csv; charset=utf-8"
        else:
            name, content_type = f"申請データ_{section.name}_{stamp}.zip", "application/zip"
        return _download(StreamingHttpResponse(exports.csv_export(items, parts, "utf-8", raw=raw), content_type=content_type), name)
    if chosen_format == "csv-cp932":
        target = exports.temporary_file()
        check = exports.cp932_to_file(items, parts, target, raw=raw)
        if check.problems:
            target.close()
            audit("export", user=request.user, target=section.name[:100], request=request, detail={
                **detail, "rows": 0, "checked_rows": context["total"], "refused": True, "unencodable": check.total,
            })
            context.update(check=check, error="")
            return render(request, "backoffice/export.html", context, status=422)
        audit("export", user=request.user, target=section.name[:100], detail=detail, request=request)
        target.seek(0)
        if len(parts) == 1:
            name, content_type = f"{_title(parts[0])}_{stamp}_SJIS.csv", "text/csv; charset=Windows-31J"
        else:
            name, content_type = f"申請データ_{section.name}_{stamp}_SJIS.zip", "application/zip"
        return _download(FileResponse(target, content_type=content_type), name)
    if chosen_format == "xlsx":
        target = exports.temporary_file()
        exports.xlsx_to_file(items, parts, target)
        audit("export", user=request.user, target=section.name[:100], detail=detail, request=request)
        target.seek(0)
        name = f"{_title(parts[0])}_{stamp}.xlsx" if len(parts) == 1 else f"申請データ_{section.name}_{stamp}.xlsx"
        return _download(FileResponse(
            target, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ), name)
    if chosen_format == "attachments":
        detail["files"] = Attachment.objects.filter(submission__in=items.order_by().values("pk")).count()
        audit("export", user=request.user, target=section.name[:100], detail=detail, request=request)
        response = StreamingHttpResponse(exports.attachments_zip(items, raw=raw), content_type="application/zip")
        return _download(response, f"添付ファイル_{section.name}_{stamp}.zip")
    # The CP932 report: receipt numbers, columns and characters (personal data, audited).
    audit("export", user=request.user, target=section.name[:100], detail=detail, request=request)
    response = StreamingHttpResponse(
        exports.report_csv(exports.cp932_report(items, parts)), content_type="text/csv; charset=utf-8"
    )
    return _download(response, f"CP932で表せない文字_{section.name}_{stamp}.csv")


def _title(part: exports.Part) -> str:
    return f"申請データ_{part.procedure.name}_第{part.version.number}版"


def _download(response, name: str):
    """Content-Disposition with the Japanese name (RFC 6266 / 5987) and an ASCII fallback
    for the few clients that ignore filename*."""
    name = exports.safe_file_name(name, limit=150)
    extension = name.rpartition(".")[2] if "." in name else "bin"
    fallback = f"tenohira-export-{timezone.localtime():%Y%m%d-%H%M}.{extension}"
    response["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _hidden(data) -> list[tuple[str, str]]:
    """The filters as (name, value) pairs, carried by the download form."""
    return [(name, value) for name in FILTER_NAMES for value in data.getlist(name) if value not in ("", None)]


def _audit_filters(section, filters: dict) -> dict:
    """The export's filters for the audit record. A free-text search may be a resident's
    name, and auditors never read personal data: only the fact that one was used is kept."""
    kept = {}
    for key, value in filters.items():
        if value in (None, "", False):
            continue
        if key in {"text", "q"}:
            kept[key] = "（検索語あり）"
            continue
        kept[key] = value.isoformat() if hasattr(value, "isoformat") else value
    return {"section_id": section.pk, **kept}
