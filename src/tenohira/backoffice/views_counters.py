"""/staff/reservations/counters/: the waiting count of the user's sections' counters,
entered by hand where no ticket machine posts it (or when it is out of order).

Counters are read scoped by the user's sections (another section's counter 404s); each
entry is stored through reservations.congestion.record_reading with the same bounds as
the machines' API, and audited. No personal data is shown here, so viewing is not audited.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from tenohira.audit.services import record as audit
from tenohira.backoffice import selectors
from tenohira.backoffice.auth import staff_required
from tenohira.core.fiscal import JST
from tenohira.reservations import congestion
from tenohira.reservations.models import Counter, QueueReading


def counters_for(user):
    """Active counters of the sections where `user` holds a role, with their latest reading."""
    latest = QueueReading.objects.filter(counter=OuterRef("pk")).order_by("-recorded_at", "-pk")
    return (
        Counter.objects.filter(section_id__in=selectors.section_ids(user), active=True)
        .select_related("facility", "section")
        .annotate(latest_waiting=Subquery(latest.values("waiting")[:1]),
                  latest_minutes=Subquery(latest.values("wait_minutes")[:1]),
                  latest_at=Subquery(latest.values("recorded_at")[:1]),
                  latest_source=Subquery(latest.values("source")[:1]))
        .order_by("section__order", "order", "name")
    )


def _number(raw: str | None, *, optional: bool = False) -> int | None:
    """Digits only (全角 digits too); None for blank when optional. ValueError otherwise."""
    text = (raw or "").strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if not text and optional:
        return None
    if not text or len(text) > 4 or not text.isascii() or not text.isdigit():
        raise ValueError(text)
    return int(text)


def _page(request, *, error: str = "", error_code: str = "", typed: dict | None = None, status: int = 200):
    rows = list(counters_for(request.user))
    sources = dict(QueueReading.Source.choices)
    for row in rows:
        row.latest_source_label = sources.get(row.latest_source, "")
        row.current = bool(row.latest_at and row.latest_at > congestion.now() - congestion.current_for())
    return render(request, "backoffice/counters_list.html", {
        "counters": rows, "error": error, "error_code": error_code, "typed": typed or {},
        "max_waiting": congestion.MAX_WAITING, "max_minutes": congestion.MAX_WAIT_MINUTES,
        "current_minutes": int(congestion.current_for().total_seconds() // 60),
    }, status=status)


@staff_required
@require_GET
def counters(request):
    return _page(request)


@staff_required
@require_POST
def record(request, code: str):
    counter = counters_for(request.user).filter(code=code).first()
    if counter is None:
        raise Http404("窓口が見つかりません")
    typed = {"waiting": request.POST.get("waiting", "")[:10], "wait_minutes": request.POST.get("wait_minutes", "")[:10]}
    try:
        waiting = _number(typed["waiting"])
    except ValueError:
        return _page(request, error=f"{counter.name}: 待ち人数を 0〜{congestion.MAX_WAITING} の数字で入力してください。",
                     error_code=code, typed=typed, status=400)
    try:
        minutes = _number(typed["wait_minutes"], optional=True)
    except ValueError:
        return _page(request, error=f"{counter.name}: 待ち時間（分）は数字で入力してください（分からなければ空欄）。",
                     error_code=code, typed=typed, status=400)
    try:
        reading = congestion.record_reading(counter, waiting=waiting, wait_minutes=minutes,
                                            source=QueueReading.Source.STAFF, user=request.user)
    except congestion.Invalid as exc:
        return _page(request, error=f"{counter.name}: {exc}", error_code=code, typed=typed, status=400)
    audit("reservations.queue_reading", user=request.user, target=counter.code,
          detail={"reading": reading.pk, "waiting": waiting, "wait_minutes": minutes, "source": "staff"},
          request=request)
    shown = congestion.estimated_minutes(counter, reading)
    messages.success(request, f"{counter.name}: 待ち {waiting}人・約{shown}分 を記録しました（{reading.recorded_at.astimezone(JST):%H:%M}）。")
    return HttpResponseRedirect(reverse("staff_counters:list") + f"#counter-{counter.code}")
