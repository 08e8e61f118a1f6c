"""粗大ごみ: the application books a real collection day on the district's route.

Driven through the resident's real pages (Django test client): the district, then a day
the page offers; the place is taken with the submission; a day that filled up between the
step and 送信 stores nothing and sends the resident back with the message, every answer
kept; a rejected or withdrawn application gives its place back once.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from tenohira.applications.models import Draft, Submission
from tenohira.reservations import services
from tenohira.reservations.collection import FULL_MESSAGE
from tenohira.reservations.models import Booking, Resource, Slot

pytestmark = pytest.mark.django_db

ANSWERS = {
    "applicant": {"applicant_name__family": "佐藤", "applicant_name__given": "健",
                  "applicant_name__family_kana": "さとう", "applicant_name__given_kana": "けん"},
    "contact": {"address__postal_code": "963-8601", "address__prefecture": "福島県", "address__city": "郡山市",
                "address__town": "朝日", "address__street": "1-23-7", "address__building": "",
                "district": "西地区", "phone": "090-1234-5678", "email": "ken.sato@example.jp"},
    "items": {"items-count": "1", "items-0-item": "sofa", "items-0-quantity": "1"},
}
STEP = re.compile(r"/apply/([0-9a-f-]{36})/([a-z0-9_]+)/")
DAY_INPUT = re.compile(r'name="collection_day" value="(\d+)"')


@pytest.fixture
def sdg(db):
    """The demo 粗大ごみ form, published, with the demo city's four collection routes."""
    from tests.support.cluster import publish_demo_form

    publish_demo_form("SDG")  # seeds the routes too (reservations.demo.collection)


def offered_days(html: str) -> list[int]:
    return [int(v) for v in DAY_INPUT.findall(html)]


def up_to_collection(client: Client) -> tuple[str, str]:
    """Start and answer every page before 収集日と出す場所; returns (public id, that page's HTML)."""
    response = client.post("/procedures/SDG/apply/")
    public_id, step = STEP.search(response["Location"]).groups()
    while step != "collection":
        response = client.post(f"/apply/{public_id}/{step}/", {"action": "continue", **ANSWERS[step]})
        assert response.status_code == 302, response.content.decode()[:3000]
        step = STEP.search(response["Location"]).group(2)
    page = client.get(f"/apply/{public_id}/collection/")
    assert page.status_code == 200
    return public_id, page.content.decode()


def choose_day(client: Client, public_id: str, slot_id: int, **extra):
    response = client.post(f"/apply/{public_id}/collection/",
                           {"action": "continue", "collection_day": str(slot_id), "place": "entrance", **extra})
    assert response.status_code == 302 and response["Location"].endswith("/check/"), response.content.decode()[:3000]


def fill(slot: Slot) -> None:
    """Other residents book every place left on the day (through the real service)."""
    for n in range(slot.capacity - Slot.objects.get(pk=slot.pk).booked):
        services.book(services.Request(slot_id=slot.pk, person=services.Person(
            name=f"住民{n}", email=f"other{n}@example.jp")))


def submit(client: Client, public_id: str):
    return client.post(f"/apply/{public_id}/check/", {"consent": "yes"})


def test_the_form_offers_the_districts_free_days_and_books_the_one_chosen(sdg, django_capture_on_commit_callbacks):
    client = Client(HTTP_HOST="localhost")
    public_id, page = up_to_collection(client)
    west = Resource.objects.get(kind=Resource.Kind.COLLECTION, district="西地区")
    days = offered_days(page)
    assert days and set(Slot.objects.filter(pk__in=days).values_list("resource_id", flat=True)) == {west.pk}
    assert "空き 30" in page
    # A day with no place left is not offered.
    full = Slot.objects.get(pk=days[1])
    fill(full)
    page = client.get(f"/apply/{public_id}/collection/").content.decode()
    assert full.pk not in offered_days(page) and days[0] in offered_days(page)

    slot = Slot.objects.get(pk=days[0])
    choose_day(client, public_id, slot.pk)
    check = client.get(f"/apply/{public_id}/check/").content.decode()
    assert "8:30～12:00（西地区）" in check
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, public_id)
    assert response.status_code == 302 and response["Location"].endswith("/done/")

    submission = Submission.objects.get(draft__public_id=public_id)
    booking = Booking.objects.get(submission=submission)
    assert booking.slot_id == slot.pk and booking.state == Booking.State.CONFIRMED
    assert booking.channel == Booking.Channel.APPLICATION
    assert (booking.name, booking.email, booking.phone) == ("佐藤 健", "ken.sato@example.jp", "09012345678")
    assert Slot.objects.get(pk=slot.pk).booked == 1
    done = client.get(f"/apply/{public_id}/done/").content.decode()
    assert "収集日" in done and booking.number in done and f"/reservations/b/{booking.token}/" in done
    # The booking's e-mail carries the day as an iCalendar file.
    booked = [m for m in mail.outbox if booking.number in m.body]
    assert booked and booked[0].attachments[0][0] == f"yoyaku-{booking.number}.ics"
    assert "BEGIN:VEVENT" in booked[0].attachments[0][1]
    # The city comes to the resident: the place is the address given, not the centre's.
    assert "場所: お申し込みの住所" in booked[0].body and "環境保全センター" not in booked[0].body
    assert "LOCATION:お申し込みの住所" in booked[0].attachments[0][1].replace("\r\n ", "")


def test_a_day_filled_between_the_step_and_the_submit_stores_nothing_and_asks_again(sdg):
    client = Client(HTTP_HOST="localhost")
    public_id, page = up_to_collection(client)
    first, other = offered_days(page)[:2]
    choose_day(client, public_id, first)
    fill(Slot.objects.get(pk=first))  # the last places went a moment ago

    response = submit(client, public_id)
    assert response.status_code == 302
    assert response["Location"] == f"/apply/{public_id}/collection/?return=check"
    assert not Submission.objects.exists()
    assert not Booking.objects.filter(channel=Booking.Channel.APPLICATION).exists()
    assert Slot.objects.get(pk=first).booked == Slot.objects.get(pk=first).capacity

    page = client.get(response["Location"]).content.decode()
    assert 'class="error-summary"' in page and FULL_MESSAGE in page
    assert 'href="#f-collection_day"' in page
    assert first not in offered_days(page) and other in offered_days(page)
    # Every answer is kept: the earlier pages and this page's other answer.
    draft = Draft.objects.get(public_id=public_id)
    assert draft.raw["contact"]["district"] == ["西地区"]
    assert draft.raw["items"]["items-0-item"] == ["sofa"]
    assert 'value="entrance" checked' in page
    # Shown once: the message is not carried to the next visit.
    assert FULL_MESSAGE not in client.get(response["Location"]).content.decode()

    choose_day(client, public_id, other, **{"return": "check"})
    response = submit(client, public_id)
    assert response["Location"].endswith("/done/")
    booking = Booking.objects.get(submission__draft__public_id=public_id)
    assert booking.slot_id == other


def test_a_day_of_another_district_is_refused_at_the_step(sdg):
    client = Client(HTTP_HOST="localhost")
    public_id, _page = up_to_collection(client)
    east = Slot.objects.filter(resource__district="東地区").order_by("-starts_at").first()
    response = client.post(f"/apply/{public_id}/collection/",
                           {"action": "continue", "collection_day": str(east.pk), "place": "entrance"})
    assert response.status_code == 400
    assert "収集日を、表示された日から選んでください。" in response.content.decode()


@pytest.mark.parametrize("to_status", [Submission.Status.REJECTED, Submission.Status.WITHDRAWN])
def test_a_rejected_or_withdrawn_application_gives_the_place_back_once(sdg, to_status):
    from tenohira.applications.history import record_event

    client = Client(HTTP_HOST="localhost")
    public_id, page = up_to_collection(client)
    slot = Slot.objects.get(pk=offered_days(page)[0])
    choose_day(client, public_id, slot.pk)
    fill_before = Slot.objects.get(pk=slot.pk).booked
    assert submit(client, public_id)["Location"].endswith("/done/")
    submission = Submission.objects.get(draft__public_id=public_id)
    assert Slot.objects.get(pk=slot.pk).booked == fill_before + 1

    record_event(submission, Submission.Status.UNDER_REVIEW, actor_label="担当")
    assert Slot.objects.get(pk=slot.pk).booked == fill_before + 1  # still booked while under review
    record_event(submission, to_status, actor_label="担当")
    booking = Booking.objects.get(submission=submission)
    assert booking.state == Booking.State.CANCELLED and booking.cancel_reason
    assert Slot.objects.get(pk=slot.pk).booked == fill_before
    # Once: the same state recorded again (a second click, a replay) frees nothing more.
    record_event(submission, to_status, actor_label="担当")
    assert Slot.objects.get(pk=slot.pk).booked == fill_before
    status = client.get(f"/apply/{public_id}/done/").content.decode()
    assert "取消し" in status


def _returned_for_the_day(client: Client, public_id: str) -> tuple[Submission, str]:
    """The application sent, 審査中, then 差戻し of the collection day; returns the link's token."""
    from django.contrib.auth import get_user_model

    from tenohira.backoffice import services as backoffice
    from tenohira.backoffice.models import Role, StaffRole

    submission = Submission.objects.get(draft__public_id=public_id)
    handler = get_user_model().objects.create_user("sanr", last_name="三R", first_name="担当")
    StaffRole.objects.create(user=handler, role=Role.HANDLER, section=submission.section)
    backoffice.transition(handler, submission.receipt_number, Submission.Status.UNDER_REVIEW)
    links = []
    backoffice.request_correction(
        handler, submission.receipt_number, fields=[{"path": "collection_day", "note": "この日は伺えません"}],
        message="収集日を選び直してください。", link_for=lambda token: links.append(token) or f"https://x/{token}/",
    )
    return submission, links[0]


def test_a_correction_of_the_day_moves_the_booking_or_is_refused_when_the_day_filled(sdg):
    client = Client(HTTP_HOST="localhost")
    public_id, page = up_to_collection(client)
    first, second, third = offered_days(page)[:3]
    choose_day(client, public_id, first)
    assert submit(client, public_id)["Location"].endswith("/done/")
    submission, token = _returned_for_the_day(client, public_id)

    fill(Slot.objects.get(pk=second))  # the day the resident picks first is full by now
    refused = client.post(f"/corrections/{token}/", {"action": "resubmit", "collection_day": str(second)})
    assert refused.status_code != 302 and FULL_MESSAGE in refused.content.decode()
    submission.refresh_from_db()
    assert submission.status == Submission.Status.RETURNED and submission.version == 1
    kept = Booking.objects.get(submission=submission)
    assert kept.slot_id == first and kept.state == Booking.State.CONFIRMED

    moved = client.post(f"/corrections/{token}/", {"action": "resubmit", "collection_day": str(third)})
    assert moved.status_code == 302
    submission.refresh_from_db()
    assert submission.status == Submission.Status.RESUBMITTED
    bookings = {b.slot_id: b.state for b in Booking.objects.filter(submission=submission)}
    assert bookings == {first: Booking.State.CANCELLED, third: Booking.State.CONFIRMED}
    assert Slot.objects.get(pk=first).booked == 0 and Slot.objects.get(pk=third).booked == 1
