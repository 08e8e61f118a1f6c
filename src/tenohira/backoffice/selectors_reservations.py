"""Staff reads of the reservations, scoped by the acting user.

A resource (and its slots and bookings) is visible to staff with a role in the resource's
section, and to the DX管理者 for every section (they set up facilities and answer for the
whole platform). Everything else answers 404: staff of another section cannot even learn
that a booking number exists. The views write an audit record for every page or file that
shows bookings (names, telephone numbers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, QuerySet
from django.http import Http404

from tenohira.backoffice import selectors
from tenohira.core.fiscal import JST
from tenohira.reservations.models import HOLDING, Booking, Lottery, Resource, Slot

#: Bounds of one page: a week of a resource's slots.
MAX_SLOTS = 7 * 200


def resources_for(user) -> QuerySet[Resource]:
    """Resources of the sections the user works in; every resource for a DX管理者."""
    resources = Resource.objects.select_related("facility", "section")
    if selectors.is_dx_admin(user):
        return resources
    return resources.filter(section_id__in=selectors.section_ids(user))


def worked_resources(user) -> QuerySet[Resource]:
    """Resources of the sections the user works in, without the DX division's reading of
    every section: the pages that act (lotteries, 仮予約, fees) list only these."""
    return Resource.objects.filter(section_id__in=selectors.section_ids(user))


def worked_bookings(user) -> QuerySet[Booking]:
    return Booking.objects.filter(resource__in=worked_resources(user).values("pk")).select_related(
        "slot", "resource__facility", "kind")


def worked_lotteries(user) -> QuerySet[Lottery]:
    return Lottery.objects.filter(resource__in=worked_resources(user).values("pk")).select_related(
        "resource__facility")


def resource_for(user, code: str) -> Resource:
    resource = resources_for(user).filter(code=code).first() if code and len(code) <= 50 else None
    if resource is None:
        raise Http404("resource not found")
    return resource


def bookings_for(user) -> QuerySet[Booking]:
    return Booking.objects.filter(resource__in=resources_for(user).values("pk")).select_related(
        "slot", "resource__facility", "resource__section", "kind", "booked_by"
    )


def booking_for(user, number: str) -> Booking:
    """The booking, or 404 (also when it is another section's)."""
    number = (number or "").strip().upper()
    booking = bookings_for(user).filter(number=number).first() if 0 < len(number) <= 9 else None
    if booking is None:
        raise Http404("booking not found")
    return booking


def slot_for(resource: Resource, slot_id) -> Slot:
    """A slot of a resource already read through resource_for, or 404."""
    try:
        pk = int(slot_id)
    except (TypeError, ValueError):
        raise Http404("slot not found") from None
    slot = Slot.objects.select_related("resource__facility").filter(resource=resource, pk=pk).first()
    if slot is None:
        raise Http404("slot not found")
    return slot


def roles_in(user, section_id: int) -> set[str]:
    """The user's roles in one section (what reservations.staff_services checks)."""
    return {role for role, section in selectors.roles_of(user) if section == section_id}


def may_act(user, resource: Resource) -> bool:
    from tenohira.reservations.staff_services import ACT_ROLES

    return bool(roles_in(user, resource.section_id) & ACT_ROLES)


# --- the day and week views ---------------------------------------------------------------


@dataclass
class SlotRow:
    slot: Slot
    bookings: list[Booking] = field(default_factory=list)
    kinds: list[dict] = field(default_factory=list)  # {"name", "capacity", "booked"}

    @property
    def held(self) -> list[Booking]:
        return [b for b in self.bookings if b.state in HOLDING]


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=JST)


def slots_between(resource: Resource, first: dt.date, last: dt.date) -> list[SlotRow]:
    """Every slot of first..last (JST, both included) with its bookings (all states) and
    its places per kind."""
    slots = list(
        Slot.objects.filter(resource=resource, starts_at__gte=_start(first),
                            starts_at__lt=_start(last + dt.timedelta(days=1)))
        .prefetch_related("kinds__kind").order_by("starts_at")[:MAX_SLOTS]
    )
    rows = {s.pk: SlotRow(s) for s in slots}
    for row in rows.values():
        row.kinds = [{"name": k.kind.name, "capacity": k.capacity, "booked": k.booked}
                     for k in sorted(row.slot.kinds.all(), key=lambda k: (k.kind.order, k.kind.pk))]
    if rows:
        bookings = Booking.objects.filter(slot_id__in=rows).select_related("kind", "booked_by").order_by(
            "slot__starts_at", "created_at", "pk"
        )
        for booking in bookings:
            rows[booking.slot_id].bookings.append(booking)
    return list(rows.values())


def state_counts(rows: list[SlotRow]) -> list[tuple[str, int]]:
    """(state label, bookings) for the states present, in the model's order."""
    counts: dict[str, int] = {}
    for row in rows:
        for booking in row.bookings:
            counts[booking.state] = counts.get(booking.state, 0) + 1
    return [(str(label), counts[value]) for value, label in Booking.State.choices if counts.get(value)]


def no_shows(resource: Resource, first: dt.date, last: dt.date) -> list[Booking]:
    """Residents who did not come (来所なし) in first..last, earliest first."""
    return list(
        Booking.objects.filter(resource=resource, state=Booking.State.NO_SHOW,
                               slot__starts_at__gte=_start(first),
                               slot__starts_at__lt=_start(last + dt.timedelta(days=1)))
        .select_related("slot", "kind").order_by("slot__starts_at", "pk")
    )


def earlier_no_shows(resource: Resource, bookings: list[Booking], *, before: dt.datetime) -> dict[str, int]:
    """{person_key: 来所なし at this resource before `before`}, for the people of `bookings`:
    a clerk sees at a glance who tends not to come."""
    keys = {b.person_key for b in bookings}
    if not keys:
        return {}
    return dict(
        Booking.objects.filter(resource=resource, state=Booking.State.NO_SHOW, person_key__in=keys,
                               slot__starts_at__lt=before)
        .values("person_key").annotate(n=Count("pk")).values_list("person_key", "n")
    )
