"""粗大ごみ on a phone (390×844), in a real Chromium, with and without JavaScript: the
district, then a collection day the page offers; the done page shows the day and the
route's slot has one place fewer."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from tests.support.a11y import assert_accessible

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def sdg(db):
    from tests.support.cluster import publish_demo_form

    publish_demo_form("SDG")  # with the demo city's collection routes


def _continue(page: Page) -> None:
    page.locator('.button[name="action"][value="continue"]').click()


def _apply(page: Page, base: str, *, check_a11y: bool) -> int:
    """Fill the form up to 送信; returns the id of the collection day chosen."""
    page.goto(f"{base}/procedures/SDG/apply/")
    page.get_by_role("button", name="申請を始める").click()
    page.fill('[name="applicant_name__family"]', "佐藤")
    page.fill('[name="applicant_name__given"]', "健")
    page.fill('[name="applicant_name__family_kana"]', "サトウ")
    page.fill('[name="applicant_name__given_kana"]', "ケン")
    _continue(page)
    page.fill('[name="address__postal_code"]', "963-8601")
    page.fill('[name="address__prefecture"]', "福島県")
    page.fill('[name="address__city"]', "郡山市")
    page.fill('[name="address__town"]', "朝日")
    page.fill('[name="address__street"]', "1-23-7")
    page.get_by_label("南地区（安積・三穂田・中田）").check(force=True)
    page.fill('[name="phone"]', "090-1234-5678")
    page.fill('[name="email"]', "ken.sato@example.jp")
    _continue(page)
    page.check('input[name="items-0-item"][value="sofa"]', force=True)
    page.fill('[name="items-0-quantity"]', "1")
    _continue(page)
    expect(page.get_by_role("heading", name="収集日と出す場所")).to_be_visible()
    days = page.locator('input[name="collection_day"]')
    expect(days.first).to_be_attached()
    if check_a11y:
        assert_accessible(page, "the collection-day step")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first = days.first
    slot_id = int(first.get_attribute("value"))
    first.check(force=True)
    page.get_by_label("玄関の前").check(force=True)
    _continue(page)
    expect(page.locator("h1")).to_contain_text("確認")
    expect(page.get_by_text("8:30～12:00（南地区）")).to_be_visible()
    page.get_by_label("申込内容に誤りがないことを確認し").check(force=True)
    page.get_by_role("button", name="送信する").click()
    return slot_id


def _assert_booked(page: Page, slot_id: int) -> None:
    from tenohira.reservations.models import Booking, Slot

    expect(page.get_by_role("heading", name="申請を受け付けました")).to_be_visible()
    expect(page.get_by_role("heading", name="収集日")).to_be_visible()
    booking = Booking.objects.select_related("slot").get()
    assert booking.slot_id == slot_id and booking.submission_id is not None
    expect(page.get_by_text(f"予約番号: {booking.number}")).to_be_visible()
    assert Slot.objects.get(pk=slot_id).booked == 1
    assert Slot.objects.get(pk=slot_id).resource.district == "南地区"


def test_book_a_collection_day_with_the_application(phone, live_server, sdg):
    slot_id = _apply(phone, live_server.url, check_a11y=True)
    _assert_booked(phone, slot_id)
    assert_accessible(phone, "the done page with the collection day")


def test_book_a_collection_day_without_javascript(phone_without_js, live_server, sdg):
    slot_id = _apply(phone_without_js, live_server.url, check_a11y=False)
    _assert_booked(phone_without_js, slot_id)
