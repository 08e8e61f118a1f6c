"""A closure day entered after the slots were made stops that day's slots (休止, with the
reason), keeps the bookings already made for staff to call, and reopens them when it is
removed or moved; a resource also open on non-business days is left alone."""

from __future__ import annotations

import datetime as dt

import pytest

from tenohira.core.fiscal import JST
from tenohira.core.models import ClosureDay
from tenohira.reservations import services
from tenohira.reservations.errors import SlotFull
from tenohira.reservations.models import Booking, OpeningRule, Slot

pytestmark = pytest.mark.django_db


def _rule(resource, business_days_only=True):
    OpeningRule.objects.create(resource=resource, weekdays="0123456", start=dt.time(9), end=dt.time(12),
                               slot_minutes=60, capacity=3, business_days_only=business_days_only,
                               valid_from=dt.date(2020, 1, 1))


def test_a_closure_day_stops_the_days_slots_and_its_removal_reopens_them(make_resource, make_slot, person):
    kenshin, hall = make_resource("kenshin"), make_resource("hall", name="ホール")
    _rule(kenshin)
    _rule(hall, business_days_only=False)  # open on weekends too: its staff decide
    slot, other_day = make_slot(kenshin, days_ahead=10, capacity=3), make_slot(kenshin, days_ahead=11, capacity=3)
    hall_slot = make_slot(hall, days_ahead=10, capacity=3)
    kept = services.book(services.Request(slot_id=slot.pk, person=person(1)))
    day = slot.starts_at.astimezone(JST).date()

    closure = ClosureDay.objects.create(date=day, reason="選挙の開票")
    slot.refresh_from_db()
    assert slot.blocked and slot.block_reason == "閉庁日（選挙の開票）"
    assert not Slot.objects.get(pk=other_day.pk).blocked and not Slot.objects.get(pk=hall_slot.pk).blocked
    assert Booking.objects.get(pk=kept.pk).state == Booking.State.CONFIRMED  # staff call the resident
    with pytest.raises(SlotFull):
        services.book(services.Request(slot_id=slot.pk, person=person(2)))

    closure.date = day + dt.timedelta(days=1)  # moved to the next day
    closure.save()
    assert not Slot.objects.get(pk=slot.pk).blocked
    assert Slot.objects.get(pk=other_day.pk).blocked

    Slot.objects.filter(pk=slot.pk).update(blocked=True, block_reason="空調の点検")  # a 休止 staff set
    closure.delete()
    assert not Slot.objects.get(pk=other_day.pk).blocked
    assert Slot.objects.get(pk=slot.pk).block_reason == "空調の点検"  # left as staff set it
