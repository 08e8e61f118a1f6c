"""Capacity: never overbooked, a double tap books once, places come back exactly once."""

from __future__ import annotations

import pytest
from django.core import mail

from tenohira.reservations import services
from tenohira.reservations.errors import LimitReached, NotAllowed, SlotFull
from tenohira.reservations.models import Booking, Slot, SlotKind

pytestmark = pytest.mark.django_db


def test_last_place_then_full_with_alternatives(make_resource, make_slot, person):
    resource = make_resource(max_active_per_person=5)
    slot = make_slot(resource, capacity=1)
    later = make_slot(resource, days_ahead=4, capacity=2)
    first = services.book(services.Request(slot_id=slot.pk, person=person(1)))
    assert first.state == Booking.State.CONFIRMED
    with pytest.raises(SlotFull) as refused:
        services.book(services.Request(slot_id=slot.pk, person=person(2)))
    assert "たった今いっぱい" in refused.value.message
    assert [a.slot_id for a in refused.value.alternatives] == [later.pk]
    slot.refresh_from_db()
    assert slot.booked == 1
    assert Booking.objects.count() == 1


def test_double_tap_books_once(make_resource, make_slot, person):
    slot = make_slot(make_resource(), capacity=3)
    request = services.Request(slot_id=slot.pk, person=person(), request_key="k" * 32)
    assert services.book(request).pk == services.book(request).pk
    slot.refresh_from_db()
    assert slot.booked == 1


def test_cancel_gives_places_back_once(make_resource, make_slot, person, django_capture_on_commit_callbacks):
    slot = make_slot(make_resource(), capacity=2, kinds={"4m": 1, "18m": 1})
    booking = services.book(services.Request(slot_id=slot.pk, person=person(), kind_code="4m"))
    assert SlotKind.objects.get(slot=slot, kind__code="4m").booked == 1
    with pytest.raises(SlotFull):
        services.book(services.Request(slot_id=slot.pk, person=person(2), kind_code="4m"))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.cancel(booking) is True
        assert services.cancel(booking) is False
    slot.refresh_from_db()
    assert slot.booked == 0
    assert SlotKind.objects.get(slot=slot, kind__code="4m").booked == 0
    assert [m.subject for m in mail.outbox] == ["【サンプル市】予約を取り消しました"]
    assert "STATUS:CANCELLED" in mail.outbox[0].attachments[0][1]


def test_booking_mail_carries_ical(make_resource, make_slot, person, django_capture_on_commit_callbacks):
    slot = make_slot(make_resource(bring="母子健康手帳"), capacity=1)
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.book(services.Request(slot_id=slot.pk, person=person()))
    message = mail.outbox[-1]
    assert booking.number in message.body and "母子健康手帳" in message.body
    name, content, kind = message.attachments[0]
    assert name.endswith(".ics") and kind == "text/calendar"
    assert "BEGIN:VEVENT" in content and booking.number in content


def test_limit_per_person_and_blocked(make_resource, make_slot, person):
    resource = make_resource(max_active_per_person=1)
    a, b = make_slot(resource, capacity=5), make_slot(resource, days_ahead=5, capacity=5)
    services.book(services.Request(slot_id=a.pk, person=person()))
    with pytest.raises(LimitReached):
        services.book(services.Request(slot_id=b.pk, person=person()))
    Slot.objects.filter(pk=b.pk).update(blocked=True)
    with pytest.raises(SlotFull):
        services.book(services.Request(slot_id=b.pk, person=person(2)))


def test_kind_required_when_the_resource_has_kinds(make_resource, make_slot, person):
    slot = make_slot(make_resource(), capacity=2, kinds={"4m": 1})
    with pytest.raises(NotAllowed):
        services.book(services.Request(slot_id=slot.pk, person=person()))
