"""前日のお知らせ: bookings that start tomorrow (JST) are e-mailed once, never twice, and
never when cancelled or starting another day."""

from __future__ import annotations

import pytest
from django.core import mail

from tenohira.reservations import services, tasks
from tenohira.reservations.models import Booking

pytestmark = pytest.mark.django_db


def test_reminder_is_sent_once(make_resource, make_slot, person, django_capture_on_commit_callbacks):
    resource = make_resource(bring="母子健康手帳", max_active_per_person=5)
    tomorrow = make_slot(resource, days_ahead=1, hour=13, capacity=5)
    later = make_slot(resource, days_ahead=3, hour=13, capacity=5)
    due = services.book(services.Request(slot_id=tomorrow.pk, person=person(1)))
    cancelled = services.book(services.Request(slot_id=tomorrow.pk, person=person(2)))
    services.cancel(cancelled)
    services.book(services.Request(slot_id=later.pk, person=person(3)))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_reminders() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_reminders() == 0
        tasks.remind()  # the periodic sweep finds nothing left either
    assert [m.to for m in mail.outbox] == [[due.email]]
    message = mail.outbox[0]
    assert message.subject == "【サンプル市】明日のご予約のお知らせ"
    assert due.number in message.body and "母子健康手帳" in message.body
    assert message.attachments[0][0].endswith(".ics")
    assert Booking.objects.get(pk=due.pk).reminded_at is not None
    assert Booking.objects.get(pk=cancelled.pk).reminded_at is None


def test_the_sweep_sends_through_the_periodic_task(make_resource, make_slot, person,
                                                     django_capture_on_commit_callbacks):
    slot = make_slot(make_resource(), days_ahead=1, hour=10, capacity=1)
    services.book(services.Request(slot_id=slot.pk, person=person()))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.remind() is False  # one booking: far below a full batch, nothing left
    assert len(mail.outbox) == 1
