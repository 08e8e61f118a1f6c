"""書かない窓口 with a form that books: a clerk enters a 粗大ごみ application at the counter,
the chosen collection day fills up before 送信, and nothing is stored — the clerk is sent
back to the page of the collection day with the reason, every answer kept."""

from __future__ import annotations

import re

import pytest

from tenohira.applications.models import Draft, Submission
from tenohira.catalog.models import Procedure
from tenohira.reservations import services
from tenohira.reservations.collection import FULL_MESSAGE
from tenohira.reservations.models import Booking, Slot
from tests.backoffice.conftest import make_user, signed_in_client
from tests.reservations.test_collection import ANSWERS, DAY_INPUT

pytestmark = pytest.mark.django_db


@pytest.fixture
def sdg(db):
    from tests.support.cluster import publish_demo_form

    publish_demo_form("SDG")
    return Procedure.objects.get(code="SDG")


def test_a_day_filled_before_the_counter_submits_stores_nothing_and_returns_to_the_day(sdg):
    clerk = make_user("sanr", "三R 担当", [("handler", sdg.section)])
    client = signed_in_client(clerk)
    response = client.post("/staff/counter/start/", {"procedure": sdg.pk})
    public_id, step = re.search(r"/staff/counter/([0-9a-f-]{36})/([a-z0-9_]+)/", response["Location"]).groups()
    while step != "collection":
        response = client.post(f"/staff/counter/{public_id}/{step}/", {"action": "continue", **ANSWERS[step]})
        assert response.status_code == 302, response.content.decode()[:2000]
        step = re.search(r"/staff/counter/[0-9a-f-]{36}/([a-z0-9_]+)/", response["Location"]).group(1)
    page = client.get(f"/staff/counter/{public_id}/collection/").content.decode()
    day = int(DAY_INPUT.findall(page)[0])
    response = client.post(f"/staff/counter/{public_id}/collection/",
                           {"action": "continue", "collection_day": str(day), "place": "entrance"})
    assert response["Location"].endswith("/check/")
    slot = Slot.objects.get(pk=day)
    for n in range(slot.capacity - slot.booked):  # the last places go to others meanwhile
        services.book(services.Request(slot_id=day, person=services.Person(name=f"住民{n}", email=f"o{n}@example.jp")))

    response = client.post(f"/staff/counter/{public_id}/check/", {"identity_document": "drivers_license"})
    assert response.status_code == 302
    assert response["Location"] == f"/staff/counter/{public_id}/collection/"
    assert not Submission.objects.exists()
    assert not Booking.objects.filter(channel=Booking.Channel.APPLICATION).exists()
    page = client.get(response["Location"]).content.decode()
    assert FULL_MESSAGE in page
    assert Draft.objects.get(public_id=public_id).raw["contact"]["district"] == ["西地区"]
