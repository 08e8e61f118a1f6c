"""Counter congestion on a procedure's page (catalog.extensions): for each counter that does
the procedure, its current waiting or typical level (or 「営業時間外」), and 「来庁日時を予約する」
when a 来庁予約 resource serves that counter."""

from __future__ import annotations

from django.urls import reverse

from tenohira.catalog import extensions
from tenohira.catalog.extensions import Panel


def connect() -> None:
    extensions.add_procedure_panel(congestion_panels)


def congestion_panels(procedure) -> list[Panel]:
    from tenohira.reservations import congestion
    from tenohira.reservations.models import Counter, Resource
    from tenohira.reservations.views_congestion import booking_url

    counters = list(Counter.objects.filter(procedures=procedure, active=True))
    panels: list[Panel] = []
    offered: set[int] = set()
    page = reverse("reservations:congestion")
    for status in congestion.counter_statuses(counters):
        panels.append(Panel(
            title=f"{status.counter.name}の混雑状況", lines=status.sentences(),
            action_url=f"{page}#counter-{status.counter.code}", action_label="窓口の混雑状況を見る",
        ))
        if status.booking is not None and status.booking.pk not in offered:
            offered.add(status.booking.pk)
            panels.append(_booking_panel(status.booking, booking_url(status.booking), congestion.bring_list(status.booking)))
    # The booking's own procedure (引越し手続きの来庁予約) offers it too, counter or not.
    own = Resource.objects.filter(procedure=procedure, kind=Resource.Kind.COUNTER, active=True).exclude(pk__in=offered)
    for resource in own.order_by("order", "pk")[:3]:
        panels.append(_booking_panel(resource, booking_url(resource), congestion.bring_list(resource)))
    return panels


def _booking_panel(resource, url: str, bring: list[str]) -> Panel:
    lines = [f"{resource.facility.name}の窓口に来る日時を予約できます。予約した方は、待たずに手続きできます。"]
    if bring:
        lines.append("持ち物: " + "、".join(bring))
    return Panel(title=f"来庁予約（{resource.name}）", lines=lines, action_url=url,
                 action_label="来庁日時を予約する", tone="success")
