"""Dates and ids a browser never sends, sent anyway: every reservation page answers with a
page (a 4xx or the page with today's month), never an error, and does bounded work."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.backoffice.conftest import make_user, signed_in_client

pytestmark = pytest.mark.django_db

FAR_DAYS = ["0001-01-01", "9999-12-31", "2026-13-40", "1e9999999", "２０２６-１２-０１"]


@pytest.fixture
def resource(make_resource, make_slot):
    resource = make_resource("kenshin")
    make_slot(resource, capacity=2)
    return resource


@pytest.mark.parametrize("day", FAR_DAYS)
def test_resident_pages_refuse_days_far_away(resource, day):
    client = Client(HTTP_HOST="localhost")
    assert client.get(f"/reservations/r/kenshin/{day}/").status_code in (302, 400, 404)
    assert client.get("/reservations/r/kenshin/", {"month": day[:7]}).status_code == 200
    assert client.get("/reservations/r/kenshin/", {"month": day}).status_code == 200


@pytest.mark.parametrize("slot", ["1e9999999", "99999999999999999999999", "-1", "", "１"])
def test_resident_booking_page_refuses_slot_ids_that_are_not_ids(resource, slot):
    client = Client(HTTP_HOST="localhost")
    assert client.get("/reservations/r/kenshin/book/", {"slot": slot}).status_code == 400
    assert client.post("/reservations/r/kenshin/book/", {"slot": slot, "action": "book"}).status_code == 400


@pytest.mark.parametrize("day", FAR_DAYS)
def test_staff_pages_refuse_days_far_away(resource, day, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    clerk = make_user("hoken", "保健 担当", [("handler", resource.section)])
    client = signed_in_client(clerk)
    for path in (f"/staff/reservations/r/{resource.code}/", f"/staff/reservations/r/{resource.code}/week/"):
        assert client.get(path, {"date": day}).status_code in (200, 400)
    response = client.post("/staff/reservations/lottery/new/", {
        "resource": resource.pk, "title": "抽選", "period_start": day, "period_end": day,
        "entries_open_at": f"{day}T09:00", "entries_close_at": f"{day}T17:00", "draw_at": f"{day}T18:00",
    })
    assert response.status_code in (200, 400, 404)
