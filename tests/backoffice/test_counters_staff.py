"""/staff/reservations/counters/: the waiting count entered by hand, scoped by section,
bounded like the machines' feed, audited, and shown to residents on /congestion/."""

from __future__ import annotations

import datetime as dt

import pytest

from tenohira.audit.models import AuditRecord
from tenohira.core.fiscal import JST
from tenohira.reservations import congestion
from tenohira.reservations.models import Counter, Facility, QueueReading

BASE = "/staff/reservations/counters/"


@pytest.fixture
def counters(staff):
    hall = Facility.objects.create(code="honcho", name="本庁舎", section=staff.section)
    mine = Counter.objects.create(code="kodomo", name="こども窓口", facility=hall, section=staff.section,
                                  minutes_per_person=6)
    other = Counter.objects.create(code="hoiku", name="保育窓口", facility=hall, section=staff.other_section)
    return mine, other


def test_the_list_shows_only_the_users_sections_counters(staff, staff_client, counters):
    html = staff_client(staff.handler).get(BASE).content.decode()
    assert "こども窓口" in html and "保育窓口" not in html
    assert "まだ記録がありません" in html


def test_a_clerk_records_the_waiting_count_and_it_is_audited_and_shown(staff, staff_client, counters, monkeypatch):
    # A Wednesday morning, so the congestion page is inside office hours whenever this runs.
    monkeypatch.setattr(congestion, "now", lambda: dt.datetime(2025, 6, 11, 10, 15, tzinfo=JST))
    client = staff_client(staff.handler)
    response = client.post(f"{BASE}kodomo/", {"waiting": "８", "wait_minutes": ""})  # 全角 digits are fine
    assert response.status_code == 302 and response["Location"].endswith("#counter-kodomo")
    reading = QueueReading.objects.get()
    assert (reading.waiting, reading.wait_minutes, reading.source, reading.recorded_by) == (8, None, "staff", staff.handler)
    record = AuditRecord.objects.get(action="reservations.queue_reading")
    assert record.actor == staff.handler.username and record.target == "kodomo" and record.detail["waiting"] == 8
    page = client.get(BASE).content.decode()
    assert "待ち 8人・約48分 を記録しました" in page  # 8 × 6 minutes per person
    assert "待ち 8人" in page and "職員の入力" in page
    assert "8人" in client.get("/congestion/").content.decode().split("待っている人</dt>")[1][:80]


def test_a_bad_number_is_refused_with_what_was_typed_kept(staff, staff_client, counters):
    client = staff_client(staff.handler)
    for waiting, minutes, words in (("abc", "", "待ち人数を 0〜999 の数字"), ("1000", "", "999"),
                                    ("5", "-3", "待ち時間（分）は数字"), ("5", "9999", "600 以下")):
        response = client.post(f"{BASE}kodomo/", {"waiting": waiting, "wait_minutes": minutes})
        assert response.status_code == 400
        html = response.content.decode()
        assert 'class="error-summary"' in html and words in html
        assert f'value="{waiting}"' in html
    assert not QueueReading.objects.exists()
    assert not AuditRecord.objects.filter(action="reservations.queue_reading").exists()


def test_another_sections_counter_is_404(staff, staff_client, counters):
    response = staff_client(staff.handler).post(f"{BASE}hoiku/", {"waiting": "3"})
    assert response.status_code == 404
    assert not QueueReading.objects.exists()


def test_get_is_not_allowed_on_the_record_url_and_residents_are_sent_to_sign_in(staff, staff_client, counters, client):
    assert staff_client(staff.handler).get(f"{BASE}kodomo/").status_code == 405
    response = client.post(f"{BASE}kodomo/", {"waiting": "3"})
    assert response.status_code == 302 and "/staff/login" in response["Location"]
    assert not QueueReading.objects.exists()
