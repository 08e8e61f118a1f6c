"""The booking area's places on other apps' pages: 「予約する」 on a procedure's page that
has resources (catalog), and the resident's bookings on マイページ (identity)."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from tenohira.reservations import notify, selectors
from tenohira.reservations.models import HOLDING

MYPAGE_LIMIT = 30


def procedure_panels(procedure) -> list:
    from tenohira.catalog.extensions import Panel

    panels = []
    for resource in selectors.public_resources().filter(procedure=procedure)[:3]:
        lines = [f"{resource.facility.name}の{resource.name}を、空いている日と時間から選んで予約できます。"]
        if resource.bring:
            lines.append(f"持ち物: {resource.bring}")
        panels.append(Panel(title=f"{resource.name}の予約", lines=lines, action_label="予約する",
                            action_url=reverse("reservations:resource", args=[resource.code])))
    return panels


def mypage_bookings(account) -> list:
    """Upcoming bookings first (soonest first), then the ones that ended or have passed."""
    from tenohira.identity.extensions import Row, Section

    now = timezone.now()
    bookings = selectors.bookings_of_account(account.pk)
    upcoming = list(bookings.filter(state__in=HOLDING, slot__starts_at__gte=now).order_by("slot__starts_at")[:MYPAGE_LIMIT])
    rest = list(
        bookings.exclude(pk__in=[b.pk for b in upcoming]).order_by("-slot__starts_at")[: MYPAGE_LIMIT - len(upcoming)]
    )
    rows = []
    for booking in upcoming + rest:
        title = booking.resource.name + (f"（{booking.kind.name}）" if booking.kind_id else "")
        rows.append(Row(
            title=title, url=reverse("reservations:booking", args=[booking.token]),
            lines=[notify.when(booking), f"予約番号 {booking.number}・{booking.resource.facility.name}"],
            badge=booking.get_state_display(),
        ))
    return [Section(key="bookings", title="施設・健診の予約", rows=rows,
                    empty="ログインして予約したものが、ここに表示されます。",
                    link_url=reverse("reservations:index"), link_label="施設・健診の予約を探す")]


def connect() -> None:
    from django.db.models.signals import post_delete, post_save

    from tenohira.catalog.extensions import add_procedure_panel
    from tenohira.identity.extensions import add_mypage_section
    from tenohira.reservations.models import Resource

    add_procedure_panel(procedure_panels)
    add_mypage_section(mypage_bookings)
    # The staff menu's 「予約」 follows a new or removed resource at once in this process.
    for signal in (post_save, post_delete):
        signal.connect(selectors.forget_sections_with_resources, sender=Resource,
                       dispatch_uid=f"reservations.sections.{signal is post_save}")
    # A closure day added later stops that day's slots (reservations.closures).
    from django.db.models.signals import pre_save

    from tenohira.core.models import ClosureDay
    from tenohira.reservations import closures

    pre_save.connect(closures.closure_changing, sender=ClosureDay, dispatch_uid="reservations.closure.changing")
    post_save.connect(closures.closure_saved, sender=ClosureDay, dispatch_uid="reservations.closure.saved")
    post_delete.connect(closures.closure_deleted, sender=ClosureDay, dispatch_uid="reservations.closure.deleted")
