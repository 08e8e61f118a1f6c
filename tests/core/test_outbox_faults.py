"""Faults while e-mail is being delivered: a real delivery worker killed with SIGKILL over
and over while it sends thousands of messages. Every message arrives; a kill adds at most
one duplicate (the message in flight), recognisable by its Message-ID."""

from __future__ import annotations

import collections
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tenohira.core.models import OutboxMessage
from tests.core.test_outbox import process_env, wait_for

MESSAGES = 3000
KILLS = 20
# A short lease: what a killed worker left taken goes again within seconds.
FAST_RECOVERY = {"OUTBOX_LEASE_SECONDS": "2", "EMAIL_TIMEOUT": "1"}
MESSAGE_ID = re.compile(rb"^Message-ID: <outbox\.(\d+)\.", re.MULTILINE)


def deliveries(data_dir: Path) -> collections.Counter:
    """How many times each outbox row reached the (file) mail server, by its Message-ID."""
    counts: collections.Counter = collections.Counter()
    folder = data_dir / "mail"
    for path in folder.glob("*") if folder.exists() else ():
        counts.update(int(pk) for pk in MESSAGE_ID.findall(path.read_bytes()))
    return counts


def start_worker(data_dir: Path) -> subprocess.Popen:
    env = {**process_env(data_dir), **FAST_RECOVERY}
    return subprocess.Popen(
        [sys.executable, "-c", "from tenohira.cli import main; main()", "outbox", "work", "--interval", "0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def sent_count() -> int:
    return OutboxMessage.objects.filter(sent_at__isnull=False).count()


def report(counts: collections.Counter, pks: list[int], kills: int) -> tuple[int, int]:
    lost = sum(1 for pk in pks if counts[pk] == 0)
    duplicated = sum(counts[pk] - 1 for pk in pks if counts[pk] > 1)
    print(f"\n{len(pks)} messages, {kills} kills (SIGKILL) of the delivery worker: "
          f"lost {lost}, duplicated {duplicated}, delivered {sum(counts.values())}")
    return lost, duplicated


@pytest.mark.django_db(transaction=True)
def test_killing_the_delivery_worker_again_and_again_loses_nothing_and_resends_at_most_one_per_kill(tmp_path):
    OutboxMessage.objects.bulk_create(
        OutboxMessage(kind="test", to=f"resident{i}@example.jp", subject=f"件名 {i}", body=f"本文 {i}\n" * 5,
                      reference=f"R-{i}")
        for i in range(MESSAGES)
    )
    pks = list(OutboxMessage.objects.order_by("pk").values_list("pk", flat=True))
    rng = random.Random(10)
    kills = 0
    while kills < KILLS and sent_count() < MESSAGES:
        before = sent_count()
        worker = start_worker(tmp_path)
        try:
            # Kill it while it is sending: once it has marked something, within 0.1 s.
            deadline = time.monotonic() + 60
            while sent_count() == before and worker.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.1))
        finally:
            worker.kill()
            _out, err = worker.communicate(timeout=30)
        assert worker.returncode == -signal.SIGKILL, err.decode(errors="replace")[-2000:]
        kills += 1
    # The last worker is left alone: what the killed ones held comes free after the lease.
    worker = start_worker(tmp_path)
    try:
        wait_for(lambda: sent_count() == MESSAGES, 120, "every message is sent")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    lost, duplicated = report(deliveries(tmp_path), pks, kills)
    assert kills >= 5  # the worker was really killed mid-way, several times
    assert lost == 0
    assert duplicated <= kills
    assert not OutboxMessage.objects.exclude(body="").exists()  # no body kept once sent
    for path in (tmp_path / "mail").iterdir():
        assert os.stat(path).st_mode & 0o777 == 0o600
    connection.close()


# --- a burst of submissions while processes are killed ------------------------------------

BURST = 300
CLIENTS = 4
DELIVERY_KILLS = 3
BURST_FORM = {
    "title": "障害試験の申請",
    "intro": "テストのための申請です。",
    "minutes": 1,
    "email_field": "email",
    "steps": [{"key": "about", "title": "申請する方について", "fields": [
        {"key": "full_name", "type": "text", "label": "氏名", "required": True, "max_length": 40},
        {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
    ]}],
}
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
OWNER_COOKIE = "tnh_draft"  # applications.views.OWNER_COOKIE


def http(port: int, method: str, path: str, headers: dict, body: bytes = b""):
    """One request on a new connection: (status, headers, body). OSError when the web worker
    died under it (the client then sends the same request again)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    except http.client.HTTPException as exc:
        raise OSError(str(exc)) from exc
    finally:
        conn.close()


def submit_until_done(port: int, public_id: str, secret: str, retries: list[int]) -> None:
    """What a resident's browser does: the check page (CSRF cookie and token), then 送信,
    again with the same draft (the form's idempotency key) until it lands on the done page."""
    origin = f"http://127.0.0.1:{port}"
    for _attempt in range(50):
        try:
            status, headers, body = http(port, "GET", f"/apply/{public_id}/check/", {"Cookie": f"{OWNER_COOKIE}={secret}"})
            if status == 302 and headers["Location"] == f"/apply/{public_id}/done/":
                return  # an earlier 送信 went through; its answer was lost with its worker
            if status != 200:
                raise OSError(f"GET check: {status}")
            cookie = re.search(r"csrftoken=([^;]+)", headers.get("Set-Cookie", "")).group(1)
            token = CSRF_INPUT.search(body.decode()).group(1)
            status, headers, _body = http(port, "POST", f"/apply/{public_id}/check/", {
                "Cookie": f"{OWNER_COOKIE}={secret}; csrftoken={cookie}", "Origin": origin,
                "Referer": f"{origin}/apply/{public_id}/check/", "Content-Type": "application/x-www-form-urlencoded",
            }, f"csrfmiddlewaretoken={token}".encode())
            if status == 302 and headers["Location"] == f"/apply/{public_id}/done/":
                return
            raise OSError(f"POST check: {status}")
        except (OSError, AttributeError):
            retries.append(1)
            time.sleep(0.05)
    raise AssertionError(f"{public_id}: not submitted after 50 tries")


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_submissions_survives_killed_web_workers_and_delivery_workers(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the fault-injection burst runs on PostgreSQL (the production database)")
    from tenohira.applications import services
    from tenohira.applications.models import Submission
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms.services import publish
    from tests.core.test_outbox import children_of, outbox_workers

    section = Section.objects.create(department=Department.objects.create(name="テスト部"), name="テスト課")
    version, _ = publish(Procedure.objects.create(code="FLT", section=section, name="障害試験の申請"), BURST_FORM)
    step = version.parsed().steps[0]
    drafts = []
    for i in range(BURST):
        draft, secret = services.start_draft(version)
        services.save_step(draft, step, {"full_name": [f"試験 {i}"], "email": [f"resident{i}@example.jp"]}, {}, [])
        drafts.append((str(draft.public_id), secret))

    import socket
    import threading

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", "from tenohira.cli import main; main()", "serve", "--port", str(port), "--workers", "3"],
        env={**process_env(tmp_path), **FAST_RECOVERY}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    rng = random.Random(10)
    web_kills, delivery_kills, retries, errors = [], [], [], []
    done = threading.Event()

    def web_workers() -> list[int]:
        return [pid for pid, cmd in children_of(server.pid).items() if b"background\x00work" not in cmd]

    def killer():
        """SIGKILL a random web worker every 0.3–0.8 s, and the delivery worker once it has
        sent something, DELIVERY_KILLS times (serve starts it again after 5 s)."""
        killed_delivery: set[int] = set()
        while not done.wait(rng.uniform(0.3, 0.8)):
            workers = web_workers()
            if len(workers) >= 2:  # gunicorn has started the last one killed again
                victim = rng.choice(workers)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGKILL)
                    web_kills.append(victim)
            delivery = [p for p in outbox_workers(server.pid) if p not in killed_delivery]
            if len(delivery_kills) < DELIVERY_KILLS and delivery and deliveries(tmp_path):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(delivery[0], signal.SIGKILL)
                    delivery_kills.append(delivery[0])
                    killed_delivery.add(delivery[0])

    def client(mine):
        try:
            for public_id, secret in mine:
                submit_until_done(port, public_id, secret, retries)
        except Exception as exc:  # reported below
            errors.append(exc)

    try:
        wait_for(lambda: len(web_workers()) == 3 and outbox_workers(server.pid), 60, "the server starts")
        wait_for(lambda: http(port, "GET", "/", {})[0] == 200 if _listening(port) else False, 60, "it answers")
        started = time.monotonic()
        threads = [threading.Thread(target=killer)] + [
            threading.Thread(target=client, args=(drafts[i::CLIENTS],)) for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads[1:]:
            thread.join(timeout=120)
        # Keep killing the delivery worker until it has been killed DELIVERY_KILLS times.
        wait_for(lambda: len(delivery_kills) >= DELIVERY_KILLS or time.monotonic() - started > 60, 70,
                 "the delivery worker is killed")
        done.set()
        threads[0].join(timeout=30)
        assert not errors, errors
        emails = OutboxMessage.objects.filter(kind="submission_received")
        wait_for(lambda: emails.count() >= BURST and not emails.filter(sent_at__isnull=True).exists(), 60,
                 "every confirmation is sent")
    finally:
        done.set()
        os.killpg(server.pid, signal.SIGTERM)
        server.communicate(timeout=60)

    submitted = Submission.objects.filter(draft__public_id__in=[d for d, _s in drafts])
    distinct = submitted.values("draft_id").distinct().count()
    lost, duplicated = BURST - distinct, submitted.count() - distinct
    counts = deliveries(tmp_path)
    pks = list(OutboxMessage.objects.filter(kind="submission_received").values_list("pk", flat=True))
    emails_lost = sum(1 for pk in pks if counts[pk] == 0)
    emails_duplicated = sum(counts[pk] - 1 for pk in pks if counts[pk] > 1)
    print(f"\n{BURST} submissions from {CLIENTS} clients ({len(retries)} retries), {len(web_kills)} web workers and "
          f"{len(delivery_kills)} delivery workers killed (SIGKILL): submissions lost {lost}, duplicated "
          f"{duplicated}; e-mails lost {emails_lost}, duplicated {emails_duplicated} "
          f"(bound {len(delivery_kills)}); {time.monotonic() - started:.0f} s")
    assert web_kills and delivery_kills  # faults really happened
    assert (lost, duplicated) == (0, 0)
    assert len(pks) == BURST  # one confirmation per submission, written with it
    assert emails_lost == 0 and emails_duplicated <= len(delivery_kills)
    connection.close()


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
