"""The ticket machines' feed: POST /api/v1/counters/<code>/queue with a machine's key.

A wrong key is 401, a counter the machine is not for is 403 (audited), a bad body is 400
with a message naming the field, numbers are bounded, a huge body is 413; a reading is
stored and audited, and the OpenAPI document lists the endpoint."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.test import Client

from tenohira.audit.models import AuditRecord
from tenohira.core.fiscal import JST
from tenohira.reservations import congestion
from tenohira.reservations.models import Counter, QueueReading, TicketMachine

pytestmark = pytest.mark.django_db


@pytest.fixture
def counters(facility, section):
    first = Counter.objects.create(code="shimin", name="市民課 窓口", facility=facility, section=section,
                                   minutes_per_person=4)
    second = Counter.objects.create(code="kokuho", name="国保 窓口", facility=facility, section=section)
    return first, second


@pytest.fixture
def machine(counters):
    machine, key = congestion.add_machine("1階 発券機", ["shimin"])
    return machine, key


def post(key: str | None, code: str = "shimin", body=None, *, raw: bytes | None = None,
         content_type: str = "application/json"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key is not None else {}
    data = raw if raw is not None else json.dumps(body if body is not None else {"waiting": 3})
    return Client().post(f"/api/v1/counters/{code}/queue", data=data, content_type=content_type, **headers)


def test_a_reading_is_stored_with_an_estimate_and_audited(machine):
    _machine, key = machine
    response = post(key, body={"waiting": 7})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["counter"] == "shimin" and body["waiting"] == 7
    assert body["wait_minutes"] == 28 and body["estimated"] is True  # 7 × 4 minutes per person
    reading = QueueReading.objects.get()
    assert reading.source == QueueReading.Source.MACHINE and reading.machine_id == _machine.pk
    record = AuditRecord.objects.get(action="reservations.queue_reading")
    assert record.target == "shimin" and record.detail["waiting"] == 7 and record.actor == f"ticket-machine:{_machine.pk}"
    _machine.refresh_from_db()
    assert _machine.last_seen_at is not None


def test_the_machine_may_send_its_own_minutes_and_time(machine):
    _machine, key = machine
    at = (congestion.now() - dt.timedelta(minutes=2)).astimezone(JST).replace(microsecond=0)
    response = post(key, body={"waiting": 5, "wait_minutes": 45, "at": at.isoformat()})
    assert response.status_code == 201, response.content
    assert response.json()["wait_minutes"] == 45 and response.json()["estimated"] is False
    assert QueueReading.objects.get().recorded_at == at


@pytest.mark.parametrize("header", [None, "Bearer tnhq_wrong", "Bearer ", "Basic abc", "Bearer tnh_somethingelse"])
def test_no_or_a_wrong_key_is_401(machine, header):
    kwargs = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = Client().post("/api/v1/counters/shimin/queue", data='{"waiting": 1}', content_type="application/json",
                             **kwargs)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "発券機のキー" in response.json()["detail"]
    assert not QueueReading.objects.exists()


def test_a_key_with_the_right_prefix_but_wrong_rest_is_401(machine):
    _machine, key = machine
    forged = key[:congestion.PREFIX_LENGTH] + "x" * (len(key) - congestion.PREFIX_LENGTH)
    assert post(forged).status_code == 401


def test_a_disabled_machine_is_401(machine):
    _machine, key = machine
    TicketMachine.objects.filter(pk=_machine.pk).update(active=False)
    assert post(key).status_code == 401


def test_another_counter_or_an_unknown_one_is_403_and_audited(machine):
    _machine, key = machine
    for code in ("kokuho", "no-such-counter"):
        response = post(key, code=code)
        assert response.status_code == 403
        assert "この窓口" in response.json()["detail"]
    assert not QueueReading.objects.exists()
    denied = AuditRecord.objects.filter(action="reservations.queue_denied")
    assert sorted(denied.values_list("target", flat=True)) == ["kokuho", "no-such-counter"]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({}, "waiting", "waiting（待っている人数）を送ってください"),
    ({"waiting": -1}, "waiting", "0 以上"),
    ({"waiting": 1000}, "waiting", "999 以下"),
    ({"waiting": 10 ** 30}, "waiting", "999 以下"),
    ({"waiting": 2.5}, "waiting", "整数"),
    ({"waiting": 3.0}, "waiting", "整数"),
    ({"waiting": "3"}, "waiting", "整数"),
    ({"waiting": True}, "waiting", "整数"),
    ({"waiting": None}, "waiting", "待っている人数"),
    ({"waiting": 3, "wait_minutes": -5}, "wait_minutes", "0 以上"),
    ({"waiting": 3, "wait_minutes": 100000}, "wait_minutes", "600 以下"),
    ({"waiting": 3, "at": "きのう"}, "at", "ISO 8601"),
    ({"waiting": 3, "wating": 4}, "wating", "受け付けていません"),
])
def test_a_bad_body_is_400_naming_the_field(machine, body, field, words):
    _machine, key = machine
    response = post(key, body=body)
    assert response.status_code == 400, response.content
    messages = response.json()[field]
    assert any(words in message for message in messages), messages
    assert not QueueReading.objects.exists()


def test_odd_json_is_400(machine):
    _machine, key = machine
    for raw in (b"[1, 2]", b'"12"', b"{not json", b'{"waiting": NaN}', b'{"waiting": 1e400}', b"\xff\xfe"):
        response = post(key, raw=raw)
        assert response.status_code == 400, (raw, response.content)
    assert not QueueReading.objects.exists()


def test_a_time_far_in_the_future_or_past_is_400(machine):
    _machine, key = machine
    ahead = (congestion.now() + dt.timedelta(hours=1)).isoformat()
    behind = (congestion.now() - dt.timedelta(days=3)).isoformat()
    assert "未来" in post(key, body={"waiting": 1, "at": ahead}).json()["at"][0]
    assert "24時間" in post(key, body={"waiting": 1, "at": behind}).json()["at"][0]
    assert not QueueReading.objects.exists()


def test_a_huge_body_is_413_before_it_is_read(machine):
    _machine, key = machine
    raw = json.dumps({"waiting": 1, "pad": "x" * 5000}).encode()
    response = post(key, raw=raw)
    assert response.status_code == 413
    assert "大きすぎます" in response.json()["detail"]
    assert post("tnhq_wrong", raw=raw).status_code == 401  # a stranger learns only that the key is wrong


def test_only_json_is_accepted(machine):
    _machine, key = machine
    response = post(key, raw=b"waiting=3", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_too_many_posts_are_429(machine, settings):
    settings.TICKET_MACHINE_RATE_PER_MINUTE = 3
    _machine, key = machine
    codes = [post(key, body={"waiting": n}).status_code for n in range(4)]
    assert codes[:3] == [201, 201, 201] and codes[3] == 429


def test_only_the_hash_of_the_key_is_stored(machine):
    _machine, key = machine
    _machine.refresh_from_db()
    assert key not in (_machine.key_hash, _machine.key_prefix)
    assert _machine.key_hash == congestion.digest(key) and key.startswith(_machine.key_prefix)


def test_the_command_registers_a_machine_and_prints_its_key_once(counters, capsys):
    call_command("reservations", "ticket-machine", "add", "北 発券機", "shimin", "kokuho")
    out = capsys.readouterr().out
    key = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("キー"))
    machine = TicketMachine.objects.get(name="北 発券機")
    assert sorted(machine.counters.values_list("code", flat=True)) == ["kokuho", "shimin"]
    assert post(key, code="kokuho").status_code == 201
    call_command("reservations", "ticket-machine", "list")
    listed = capsys.readouterr().out
    assert "北 発券機" in listed and key not in listed
    call_command("reservations", "ticket-machine", "rotate", str(machine.pk))
    assert post(key, code="kokuho").status_code == 401


def test_the_command_refuses_an_unknown_counter(counters):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="nosuch"):
        call_command("reservations", "ticket-machine", "add", "x", "nosuch")
    assert not TicketMachine.objects.exists()


def test_the_openapi_document_lists_the_endpoint():
    document = Client().get("/api/v1/schema/?format=json").json()
    operation = document["paths"]["/api/v1/counters/{code}/queue"]["post"]
    assert operation["operationId"] == "counters_post_queue"
    assert {"201", "400", "401", "403", "413"} <= set(operation["responses"])
    assert {"ticketMachineBearer": []} in operation["security"]
    schema = document["components"]["schemas"]["QueueInput"]
    assert schema["properties"]["waiting"]["maximum"] == congestion.MAX_WAITING
    assert document["components"]["securitySchemes"]["ticketMachineBearer"]["scheme"] == "bearer"
