"""キャンセル待ち: a freed place goes to the first waiting person with an expiring hold, then
to the next; it is never counted twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from tenohira.reservations import services, waitlist
from tenohira.reservations.errors import NotAllowed
from tenohira.reservations.models import Booking, Slot, WaitlistEntry

pytestmark = pytest.mark.django_db
S = Booking.State
W = WaitlistEntry.State


def _booked(slot) -> int:
    return Slot.objects.get(pk=slot.pk).booked


def test_offer_lapses_to_the_next_and_accepting_confirms(make_resource, make_slot, person,
                                                         django_capture_on_commit_callbacks):
    slot = make_slot(make_resource(), capacity=1)
    first = services.book(services.Request(slot_id=slot.pk, person=person(1)))
    with pytest.raises(NotAllowed):
        waitlist.join(make_slot(make_resource("other"), capacity=3), person(2))  # not full: book it instead
    b = waitlist.join(slot, person(2))
    c = waitlist.join(slot, person(3))
    with pytest.raises(NotAllowed):
        waitlist.join(slot, person(2))  # once per person
    assert waitlist.position(c) == 2

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.cancel(first) is True
    b.refresh_from_db()
    assert b.state == W.OFFERED and b.booking.state == S.OFFERED
    assert b.booking.offer_expires_at > timezone.now()
    assert _booked(slot) == 1  # the place moved to the offer; it was not freed for everyone
    offers = [m for m in mail.outbox if m.subject == "【サンプル市】キャンセル待ちの枠に空きが出ました"]
    assert [m.to for m in offers] == [["taro2@example.jp"]] and b.token in offers[0].body
    assert waitlist.lapse_offers() == 0  # not yet expired

    Booking.objects.filter(pk=b.booking_id).update(offer_expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(NotAllowed):
        waitlist.accept(b)  # too late
    assert waitlist.lapse_offers() == 1
    assert waitlist.lapse_offers() == 0  # once
    b.refresh_from_db()
    c.refresh_from_db()
    assert b.state == W.LAPSED and b.booking.state == S.LAPSED
    assert c.state == W.OFFERED and c.booking.state == S.OFFERED
    assert _booked(slot) == 1

    booking = waitlist.accept(c)
    assert booking.state == S.CONFIRMED and booking.channel == Booking.Channel.WAITLIST
    assert waitlist.accept(c).pk == booking.pk  # a double tap
    c.refresh_from_db()
    assert c.state == W.ACCEPTED
    assert _booked(slot) == 1
    assert Booking.objects.filter(slot=slot, state__in=(S.CONFIRMED, S.OFFERED)).count() == 1

    # Nobody waits any more: a cancellation frees the place for everyone, once.
    assert services.cancel(booking) is True
    assert services.cancel(booking) is False
    assert _booked(slot) == 0


def test_declining_an_offer_passes_it_on_and_withdrawing_leaves_the_list(make_resource, make_slot, person):
    slot = make_slot(make_resource(), capacity=1)
    first = services.book(services.Request(slot_id=slot.pk, person=person(1)))
    b, c, d = (waitlist.join(slot, person(n)) for n in (2, 3, 4))
    assert waitlist.withdraw(c) is True
    services.cancel(first)
    b.refresh_from_db()
    assert waitlist.withdraw(b) is True  # declines the offer
    b.refresh_from_db()
    d.refresh_from_db()
    assert b.state == W.WITHDRAWN and d.state == W.OFFERED
    assert _booked(slot) == 1


def test_kinds_are_offered_to_the_same_kind_only(make_resource, make_slot, person):
    slot = make_slot(make_resource(), capacity=2, kinds={"4m": 1, "18m": 1})
    a = services.book(services.Request(slot_id=slot.pk, person=person(1), kind_code="4m"))
    services.book(services.Request(slot_id=slot.pk, person=person(2), kind_code="18m"))
    wants_18m = waitlist.join(slot, person(3), kind_code="18m")
    services.cancel(a)
    wants_18m.refresh_from_db()
    assert wants_18m.state == W.WAITING
    assert _booked(slot) == 1


def test_pages_join_accept(make_resource, make_slot, person):
    slot = make_slot(make_resource(), capacity=1)
    first = services.book(services.Request(slot_id=slot.pk, person=person(1)))
    client = Client()
    page = client.get(f"/reservations/waitlist/{slot.pk}/")
    assert page.status_code == 200 and "キャンセル待ちに登録する" in page.content.decode()
    error = client.post(f"/reservations/waitlist/{slot.pk}/", {"name": "待ち 次郎", "email": ""})
    assert error.status_code == 400 and 'value="待ち 次郎"' in error.content.decode()
    done = client.post(f"/reservations/waitlist/{slot.pk}/", {"name": "待ち 次郎", "email": "jiro@example.jp"})
    assert done.status_code == 302
    assert "1番目" in client.get(done["Location"]).content.decode()
    entry = WaitlistEntry.objects.get()
    services.cancel(first)
    offered = client.get(f"/reservations/waitlist/w/{entry.token}/").content.decode()
    assert "予約する" in offered and "ご案内の期限" in offered
    assert client.get(f"/reservations/waitlist/w/{entry.token}/accept/").status_code == 405  # POST only
    accepted = client.post(f"/reservations/waitlist/w/{entry.token}/accept/")
    entry.refresh_from_db()
    assert accepted.status_code == 302 and entry.booking.token in accepted["Location"]
    assert entry.booking.state == S.CONFIRMED


@pytest.mark.django_db(transaction=True)
def test_two_cancellations_at_once_offer_each_person_once(make_resource, make_slot, person):
    """Two bookings of a full slot cancelled at the same moment, two people waiting: each
    gets one offer, and the slot's count stays at its capacity."""
    import threading

    from django.db import connection

    slot = make_slot(make_resource(max_active_per_person=5), capacity=2)
    a = services.book(services.Request(slot_id=slot.pk, person=person(1)))
    b = services.book(services.Request(slot_id=slot.pk, person=person(2)))
    waiting = [waitlist.join(slot, person(n)) for n in (3, 4, 5)]
    barrier = threading.Barrier(2)
    errors = []

    def cancel(booking):
        try:
            barrier.wait()
            services.cancel(Booking.objects.get(pk=booking.pk))
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=cancel, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    states = [WaitlistEntry.objects.get(pk=w.pk).state for w in waiting]
    assert states == [W.OFFERED, W.OFFERED, W.WAITING]
    assert Booking.objects.filter(slot=slot, state=S.OFFERED).count() == 2
    assert _booked(slot) == 2


def test_an_offer_past_its_time_is_not_offered_on_the_page_before_the_sweep(make_resource, make_slot, person):
    slot = make_slot(make_resource(), capacity=1)
    first = services.book(services.Request(slot_id=slot.pk, person=person(1)))
    entry = waitlist.join(slot, person(2))
    services.cancel(first)
    entry.refresh_from_db()
    Booking.objects.filter(pk=entry.booking_id).update(offer_expires_at=timezone.now() - dt.timedelta(seconds=1))
    page = Client().get(f"/reservations/waitlist/w/{entry.token}/").content.decode()
    assert "ご案内の期限が過ぎたため" in page
    assert "waitlist/w/" + entry.token + "/accept/" not in page  # no 予約する that would only be refused
