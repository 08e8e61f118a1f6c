"""The staff day view of a resource in a real browser at phone size, checked with axe-core:
a clerk of the resource's section records one resident's visit (来所), marks another as
来所なし, and blocks a later slot (休止) with a reason; the slot page then lists the booking
kept on it with the phone number to call."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_survey_acceptance import STAFF_PASSWORD, sign_in
from tests.support.a11y import assert_accessible

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _world():
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import StaffRole
    from tenohira.catalog.models import Department, Section
    from tenohira.core.fiscal import JST
    from tenohira.reservations import services
    from tenohira.reservations.models import Facility, Resource, Slot

    department = Department.objects.create(name="こども部（予約）")
    section = Section.objects.create(department=department, name="こども家庭支援課（予約）")
    facility = Facility.objects.create(code="hoken-b", name="保健センター", section=section)
    resource = Resource.objects.create(code="kenshin-b", name="乳幼児健診", facility=facility, section=section,
                                       kind=Resource.Kind.CHECKUP, closes_hours_before=0, change_hours_before=0)
    clerk = get_user_model().objects.create_user("yoyaku-tanto", password=STAFF_PASSWORD, last_name="予約",
                                                 first_name="担当")
    TOTPDevice.objects.create(user=clerk, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=clerk, role="handler", section=section)

    now = timezone.now()
    first = Slot.objects.create(resource=resource, starts_at=now + dt.timedelta(days=1),
                                ends_at=now + dt.timedelta(days=1, minutes=30), capacity=3)
    came = services.book(services.Request(slot_id=first.pk, person=services.Person(
        name="来所 花子", email="came@example.jp", phone="090-1000-0001")))
    missed = services.book(services.Request(slot_id=first.pk, person=services.Person(
        name="欠席 太郎", email="missed@example.jp", phone="090-1000-0002")))
    # The session began half an hour ago (bookings are only ever made ahead of time).
    start = now - dt.timedelta(minutes=30)
    Slot.objects.filter(pk=first.pk).update(starts_at=start, ends_at=start + dt.timedelta(minutes=30))
    day = start.astimezone(JST).date()
    late = dt.datetime.combine(day, dt.time(23, 0), tzinfo=JST)
    if late == start:
        late -= dt.timedelta(hours=1)
    second = Slot.objects.create(resource=resource, starts_at=late + dt.timedelta(days=1),
                                 ends_at=late + dt.timedelta(days=1, minutes=30), capacity=2)
    kept = services.book(services.Request(slot_id=second.pk, person=services.Person(
        name="連絡 待子", email="kept@example.jp", phone="090-1000-0003")))
    Slot.objects.filter(pk=second.pk).update(starts_at=late, ends_at=late + dt.timedelta(minutes=30))
    return {"clerk": clerk, "day": day, "came": came, "missed": missed, "kept": kept, "second": second,
            "late": late.strftime("%H:%M")}


def test_day_view_check_in_no_show_and_block(phone: Page, live_server, settings):
    from tenohira.audit.models import AuditRecord
    from tenohira.reservations.models import Booking, Slot

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    w = _world()
    base = live_server.url
    sign_in(phone, base, w["clerk"])
    phone.goto(f"{base}/staff/reservations/")
    phone.get_by_role("link", name="乳幼児健診", exact=True).click()
    expect(phone.get_by_role("heading", name="乳幼児健診")).to_be_visible()
    phone.goto(f"{base}/staff/reservations/r/kenshin-b/?date={w['day'].isoformat()}")
    expect(phone.get_by_role("heading", name="乳幼児健診")).to_be_visible()
    expect(phone.get_by_role("cell", name="来所 花子", exact=True)).to_be_visible()
    assert_accessible(phone, "the staff day view of a resource")

    phone.get_by_role("button", name=re.compile(r"^来所\s*:\s*来所 花子$")).click()
    expect(phone.get_by_text("来所 花子さん（")).to_be_visible()
    assert Booking.objects.get(pk=w["came"].pk).state == Booking.State.CHECKED_IN

    phone.get_by_role("button", name=re.compile(r"^来所なし\s*:\s*欠席 太郎$")).click()
    expect(phone.get_by_text("欠席 太郎さん（")).to_be_visible()
    assert Booking.objects.get(pk=w["missed"].pk).state == Booking.State.NO_SHOW
    expect(phone.get_by_text("来所済み 1件")).to_be_visible()

    phone.get_by_role("link", name=re.compile(f"この枠を休止する\\s*: .* {w['late']}$")).click()
    expect(phone.get_by_role("heading", name="この枠の予約（1件）")).to_be_visible()
    assert_accessible(phone, "the slot page with the block form")
    phone.get_by_label("休止の理由").fill("空調の点検")
    phone.get_by_role("button", name="この枠を休止する").click()
    expect(phone.get_by_text("予約済みの1件はそのままです")).to_be_visible()
    expect(phone.get_by_role("cell", name="090-1000-0003")).to_be_visible()
    slot = Slot.objects.get(pk=w["second"].pk)
    assert slot.blocked and slot.block_reason == "空調の点検"
    assert Booking.objects.get(pk=w["kept"].pk).state == Booking.State.CONFIRMED

    phone.get_by_role("link", name="この日の予約に戻る").click()
    expect(phone.get_by_text("空調の点検")).to_be_visible()
    actions = [r.detail["action"] for r in AuditRecord.objects.filter(action="reservation_action").order_by("pk")]
    assert actions == ["check_in", "no_show", "block"]
    assert AuditRecord.objects.filter(action="reservation_view", detail__page="day").count() >= 3


def test_the_other_staff_pages_are_accessible_and_book_at_the_counter(phone: Page, live_server, settings):
    """The list, the week, 代理予約 with a full slot's refusal and its alternatives, the
    booking, the 取消し confirmation and 枠を作る, each checked with axe-core."""
    from django.utils import timezone

    from tenohira.reservations.models import Booking, Slot

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    w = _world()
    base = live_server.url
    now = timezone.now()
    full = Slot.objects.create(resource=w["second"].resource, starts_at=now + dt.timedelta(days=2),
                               ends_at=now + dt.timedelta(days=2, minutes=30), capacity=1, booked=1)
    free = Slot.objects.create(resource=w["second"].resource, starts_at=now + dt.timedelta(days=3),
                               ends_at=now + dt.timedelta(days=3, minutes=30), capacity=2)
    sign_in(phone, base, w["clerk"])
    phone.goto(f"{base}/staff/reservations/")
    assert_accessible(phone, "the list of resources")
    phone.goto(f"{base}/staff/reservations/r/kenshin-b/week/?date={w['day'].isoformat()}")
    expect(phone.get_by_role("heading", name="来所なし（この週 0件）")).to_be_visible()
    assert_accessible(phone, "the week view")
    phone.goto(f"{base}/staff/reservations/r/kenshin-b/generate/")
    assert_accessible(phone, "making slots")

    phone.goto(f"{base}/staff/reservations/r/kenshin-b/book/?slot={full.pk}")
    phone.get_by_role("radio", name="電話").check()
    phone.get_by_label("氏名", exact=True).fill("電話 太郎")
    phone.get_by_label("電話番号").fill("03-1234-5678")
    phone.get_by_role("button", name="予約する").click()
    expect(phone.get_by_role("alert")).to_contain_text("いっぱいになりました")
    expect(phone.get_by_label("氏名", exact=True)).to_have_value("電話 太郎")
    assert_accessible(phone, "the refusal with alternatives")
    phone.get_by_role("radio", name=re.compile("（空き 2）")).check()
    phone.get_by_role("button", name="選んだ枠で予約する").click()
    expect(phone.get_by_role("heading", name=re.compile("^予約"))).to_be_visible()
    made = Booking.objects.get(name="電話 太郎")
    assert made.slot_id == free.pk and made.channel == Booking.Channel.PHONE
    assert_accessible(phone, "a booking")
    phone.get_by_role("link", name="この予約を取り消す").click()
    expect(phone.get_by_role("heading", name="予約を取り消しますか")).to_be_visible()
    assert_accessible(phone, "the cancel confirmation")
    # Enter in the reason is a new line in a textarea: it never presses 取り消す.
    phone.get_by_label("取消しの理由").fill("本人から電話")
    phone.get_by_label("取消しの理由").press("Enter")
    made.refresh_from_db()
    assert made.state == Booking.State.CONFIRMED
    phone.get_by_role("button", name="予約を取り消す").click()
    expect(phone.get_by_text("電話 太郎さん（")).to_be_visible()
    made.refresh_from_db()
    assert made.state == Booking.State.CANCELLED
