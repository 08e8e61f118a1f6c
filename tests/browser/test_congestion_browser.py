"""窓口の混雑状況 at 390×844 in a real Chromium: the ticket machine posts (a real HTTP POST
to the live server with its key), a reload shows the new waiting count and wait; outside
office hours the page says 「営業時間外」. The clock is frozen through
reservations.congestion.now, which the live server's thread reads as well."""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.request
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.support.a11y import assert_accessible

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def counter_and_key(db):
    from tenohira.catalog.models import Department, Section
    from tenohira.reservations import congestion
    from tenohira.reservations.models import Counter, Facility

    section = Section.objects.create(department=Department.objects.create(name="市民部"), name="市民課")
    hall = Facility.objects.create(code="honcho", name="本庁舎", section=section, address="本町一丁目1-1")
    counter = Counter.objects.create(code="shimin-juki", name="市民課 住民記録窓口", facility=hall, section=section,
                                     minutes_per_person=6)
    congestion.store_typical(counter, [congestion.TypicalRow(2, hour, Decimal(n))
                                       for hour, n in ((9, 10), (10, 20), (11, 8))], basis="テスト")
    _machine, key = congestion.add_machine("1階 発券機", [counter.code])
    return counter, key


def freeze(monkeypatch, moment: dt.datetime) -> None:
    from tenohira.reservations import congestion

    monkeypatch.setattr(congestion, "now", lambda: moment)


def machine_posts(base_url: str, key: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{base_url}/api/v1/counters/shimin-juki/queue", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the live server)
        assert response.status == 201
        return json.loads(response.read())


def test_the_page_changes_after_the_ticket_machine_posts(phone, live_server, counter_and_key, monkeypatch):
    from tenohira.core.fiscal import JST

    _counter, key = counter_and_key
    freeze(monkeypatch, dt.datetime(2025, 6, 11, 10, 15, tzinfo=JST))  # a Wednesday morning
    phone.goto(f"{live_server.url}/")
    phone.get_by_role("link", name="窓口の混雑状況").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("窓口の混雑状況")
    section = phone.locator("#counter-shimin-juki")
    expect(section).to_contain_text("いつもの混み具合（目安）: 大変混んでいます")
    expect(section.get_by_role("table")).to_contain_text("10時台")
    assert_accessible(phone, "窓口の混雑状況（いつもの混み具合）")

    assert machine_posts(live_server.url, key, {"waiting": 9})["wait_minutes"] == 54
    phone.reload()
    expect(section).to_contain_text("9人")
    expect(section).to_contain_text("約54分")
    expect(section).to_contain_text("10:15 現在")
    expect(section).not_to_contain_text("いつもの混み具合（目安）: ")

    machine_posts(live_server.url, key, {"waiting": 3, "wait_minutes": 10})
    phone.get_by_role("link", name="最新の情報に更新する").click()
    expect(section).to_contain_text("3人")
    expect(section).to_contain_text("約10分")
    assert_accessible(phone, "窓口の混雑状況（発券機の情報）")
    # The page fits the phone: nothing wider than the viewport.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


def test_outside_office_hours_the_page_says_so(phone_without_js, live_server, counter_and_key, monkeypatch):
    from tenohira.core.fiscal import JST

    _counter, key = counter_and_key
    freeze(monkeypatch, dt.datetime(2025, 6, 11, 10, 15, tzinfo=JST))
    machine_posts(live_server.url, key, {"waiting": 9})
    freeze(monkeypatch, dt.datetime(2025, 6, 11, 17, 20, tzinfo=JST))  # after 17:15
    phone_without_js.goto(f"{live_server.url}/congestion/")
    expect(phone_without_js.locator(".congestion-closed")).to_contain_text("営業時間外")
    expect(phone_without_js.locator("#counter-shimin-juki")).to_contain_text("営業時間外")
    expect(phone_without_js.locator("#counter-shimin-juki")).not_to_contain_text("9人")

    freeze(monkeypatch, dt.datetime(2025, 6, 14, 10, 0, tzinfo=JST))  # a Saturday
    phone_without_js.reload()
    expect(phone_without_js.locator(".congestion-closed")).to_contain_text("本日は閉庁日です（土曜日）")


def test_the_closed_page_is_accessible(phone, live_server, counter_and_key, monkeypatch):
    from tenohira.core.fiscal import JST

    freeze(monkeypatch, dt.datetime(2025, 6, 14, 10, 0, tzinfo=JST))
    phone.goto(f"{live_server.url}/congestion/")
    expect(phone.locator(".congestion-closed")).to_contain_text("営業時間外")
    assert_accessible(phone, "窓口の混雑状況（営業時間外）")
