"""Reads of the reservations: what residents may book (free places), and what staff may see.

Residents read only free places and their own booking (through its random token).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from tenohira.core.fiscal import JST
from tenohira.reservations.models import Booking, Lottery, Resource, ResourceKind, Slot, SlotKind

# Bounds on the work of one request: a month of a resource's days, a day of its slots.
MAX_SEARCH_DAYS = 92
MAX_SLOTS_PER_DAY = 200


@dataclass(frozen=True)
class Availability:
    slot_id: int
    resource_id: int
    resource_name: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    free: int

    @property
    def label(self) -> str:
        local = self.starts_at.astimezone(JST)
        end = self.ends_at.astimezone(JST)
        return f"{local.month}月{local.day}日（{'月火水木金土日'[local.weekday()]}）{local:%H:%M}～{end:%H:%M}"


def bookable_slots(resources=None) -> QuerySet[Slot]:
    """Slots with a free place that nobody is stopped from booking: not blocked, not held
    back for a lottery that is still to be drawn, of an active resource."""
    slots = Slot.objects.filter(blocked=False, booked__lt=F("capacity"), resource__active=True).filter(
        Q(lottery__isnull=True) | Q(lottery__state=Lottery.State.DRAWN)
    )
    if resources is not None:
        slots = slots.filter(resource__in=resources)
    return slots


def window_of(resource: Resource, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """(earliest, latest) start a resident may book now: opens N days ahead (from the start
    of today in Japan), closes M hours before the slot starts."""
    now = now or timezone.now()
    today = now.astimezone(JST).date()
    latest_day = today + dt.timedelta(days=resource.opens_days_ahead)
    latest = dt.datetime.combine(latest_day + dt.timedelta(days=1), dt.time(0), tzinfo=JST)
    earliest = now + dt.timedelta(hours=resource.closes_hours_before)
    return earliest, latest


def public_resources() -> QuerySet[Resource]:
    return Resource.objects.filter(active=True).select_related("facility", "section")


def search(text: str = "", kind: str = "", *, start: dt.date | None = None, days: int = 31,
           limit: int = 50) -> list[dict]:
    """Resources matching what the resident wants to do (words in the name, keywords,
    description or facility) with the number of free places in the next `days` days."""
    days = max(1, min(int(days), MAX_SEARCH_DAYS))
    now = timezone.now()
    first = dt.datetime.combine(start or now.astimezone(JST).date(), dt.time(0), tzinfo=JST)
    first = max(first, now)
    last = first + dt.timedelta(days=days)
    resources = public_resources()
    if kind:
        resources = resources.filter(kind=kind)
    for word in (text or "").split()[:5]:
        word = word[:30]
        resources = resources.filter(
            Q(name__icontains=word) | Q(keywords__icontains=word) | Q(description__icontains=word)
            | Q(facility__name__icontains=word) | Q(procedure__name__icontains=word)
        )
    resources = list(resources[:limit])
    free = dict(
        bookable_slots([r.pk for r in resources])
        .filter(starts_at__gte=first, starts_at__lt=last)
        .values("resource_id").annotate(free=Sum(F("capacity") - F("booked")))
        .values_list("resource_id", "free")
    )
    return [{"resource": r, "free": int(free.get(r.pk) or 0)} for r in resources]


def free_days(resource: Resource, start: dt.date, end: dt.date, *, kind: ResourceKind | None = None) -> dict:
    """{date: free places} for the resource's bookable slots in start..end (JST), within the
    booking window."""
    end = min(end, start + dt.timedelta(days=MAX_SEARCH_DAYS))
    now = timezone.now()
    earliest, latest = window_of(resource, now)
    first = max(dt.datetime.combine(start, dt.time(0), tzinfo=JST), earliest)
    last = min(dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=JST), latest)
    slots = bookable_slots().filter(resource=resource, starts_at__gte=first, starts_at__lt=last)
    if kind is not None:
        kinds = SlotKind.objects.filter(slot__in=slots, kind=kind, booked__lt=F("capacity"))
        rows = (
            kinds.annotate(day=TruncDate("slot__starts_at", tzinfo=JST))
            .values("day").annotate(free=Sum(F("capacity") - F("booked"))).values_list("day", "free")
        )
    else:
        rows = (
            slots.annotate(day=TruncDate("starts_at", tzinfo=JST))
            .values("day").annotate(free=Sum(F("capacity") - F("booked"))).values_list("day", "free")
        )
    return {day: int(free) for day, free in rows}


def day_slots(resource: Resource, day: dt.date) -> list[Slot]:
    """Every slot of the day (full and blocked ones too: the page shows them as such)."""
    first = dt.datetime.combine(day, dt.time(0), tzinfo=JST)
    return list(
        Slot.objects.filter(resource=resource, starts_at__gte=first, starts_at__lt=first + dt.timedelta(days=1))
        .select_related("lottery").prefetch_related("kinds__kind").order_by("starts_at")[:MAX_SLOTS_PER_DAY]
    )


def alternatives(slot: Slot, *, kind: ResourceKind | None = None, places: int = 1, n: int = 5) -> list[Availability]:
    """The nearest bookable slots to `slot` (before and after it, same resource, in the
    booking window, with room for `places`), nearest first."""
    resource = slot.resource
    earliest, latest = window_of(resource, timezone.now())
    slots = bookable_slots().filter(resource=resource, starts_at__gte=earliest, starts_at__lt=latest)
    slots = slots.exclude(pk=slot.pk).filter(booked__lte=F("capacity") - places)
    if kind is not None:
        slots = slots.filter(kinds__kind=kind, kinds__booked__lte=F("kinds__capacity") - places)
    fields = ("pk", "resource_id", "starts_at", "ends_at", "capacity", "booked")
    after = list(slots.filter(starts_at__gt=slot.starts_at).order_by("starts_at").values_list(*fields)[:n])
    before = list(slots.filter(starts_at__lt=slot.starts_at).order_by("-starts_at").values_list(*fields)[:n])
    rows = sorted(after + before, key=lambda row: abs((row[2] - slot.starts_at).total_seconds()))[:n]
    return [
        Availability(pk, rid, resource.name, starts, ends, capacity - booked)
        for pk, rid, starts, ends, capacity, booked in sorted(rows, key=lambda row: row[2])
    ]


def booking_by_token(token: str) -> Booking | None:
    if not token or len(token) > 64:
        return None
    return Booking.objects.select_related("slot", "resource__facility", "resource__section", "kind").filter(
        token=token
    ).first()


def bookings_of_account(account_id: int) -> QuerySet[Booking]:
    return Booking.objects.filter(account_id=account_id).select_related("slot", "resource__facility", "kind")


SECTIONS_KEY = "reservations:sections-with-resources"


def sections_with_resources() -> frozenset[int]:
    """Ids of the sections that have something to book: the staff menu asks on every staff
    page, so the answer is cached for a minute (and forgotten here when a resource is saved
    or deleted: reservations.receivers_booking)."""
    found = cache.get(SECTIONS_KEY)
    if found is None:
        found = frozenset(Resource.objects.values_list("section_id", flat=True).distinct())
        cache.set(SECTIONS_KEY, found, 60)
    return found


def forget_sections_with_resources(**kwargs) -> None:
    cache.delete(SECTIONS_KEY)


# Staff reads (scoped by the acting user's sections) are the backoffice's:
# backoffice.selectors_reservations, which sits above this app.


def counts_by_state(bookings: QuerySet[Booking]) -> dict[str, int]:
    return dict(bookings.values("state").annotate(n=Count("pk")).values_list("state", "n"))
