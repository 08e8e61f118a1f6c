"""Fees (使用料): payment recorded by staff, 減免 asked by one and decided by another, and
bookings unpaid at pay_by cancelled by the sweep and the resident told."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from tenohira.audit.models import AuditRecord
from tenohira.reservations import allocation_services, services, tasks
from tenohira.reservations.errors import NotAllowed
from tenohira.reservations.models import Booking, FeeReduction, Slot

pytestmark = pytest.mark.django_db
S = Booking.State


@pytest.fixture
def clerks(db):
    users = get_user_model().objects
    return users.create_user("tanto", password="x-Passw0rd-2026"), users.create_user("kessai", password="x-Passw0rd-2026")


def _fee_booking(make_resource, make_slot, person, n=1):
    resource = make_resource(f"room-{n}", fee_yen=600, pay_within_days=3)
    slot = make_slot(resource, days_ahead=10, capacity=1)
    booking = services.book(services.Request(slot_id=slot.pk, person=person(n)))
    assert booking.fee_yen == 600 and booking.pay_by is not None
    return booking


def test_unpaid_is_cancelled_at_pay_by_and_told(make_resource, make_slot, person, clerks,
                                                 django_capture_on_commit_callbacks):
    unpaid = _fee_booking(make_resource, make_slot, person, 1)
    paid = _fee_booking(make_resource, make_slot, person, 2)
    assert allocation_services.record_payment(paid, clerks[0]) is True
    assert allocation_services.record_payment(paid, clerks[0]) is False
    assert allocation_services.lapse_unpaid() == 0  # not yet due
    later = unpaid.pay_by + dt.timedelta(minutes=1)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert allocation_services.lapse_unpaid(now=later) == 1
        assert allocation_services.lapse_unpaid(now=later) == 0
    unpaid.refresh_from_db()
    paid.refresh_from_db()
    assert unpaid.state == S.LAPSED and paid.state == S.CONFIRMED
    assert Slot.objects.get(pk=unpaid.slot_id).booked == 0
    assert [m.subject for m in mail.outbox] == ["【サンプル市】予約を取り消しました"]
    assert "支払期限までに使用料のお支払いがなかったため" in mail.outbox[0].body
    assert mail.outbox[0].to == [unpaid.email]
    assert AuditRecord.objects.filter(action="reservations.fee.paid", target=f"booking:{paid.number}").count() == 1


def test_the_sweep_is_registered(make_resource, make_slot, person):
    booking = _fee_booking(make_resource, make_slot, person)
    Booking.objects.filter(pk=booking.pk).update(pay_by=timezone.now() - dt.timedelta(seconds=1))
    assert tasks.lapse_unpaid() is False
    booking.refresh_from_db()
    assert booking.state == S.LAPSED


def test_reduction_needs_a_second_person(make_resource, make_slot, person, clerks):
    asker, approver = clerks
    booking = _fee_booking(make_resource, make_slot, person)
    with pytest.raises(NotAllowed):
        allocation_services.request_reduction(booking, asker, amount_yen=600, reason="")
    with pytest.raises(NotAllowed):
        allocation_services.request_reduction(booking, asker, amount_yen=700, reason="多すぎる")
    reduction = allocation_services.request_reduction(booking, asker, amount_yen=600, reason="市内の子ども会の活動")
    with pytest.raises(NotAllowed):
        allocation_services.request_reduction(booking, asker, amount_yen=300, reason="二つ目")  # one pending
    booking.refresh_from_db()
    assert booking.amount_due == 600  # nothing changes until approved
    # A pending 減免 holds off the unpaid sweep.
    assert allocation_services.lapse_unpaid(now=booking.pay_by + dt.timedelta(minutes=1)) == 0
    with pytest.raises(NotAllowed):
        allocation_services.decide_reduction(reduction, asker, approve=True)  # not alone
    assert allocation_services.decide_reduction(reduction, approver, approve=True, comment="規則どおり") is True
    assert allocation_services.decide_reduction(reduction, approver, approve=True) is False
    reduction.refresh_from_db()
    booking.refresh_from_db()
    assert reduction.state == FeeReduction.State.APPROVED
    assert (reduction.requested_by, reduction.decided_by) == (asker, approver)
    assert booking.amount_due == 0 and booking.reduction_reason == "市内の子ども会の活動" and booking.pay_by is None
    assert allocation_services.lapse_unpaid(now=timezone.now() + dt.timedelta(days=30)) == 0
    actions = set(AuditRecord.objects.filter(target=f"booking:{booking.number}").values_list("action", flat=True))
    assert {"reservations.fee.reduction_request", "reservations.fee.reduction_approve"} <= actions


def test_refused_reduction_changes_nothing(make_resource, make_slot, person, clerks):
    asker, approver = clerks
    booking = _fee_booking(make_resource, make_slot, person)
    reduction = allocation_services.request_reduction(booking, asker, amount_yen=300, reason="半額")
    assert allocation_services.decide_reduction(reduction, approver, approve=False, comment="対象外") is True
    booking.refresh_from_db()
    assert booking.amount_due == 600 and booking.pay_by is not None


def _staff(username, role, section):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import StaffRole
    from tests.support.integrations import staff_client

    user = get_user_model().objects.create_user(username, password="x-Passw0rd-2026", last_name=username,
                                                first_name="職員")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=user, role=role, section=section)
    return user, staff_client(user)


def test_staff_pages_reduction_by_two_people(make_resource, make_slot, person, section):
    from tenohira.backoffice.models import Role

    booking = _fee_booking(make_resource, make_slot, person)
    _asker, asker = _staff("tanto-fee", Role.HANDLER, section)
    _approver, approver = _staff("kessai-fee", Role.APPROVER, section)
    page = asker.get("/staff/reservations/lottery/fees/").content.decode()
    assert booking.number in page and "600円" in page
    url = f"/staff/reservations/lottery/fees/{booking.number}/reduction/"
    error = asker.post(url, {"amount": "abc", "reason": "子ども会", "action": "request"})
    assert "半角数字" in error.content.decode() and "子ども会" in error.content.decode()
    asker.post(url, {"amount": "600", "reason": "子ども会の活動", "action": "request"})
    reduction = FeeReduction.objects.get()
    decide = f"/staff/reservations/lottery/fees/reduction/{reduction.pk}/decide/"
    asker.post(decide, {"action": "approve"})  # a handler who asked: refused twice over
    reduction.refresh_from_db()
    assert reduction.state == FeeReduction.State.PENDING
    approver.post(decide, {"action": "approve", "comment": "確認済み"})
    reduction.refresh_from_db()
    booking.refresh_from_db()
    assert reduction.state == FeeReduction.State.APPROVED and booking.amount_due == 0
