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


def _staff(username, role, section):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import StaffRole
    from tests.support.integrations import staff_client

    user = get_user_model().objects.create_user(username, password="x-Passw0rd-2026", last_name=username,
                                                first_name="職員")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=user, role=role, section=section)
    return user, staff_client(user)


def test_staff_pages_scoped_by_section_and_audited(make_resource, make_slot, person, section):
    from tenohira.audit.models import AuditRecord
    from tenohira.backoffice.models import Role
    from tenohira.catalog.models import Section

    slot = make_slot(make_resource(requires_review=True), capacity=2)
    booking = services.book(services.Request(slot_id=slot.pk, person=person()))
    other = services.book(services.Request(slot_id=slot.pk, person=person(2)))
    _user, clerk_client = _staff("hoken", Role.HANDLER, section)
    stranger = Section.objects.create(department=section.department, name="保育課", order=2)
    _other, other_client = _staff("hoiku", Role.HANDLER, stranger)

    page = clerk_client.get("/staff/reservations/lottery/provisional/")
    assert page.status_code == 200 and booking.number in page.content.decode() and "予約 太郎1" in page.content.decode()
    assert AuditRecord.objects.filter(action="reservations.provisional.view").count() == 1
    assert booking.number not in other_client.get("/staff/reservations/lottery/provisional/").content.decode()
    assert other_client.post(f"/staff/reservations/lottery/provisional/{booking.number}/confirm/").status_code == 404

    assert clerk_client.post(f"/staff/reservations/lottery/provisional/{booking.number}/confirm/").status_code == 302
    booking.refresh_from_db()
    assert booking.state == S.CONFIRMED

    reject_url = f"/staff/reservations/lottery/provisional/{other.number}/reject/"
    asked = clerk_client.get(reject_url)
    assert "お受けできないことにしますか" in asked.content.decode()
    # Enter in the reason field presses nothing destructive: without the button's action, nothing happens.
    clerk_client.post(reject_url, {"reason": "重複"})
    other.refresh_from_db()
    assert other.state == S.PROVISIONAL
    clerk_client.post(reject_url, {"reason": "重複のお申込みのため", "action": "reject"})
    other.refresh_from_db()
    assert other.state == S.REJECTED
    assert Slot.objects.get(pk=slot.pk).booked == 1
