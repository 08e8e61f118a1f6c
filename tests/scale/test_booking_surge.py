"""1,000 residents press 予約する at once for the last 10 places of a session.

Two `tenohira serve` nodes (two web processes each) against one PostgreSQL database of the
test's own. The session has 40 places and 30 are taken; the neighbouring sessions have
room. Each resident first opens the booking page (its CSRF cookie and the page's one-time
request key), then all 1,000 send 予約する together, spread over both nodes.

Exactly 10 are booked (a redirect to their done page); the 990 others get the page again
with 「たった今いっぱい」 and the nearest free times to choose from (409), and nothing
answers with an error. The slot ends with 40 of 40 places taken and 10 bookings.
Runs on PostgreSQL only (several processes on one database), in the normal suite.
"""

from __future__ import annotations

import os
import re
import threading

import pytest

DATABASE_URL = os.environ.get("DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://")),
    reason="several nodes need a database server: runs on PostgreSQL (DATABASE_URL)",
)

RESIDENTS = 1000
TAKEN, CAPACITY = 30, 40
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
REQUEST_KEY = re.compile(rb'name="request_key" value="([^"]+)"')


SEED = """
import datetime as dt
from django.utils import timezone
from tenohira.catalog.models import Department, Section
from tenohira.reservations.models import Facility, Resource, Slot
section = Section.objects.create(department=Department.objects.create(name="保健福祉部"), name="健康づくり課")
facility = Facility.objects.create(code="hoken", name="保健センター", section=section)
resource = Resource.objects.create(code="kenshin", name="健康相談", facility=facility, section=section,
                                   kind="checkup", closes_hours_before=0, max_active_per_person=1)
start = timezone.now() + dt.timedelta(days=3)
slots = [Slot.objects.create(resource=resource, starts_at=start + dt.timedelta(hours=h),
                             ends_at=start + dt.timedelta(hours=h, minutes=30), capacity=%(capacity)d,
                             booked=%(taken)d if h == 0 else 0) for h in range(3)]
print(slots[0].pk)
"""


def _form(i: int, slot_id: int, token: str, key: str) -> dict[str, str]:
    return {
        "csrfmiddlewaretoken": token, "action": "book", "slot": str(slot_id), "request_key": key,
        "booker_name__family": "予約", "booker_name__given": f"住民{i}",
        "booker_name__family_kana": "ヨヤク", "booker_name__given_kana": "ジュウミン",
        "booker_email": f"resident{i}@example.jp", "booker_phone": "090-1234-5678",
    }


def test_a_thousand_at_once_for_the_last_ten_places(scale_database, tmp_path):
    import psycopg

    from tests.support.cluster import Cluster, HttpClient, encode

    # Every resident here comes from 127.0.0.1: the limit per address is lifted for the test.
    cluster = Cluster(scale_database, tmp_path, nodes=2, web_per_node=2,
                      env={"RESERVATIONS_BOOKINGS_PER_ADDRESS_PER_HOUR": str(10 * RESIDENTS)})
    cluster.migrate()
    slot_id = int(cluster.manage("shell", "-c", SEED % {"capacity": CAPACITY, "taken": TAKEN})
                  .strip().splitlines()[-1])
    book_path = "/reservations/r/kenshin/book/"
    with cluster.start(migrate=False):
        ports = cluster.ports
        # Every resident's booking page first: its CSRF cookie, token and request key.
        prepared = []
        for i in range(RESIDENTS):
            page = HttpClient(ports[i % len(ports)], timeout=60).get(f"{book_path}?slot={slot_id}")
            assert page.status == 200, page.body[:500]
            cookie = "; ".join(f"{k}={v}" for k, v in page.cookies().items())
            token = CSRF_INPUT.search(page.body).group(1).decode()
            key = REQUEST_KEY.search(page.body).group(1).decode()
            prepared.append((cookie, encode(_form(i, slot_id, token, key))))

        gate = threading.Barrier(RESIDENTS)
        outcomes: list[tuple[int, int, bytes]] = [None] * RESIDENTS  # type: ignore[list-item]

        def resident(i: int) -> None:
            cookie, body = prepared[i]
            client = HttpClient(ports[i % len(ports)], timeout=180)
            gate.wait()
            try:
                response = client.request("POST", book_path, {
                    "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
                    "Origin": f"http://127.0.0.1:{client.port}", "Referer": f"http://127.0.0.1:{client.port}{book_path}",
                }, body)
                outcomes[i] = (i, response.status, response.body)
            except OSError as exc:
                outcomes[i] = (i, -1, str(exc).encode())

        threads = [threading.Thread(target=resident, args=(i,), daemon=True) for i in range(RESIDENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)

    booked = [o for o in outcomes if o and o[1] == 302]
    refused = [o for o in outcomes if o and o[1] == 409]
    others = [o for o in outcomes if not o or o[1] not in (302, 409)]
    assert not others, [(o[1], o[2][:300]) for o in others[:5] if o]
    assert len(booked) == CAPACITY - TAKEN
    assert len(refused) == RESIDENTS - (CAPACITY - TAKEN)
    for _i, _status, body in refused:
        text = body.decode()
        assert "たった今いっぱい" in text
        assert 'name="alt_slot"' in text  # the nearest free times, to book with one tap
    with psycopg.connect(scale_database) as conn:
        slot_booked = conn.execute("SELECT booked FROM reservations_slot WHERE id = %s", [slot_id]).fetchone()[0]
        bookings = conn.execute("SELECT count(*) FROM reservations_booking WHERE slot_id = %s", [slot_id]).fetchone()[0]
    assert (slot_booked, bookings) == (CAPACITY, CAPACITY - TAKEN)
