"""仮予約 → 本予約: staff confirm or reject a provisional booking; a rejection frees the place."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from tenohira.reservations import allocation_services, services, waitlist
from tenohira.reservations.errors import NotAllowed
from tenohira.reservations.models import Booking, Slot, WaitlistEntry

pytestmark = pytest.mark.django_db
S = Booking.State


@pytest.fixture
def clerk(db):
    return get_user_model().objects.create_user("kakunin", password="x-Passw0rd-2026")


def test_confirm(make_resource, make_slot, person, clerk, django_capture_on_commit_callbacks):
    slot = make_slot(make_resource(requires_review=True), capacity=1)
    booking = services.book(services.Request(slot_id=slot.pk, person=person()))
    assert booking.state == S.PROVISIONAL
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert allocation_services.confirm(booking, clerk) is True
        assert allocation_services.confirm(booking, clerk) is False  # once
    booking.refresh_from_db()
    assert booking.state == S.CONFIRMED and booking.confirmed_at is not None
    assert [m.subject for m in mail.outbox] == ["【サンプル市】予約が確定しました"]
    assert mail.outbox[0].attachments[0][0].endswith(".ics")


def test_reject_frees_the_place_and_tells_why(make_resource, make_slot, person, clerk,
                                              django_capture_on_commit_callbacks):
    slot = make_slot(make_resource(requires_review=True), capacity=1)
    booking = services.book(services.Request(slot_id=slot.pk, person=person()))
    waiting = waitlist.join(slot, person(2))
    with pytest.raises(NotAllowed):
        allocation_services.reject(booking, clerk, "")  # a reason is required
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert allocation_services.reject(booking, clerk, "対象の月齢ではありません") is True
        assert allocation_services.reject(booking, clerk, "again") is False
    booking.refresh_from_db()
    assert booking.state == S.REJECTED and booking.cancel_reason == "対象の月齢ではありません"
    rejected = [m for m in mail.outbox if m.subject == "【サンプル市】仮予約をお受けできませんでした"]
    assert len(rejected) == 1 and "対象の月齢ではありません" in rejected[0].body
    # The freed place went to the waiting list first: counted once.
    waiting.refresh_from_db()
    assert waiting.state == WaitlistEntry.State.OFFERED
    assert Slot.objects.get(pk=slot.pk).booked == 1
    assert allocation_services.confirm(booking, clerk) is False
