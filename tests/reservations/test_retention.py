"""保存期間: `tenohira reservations purge` erases who booked, entered a lottery or waited,
a year after the slot ended — counted only without --apply — and keeps what the figures
need."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from tenohira.audit.models import AuditRecord
from tenohira.reservations import services, waitlist
from tenohira.reservations.models import Booking, Slot, WaitlistEntry
from tenohira.reservations.retention import ERASED_NAME

pytestmark = pytest.mark.django_db


def test_purge_erases_personal_data_of_old_slots_only(make_resource, make_slot, person):
    resource = make_resource(max_active_per_person=5)
    old, recent = make_slot(resource, capacity=1), make_slot(resource, days_ahead=5, capacity=2)
    gone = services.book(services.Request(slot_id=old.pk, person=person(1), answers={"concern": "発達の相談"}))
    waiting = waitlist.join(Slot.objects.get(pk=old.pk), person(2))
    kept = services.book(services.Request(slot_id=recent.pk, person=person(3)))
    Booking.objects.filter(pk=gone.pk).update(state=Booking.State.CHECKED_IN)
    # The old slot ended 400 days ago.
    long_ago = timezone.now() - dt.timedelta(days=400)
    Slot.objects.filter(pk=old.pk).update(starts_at=long_ago - dt.timedelta(hours=1), ends_at=long_ago)

    out = io.StringIO()
    call_command("reservations", "purge", stdout=out)
    assert "予約 1 件、抽選の申込み 0 件、キャンセル待ち 1 件を削除の対象です" in out.getvalue()
    assert Booking.objects.get(pk=gone.pk).email == "taro1@example.jp"  # a dry run changes nothing

    call_command("reservations", "purge", "--apply", stdout=io.StringIO())
    erased = Booking.objects.get(pk=gone.pk)
    assert (erased.name, erased.email, erased.phone, erased.answers) == (ERASED_NAME, "", "", {})
    assert erased.state == Booking.State.CHECKED_IN and erased.slot_id == old.pk  # the figures stay
    assert WaitlistEntry.objects.get(pk=waiting.pk).email == ""
    assert Booking.objects.get(pk=kept.pk).email == "taro3@example.jp"
    record = AuditRecord.objects.get(action="retention.reservations_purge")
    assert record.detail["bookings"] == 1 and record.detail["waitlist_entries"] == 1
    again = io.StringIO()
    call_command("reservations", "purge", "--apply", stdout=again)
    assert "予約 0 件" in again.getvalue()
