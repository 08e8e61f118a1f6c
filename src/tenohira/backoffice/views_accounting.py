"""/staff/accounting/: the 会計管理者's pages — 消込 (settlement files), 収納データ, 日計表.

Open to 会計管理者 and DX管理者 only. What these pages show is money per fee item and the
providers' transaction ids, never an application's answers; still every import, every
view of an import's report and every download is audited, and no answer is kept by a
browser or a proxy (staff_required adds no-store). The work is in payments (reconcile,
exports, daily); a view parses, calls and renders.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenohira.audit.services import record as audit
from tenohira.backoffice import selectors
from tenohira.backoffice.auth import staff_required
from tenohira.core.fiscal import JST
from tenohira.core.wareki import WarekiError, parse_date
from tenohira.payments import daily, exports, reconcile
from tenohira.payments.models import SettlementImport
from tenohira.payments.registry import Provider, register

#: Lines of each list shown on the report page; the command prints them all.
SHOWN_PER_LIST = 500
RECENT_IMPORTS = 30


def may_account(user) -> bool:
    return selectors.is_accountant(user) or selectors.is_dx_admin(user)


def _providers() -> list[Provider]:
    """Providers that send settlement files (the counter sends none)."""
    return [p for p in register.online() if type(p).parse_settlement is not Provider.parse_settlement]


def _today() -> dt.date:
    return timezone.localtime(timezone.now(), JST).date()


def _recent_imports() -> list[SettlementImport]:
    imports = list(SettlementImport.objects.select_related("imported_by").order_by("-imported_at")[:RECENT_IMPORTS])
    for item in imports:
        counts = reconcile.summary(item)
        item.problem_text = "、".join(
            f"{reconcile.KIND_LABELS[kind]} {counts[kind]}件" for kind in reconcile.KINDS if counts[kind]
        )
    return imports


def _context(**extra) -> dict:
    today = _today()
    context = {
        "providers": _providers(),
        "imports": _recent_imports(),
        "max_mb": reconcile.MAX_BYTES // 1024 // 1024,
        "max_lines": reconcile.MAX_LINES,
        "values": {"provider": "", "date_from": today.replace(day=1).isoformat(), "date_to": today.isoformat(),
                   "date": today.isoformat(), "format": "pdf"},
        "errors": {},
    }
    context.update(extra)
    return context


@staff_required(check=may_account)
@require_http_methods(["GET", "POST"])
def index(request):
    """GET: the three tasks and past imports. POST: a settlement file to reconcile."""
    if request.method == "GET":
        return render(request, "backoffice/accounting/index.html", _context())
    provider = request.POST.get("provider", "")[:30]
    upload = request.FILES.get("file")
    values = {**_context()["values"], "provider": provider}
    problems = []
    if provider not in {p.name for p in _providers()}:
        problems.append("支払い方法を選んでください。")
    if upload is None:
        problems.append("入金明細のファイルを選んでください。")
    elif upload.size > reconcile.MAX_BYTES:
        problems.append(f"ファイルが大きすぎます。{reconcile.MAX_BYTES // 1024 // 1024} MB までです。")
    if not problems:
        data = upload.read()
        try:
            record = reconcile.import_settlement(data, provider=provider, file_name=upload.name or "",
                                                 user=request.user)
        except reconcile.SettlementRefused as refused:
            problems = refused.problems
            audit("settlement_import_refused", user=request.user, target=f"provider:{provider}",
                  detail={"file": (upload.name or "")[:255], "problems": len(problems)}, request=request)
        else:
            audit("settlement_import", user=request.user, target=f"settlement:{record.pk}",
                  detail={"provider": provider, "lines": record.lines, "matched": record.matched,
                          **reconcile.summary(record)}, request=request)
            return redirect("accounting:import_detail", import_id=record.pk)
    return render(request, "backoffice/accounting/index.html",
                  _context(values=values, errors={"settlement": problems}), status=400)


@staff_required(check=may_account)
@require_GET
def import_detail(request, import_id: int):
    try:
        record = SettlementImport.objects.select_related("imported_by").get(pk=import_id)
    except SettlementImport.DoesNotExist:
        raise Http404("この取込みはありません。") from None
    audit("settlement_import_view", user=request.user, target=f"settlement:{record.pk}", request=request)
    counts = reconcile.summary(record)
    lists = [
        {"kind": kind, "label": reconcile.KIND_LABELS[kind], "count": counts[kind],
         "entries": (record.report or {}).get(kind, [])[:SHOWN_PER_LIST]}
        for kind in reconcile.KINDS
    ]
    plugin = register.get(record.provider)
    return render(request, "backoffice/accounting/import.html", {
        "record": record, "lists": lists, "shown": SHOWN_PER_LIST, "problems": sum(counts.values()),
        "provider_label": (plugin.label if plugin else "") or record.provider,
    })


def _date(text: str, label: str, errors: list[str]) -> dt.date | None:
    try:
        return parse_date((text or "").strip()[:40])
    except WarekiError:
        errors.append(f"{label}を日付（例: 2026-12-01 または 令和8年12月1日）で入力してください。")
        return None


def _download(data: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


@staff_required(check=may_account)
@require_POST
def receipts(request):
    """収納データ (CP932 CSV) of a period."""
    errors: list[str] = []
    values = {**_context()["values"], "date_from": request.POST.get("date_from", "")[:40],
              "date_to": request.POST.get("date_to", "")[:40]}
    date_from = _date(values["date_from"], "初日", errors)
    date_to = _date(values["date_to"], "末日", errors)
    if not errors:
        try:
            data, count = exports.receipts_csv(date_from, date_to)
        except exports.ExportRefused as refused:
            errors = refused.problems
            audit("receipts_export_refused", user=request.user, target="receipts",
                  detail={"from": date_from, "to": date_to, "problems": len(errors)}, request=request)
        else:
            audit("receipts_export", user=request.user, target="receipts",
                  detail={"from": date_from, "to": date_to, "rows": count, "format": "csv_cp932"}, request=request)
            return _download(data, "text/csv; charset=Shift_JIS",
                             f"収納データ_{date_from:%Y%m%d}-{date_to:%Y%m%d}.csv")
    return render(request, "backoffice/accounting/index.html",
                  _context(values=values, errors={"receipts": errors}), status=400)


@staff_required(check=may_account)
@require_POST
def daily_report(request):
    """日計表 of one day, PDF or XLSX."""
    errors: list[str] = []
    fmt = request.POST.get("format", "")
    values = {**_context()["values"], "date": request.POST.get("date", "")[:40], "format": fmt}
    day = _date(values["date"], "収納日", errors)
    if fmt not in {"pdf", "xlsx"}:
        errors.append("形式（PDF または Excel）を選んでください。")
    if not errors:
        report = daily.summary(day)
        audit("daily_report", user=request.user, target="daily_report",
              detail={"date": day, "format": fmt, "rows": len(report["rows"])}, request=request)
        if fmt == "pdf":
            return _download(daily.to_pdf(report), "application/pdf", f"日計表_{day:%Y%m%d}.pdf")
        return _download(daily.to_xlsx(report), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         f"日計表_{day:%Y%m%d}.xlsx")
    return render(request, "backoffice/accounting/index.html",
                  _context(values=values, errors={"daily": errors}), status=400)
