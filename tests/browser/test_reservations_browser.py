"""Booking a 乳幼児健診 on a phone (390×844) in a real Chromium, with and without JavaScript:
find it, choose the 4か月児健診, a day and a time, answer the questions, 確認, 予約する; the
e-mail carries the .ics; the link in it opens the booking, which is cancelled after a
confirmation page, and the place is free again. The demo city's catalog and reservations
are the seed (tenohira.reservations.demo.base)."""

from __future__ import annotations

import datetime as dt
import os
import re

import icalendar
import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.support.a11y import assert_accessible

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def demo_reservations(sample_catalog):
    from tenohira.reservations.demo import base

    base.seed()


def _open_first_free_day(page) -> None:
    """The first day with free places: this month's, or the next month's when this month
    has none left inside the booking window."""
    for _ in range(3):
        days = page.locator(".result-list a")
        if days.count():
            days.first.click()
            return
        page.get_by_role("link", name=re.compile("次の月")).click()
    pytest.fail("no day with free places in three months")


def _book(page, base_url: str, *, with_axe: bool) -> str:
    page.goto(base_url + "/")
    page.get_by_role("link", name="施設・健診の予約").click()
    page.get_by_label("何をしたいですか").fill("乳幼児健診")
    page.get_by_role("button", name="探す").click()
    if with_axe:
        assert_accessible(page, "予約を探す")
    page.get_by_role("link", name="乳幼児健診").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("乳幼児健診")
    page.get_by_role("link", name="4か月児健診").click()
    if with_axe:
        assert_accessible(page, "予約の対象と月の空き")
    _open_first_free_day(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("の時間を選ぶ")
    if with_axe:
        assert_accessible(page, "日の時間")
    page.locator(".result-list a").first.click()

    expect(page.get_by_role("heading", level=1)).to_have_text("予約の内容を入力する")
    if with_axe:
        assert_accessible(page, "予約の入力")
    expect(page.locator("#f-booker_kind-0")).to_be_checked()  # the kind chosen before
    page.locator("#f-booker_name__family").fill("予約")
    page.locator("#f-booker_name__given").fill("花子")
    page.locator("#f-booker_name__family_kana").fill("よやく")  # hiragana becomes katakana
    page.locator("#f-booker_name__given_kana").fill("ハナコ")
    page.locator("#f-booker_email").fill("hanako@example.jp")
    page.locator("#f-booker_phone").fill("090-1234-5678")
    page.locator("#f-child_name__family").fill("予約")
    page.locator("#f-child_name__given").fill("一郎")
    page.locator("#f-child_name__family_kana").fill("ヨヤク")
    page.locator("#f-child_name__given_kana").fill("イチロウ")
    page.locator("#f-child_birth").fill("令和7年1月15日")
    # Enter in a text field goes forward to 確認 (never anything else).
    page.locator("#f-booker_phone").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("予約の内容の確認")
    expect(page.locator(".facts")).to_contain_text("ヨヤク ハナコ")
    if with_axe:
        assert_accessible(page, "予約の確認")
    page.get_by_role("button", name="予約する").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("予約が確定しました")
    if with_axe:
        assert_accessible(page, "予約の完了")
    return page.locator(".receipt-number").inner_text().strip()


@pytest.mark.parametrize("browser_page", ["phone", "phone_without_js"])
def test_book_a_checkup_get_the_ical_and_cancel(request, browser_page, live_server, demo_reservations):
    from tenohira.core.fiscal import JST
    from tenohira.reservations.models import Booking, SlotKind

    page = request.getfixturevalue(browser_page)
    with_axe = browser_page == "phone"
    mail.outbox.clear()
    number = _book(page, live_server.url, with_axe=with_axe)

    booking = Booking.objects.select_related("slot", "kind").get(number=number)
    assert booking.kind.code == "4m" and booking.name == "予約 花子" and booking.name_kana == "ヨヤク ハナコ"
    assert booking.answers["child_birth"] == "2025-01-15"
    assert SlotKind.objects.get(slot=booking.slot, kind=booking.kind).booked == 1

    message = next(m for m in mail.outbox if number in m.body)
    assert message.to == ["hanako@example.jp"]
    filename, content, content_type = message.attachments[0]
    assert filename == f"yoyaku-{number}.ics" and content_type == "text/calendar"
    event = icalendar.Calendar.from_ical(content).walk("VEVENT")[0]
    assert event.decoded("dtstart") == booking.slot.starts_at.astimezone(JST)
    assert isinstance(event.decoded("dtstart"), dt.datetime)
    assert "乳幼児健診（4か月児健診）" in str(event.get("summary"))

    link = re.search(r"https?://\S+(/reservations/b/[^/\s]+/)", message.body).group(1)
    page.goto(live_server.url + link)
    expect(page.get_by_role("heading", level=1)).to_have_text("予約の確認")
    expect(page.locator(".facts")).to_contain_text(number)
    if with_axe:
        assert_accessible(page, "予約のページ")
    page.get_by_role("link", name="予約を取り消す").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("この予約を取り消しますか")
    if with_axe:
        assert_accessible(page, "取消しの確認")
    page.get_by_role("button", name="予約を取り消す").click()
    expect(page.get_by_role("status")).to_contain_text("予約を取り消しました")
    expect(page.locator(".facts")).to_contain_text("取消し")

    booking.refresh_from_db()
    booking.slot.refresh_from_db()
    assert booking.state == Booking.State.CANCELLED
    assert booking.slot.booked == 0
    assert SlotKind.objects.get(slot=booking.slot, kind=booking.kind).booked == 0
    assert any("予約を取り消しました" in m.subject for m in mail.outbox)


def _fill_booker(page) -> None:
    page.locator("#f-booker_name__family").fill("予約")
    page.locator("#f-booker_name__given").fill("次郎")
    page.locator("#f-booker_name__family_kana").fill("ヨヤク")
    page.locator("#f-booker_name__given_kana").fill("ジロウ")
    page.locator("#f-booker_email").fill("jiro@example.jp")
    page.locator("#f-booker_phone").fill("09012345678")


def test_last_place_taken_meanwhile_then_an_alternative(phone, live_server, demo_reservations):
    """The check page is open when someone else takes the last place: 予約する shows
    「たった今いっぱい」 with the nearest free times, and one of them books with what was typed."""
    from tenohira.reservations import selectors, services
    from tenohira.reservations.models import Booking, Resource, Slot

    resource = Resource.objects.get(code="kominkan-room-1")  # one place per slot
    slot = selectors.bookable_slots([resource.pk]).filter(
        starts_at__gte=selectors.window_of(resource)[0]).order_by("starts_at").first()
    phone.goto(f"{live_server.url}/reservations/r/{resource.code}/book/?slot={slot.pk}")
    _fill_booker(phone)
    phone.get_by_role("button", name="確認へ進む").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("予約の内容の確認")
    services.book(services.Request(slot_id=slot.pk, person=services.Person(name="先の人", email="first@example.jp")))
    phone.get_by_role("button", name="予約する").click()
    expect(phone.locator(".error-summary")).to_contain_text("たった今いっぱい")
    expect(phone.locator("#f-booker_name__given")).to_have_value("次郎")
    assert_accessible(phone, "予約できなかったときの入力ページ")
    phone.locator("button[name=alt_slot]").first.click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("予約の内容の確認")
    phone.get_by_role("button", name="予約する").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("予約が確定しました")
    mine = Booking.objects.get(email="jiro@example.jp")
    assert mine.slot_id != slot.pk and Slot.objects.get(pk=slot.pk).booked == 1


def test_change_the_day(phone, live_server, demo_reservations):
    from tenohira.reservations import selectors, services
    from tenohira.reservations.models import Booking, Resource

    resource = Resource.objects.get(code="nyuyoji-kenshin")
    first = selectors.bookable_slots([resource.pk]).filter(
        starts_at__gte=selectors.window_of(resource)[0]).order_by("starts_at").first()
    booking = services.book(services.Request(slot_id=first.pk, kind_code="4m",
                                             person=services.Person(name="予約 三郎", email="saburo@example.jp")))
    phone.goto(f"{live_server.url}/reservations/b/{booking.token}/")
    phone.get_by_role("link", name="日時を変更する").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("変更する日を選ぶ")
    assert_accessible(phone, "変更する日")
    _open_first_free_day(phone)
    expect(phone.get_by_role("heading", level=1)).to_contain_text("の時間を選ぶ")
    assert_accessible(phone, "変更する時間")
    phone.locator("input[name=slot]").first.check()
    phone.get_by_role("button", name="確認へ進む").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("この日時に変更しますか")
    assert_accessible(phone, "変更の確認")
    phone.get_by_role("button", name="変更する").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("予約が確定しました")
    booking.refresh_from_db()
    assert booking.state == Booking.State.CANCELLED
    new = services.replacement_of(booking)
    assert new is not None and new.slot_id != first.pk and new.kind.code == "4m"
    expect(phone.locator(".receipt-number")).to_have_text(new.number)
