"""窓口の混雑状況 (/congestion/): every counter's current waiting, else its typical level,
and 「営業時間外」 outside office hours. Public (no personal data); never cached, so a
reload shows the latest reading."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tenohira.core import calendar
from tenohira.core.fiscal import JST
from tenohira.reservations import congestion


def booking_url(resource) -> str:
    """The booking page of a 来庁予約 resource (the search page before that page exists)."""
    try:
        return reverse("reservations:resource", args=[resource.code])
    except NoReverseMatch:
        return reverse("reservations:index") + "?kind=counter"


@require_GET
@never_cache
def congestion_page(request):
    moment = congestion.now()
    statuses = congestion.counter_statuses(at=moment)
    for status in statuses:
        status.booking_url = booking_url(status.booking) if status.booking else ""
        status.bring = congestion.bring_list(status.booking) if status.booking else []
    opens, closes = calendar.office_hours()
    local = moment.astimezone(JST)
    return render(request, "reservations/congestion_list.html", {
        "statuses": statuses, "now": local, "weekday_name": calendar.WEEKDAY_NAMES[local.weekday()],
        "opens": opens, "closes": closes, "outside_hours": calendar.is_outside_office_hours(moment),
        "closed_reason": calendar.closed_reason(local.date()),
        "current_minutes": int(congestion.current_for().total_seconds() // 60),
        "levels": congestion.LEVELS,
    })
