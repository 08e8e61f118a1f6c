"""`tenohira worker` as a real Celery worker on a real Redis (database 5, flushed): e-mail
dispatched after a commit is sent once; a dispatch lost because the broker was down is
sent by the sweep; a worker killed with SIGKILL mid-batch loses nothing and resends at
most its in-flight messages (docs/decisions/0003-*); the embedded mode needs no broker."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from tenohira.core import background, outbox
from tenohira.core.models import OutboxMessage
from tests.core.test_outbox import mail_files, process_env, wait_for
from tests.core.test_outbox_faults import deliveries

BROKER = "redis://127.0.0.1:6379/5"
COMMAND = [sys.executable, "-c", "from tenohira.cli import main; main()"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def broker():
    import redis

    client = redis.Redis.from_url(BROKER)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379 (scripts/bootstrap --test starts it)")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def worker_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {**process_env(data_dir), "BACKGROUND": "celery", "CELERY_BROKER_URL": BROKER,
            "OUTBOX_LEASE_SECONDS": "2", "EMAIL_TIMEOUT": "1", **extra}


def start_worker(data_dir: Path, *options: str, **extra: str) -> tuple[subprocess.Popen, Path]:
    log = data_dir / f"worker-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*COMMAND, "worker", "--concurrency", "2", *options],
                                   env=worker_env(data_dir, **extra), stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its pool processes die with it below
    wait_for(lambda: b" ready." in log.read_bytes() or process.poll() is not None, 60, "the worker is ready")
    assert process.poll() is None, log.read_text(errors="replace")[-2000:]
    return process, log


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


@pytest.fixture
def celery_side(settings):
    """This test process as the web side: BACKGROUND=celery on the test's broker."""
    import tenohira.config.celery as celery_config

    settings.BACKGROUND = background.CELERY
    settings.OUTBOX_DELIVERY = outbox.WORKER
    background._broker_down_until = 0.0
    celery_config.app.conf.broker_url = BROKER
    yield
    background._broker_down_until = 0.0


@pytest.mark.django_db(transaction=True)
def test_an_email_enqueued_in_a_transaction_is_sent_once_by_the_worker(tmp_path, broker, celery_side):
    worker, log = start_worker(tmp_path)
    try:
        with transaction.atomic():
            message = outbox.enqueue(kind="test", to="resident@example.jp", subject="受付", body="本文")
        # Well before the first periodic sweep (30 s): the dispatch did it.
        wait_for(lambda: "resident@example.jp" in mail_files(tmp_path), 15, "the worker sends it")
        time.sleep(1)
    finally:
        stop(worker)
    assert deliveries(tmp_path)[message.pk] == 1
    assert b"core.outbox.deliver" in log.read_bytes()
    assert OutboxMessage.objects.get().sent_at is not None
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_dispatch_lost_while_the_broker_was_down_is_sent_by_the_sweep(tmp_path, broker, celery_side, monkeypatch):
    from celery import Celery

    import tenohira.config.celery as celery_config

    worker, _log = start_worker(tmp_path, BACKGROUND_SWEEP_SECONDS="1")
    try:
        # The web side cannot reach the broker; the worker can.
        down = Celery("down", broker=f"redis://127.0.0.1:{closed_port()}/5",
                      broker_transport_options=celery_config.app.conf.broker_transport_options)
        monkeypatch.setattr(celery_config, "app", down)
        with transaction.atomic():
            message = outbox.enqueue(kind="test", to="lost@example.jp", subject="受付", body="本文")
        assert background._broker_down_until > 0  # the dispatch failed
        wait_for(lambda: "lost@example.jp" in mail_files(tmp_path), 20, "the sweep sends it")
    finally:
        stop(worker)
    assert deliveries(tmp_path)[message.pk] == 1
    connection.close()


MESSAGES = 600
KILLS = 3
CONCURRENCY = 2


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_resends_at_most_what_was_in_flight(tmp_path, broker):
    OutboxMessage.objects.bulk_create(
        OutboxMessage(kind="test", to=f"resident{i}@example.jp", subject=f"件名 {i}", body=f"本文 {i}", reference=f"R-{i}")
        for i in range(MESSAGES)
    )
    pks = list(OutboxMessage.objects.values_list("pk", flat=True))
    sent = OutboxMessage.objects.filter(sent_at__isnull=False)
    rng = random.Random(12)
    kills = 0
    while kills < KILLS and sent.count() < MESSAGES:
        before = sent.count()
        # The sweep at start takes a batch; one that says more is waiting queues the next.
        worker, log = start_worker(tmp_path, BACKGROUND_SWEEP_SECONDS="1")
        wait_for(lambda: sent.count() > before or worker.poll() is not None, 30, "the worker is sending")
        time.sleep(rng.uniform(0, 0.05))
        os.killpg(worker.pid, signal.SIGKILL)  # the machine goes: worker and pool processes
        worker.wait(timeout=30)
        kills += 1
    worker, _log = start_worker(tmp_path, BACKGROUND_SWEEP_SECONDS="1")
    try:
        wait_for(lambda: sent.count() == MESSAGES, 60, "every message is sent")
    finally:
        stop(worker)
    counts = deliveries(tmp_path)
    lost = sum(1 for pk in pks if counts[pk] == 0)
    duplicated = sum(counts[pk] - 1 for pk in pks if counts[pk] > 1)
    print(f"\n{MESSAGES} messages, {kills} kills (SIGKILL) of a Celery worker with {CONCURRENCY} processes: "
          f"lost {lost}, duplicated {duplicated}")
    assert kills >= 2
    assert lost == 0
    assert duplicated <= kills * CONCURRENCY  # one in flight per pool process
    assert not OutboxMessage.objects.exclude(body="").exists()
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_the_embedded_mode_sends_email_with_no_broker(tmp_path, settings):
    settings.OUTBOX_DELIVERY = outbox.WORKER
    env = {**process_env(tmp_path), "BACKGROUND": "embedded", "CELERY_BROKER_URL": f"redis://127.0.0.1:{closed_port()}/5"}
    runner = subprocess.Popen([*COMMAND, "background", "work", "--interval", "0.1"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with transaction.atomic():
            outbox.enqueue(kind="test", to="embedded@example.jp", subject="受付", body="本文")
        wait_for(lambda: "embedded@example.jp" in mail_files(tmp_path), 20, "the background process sends it")
    finally:
        runner.send_signal(signal.SIGTERM)
        output, _ = runner.communicate(timeout=30)
    assert runner.returncode == 0, output.decode(errors="replace")[-2000:]
    connection.close()


def test_worker_refuses_without_celery_or_a_reachable_broker(tmp_path):
    env = {**process_env(tmp_path), "BACKGROUND": "embedded"}
    result = subprocess.run([*COMMAND, "worker"], env=env, capture_output=True, timeout=60)
    assert result.returncode != 0
    assert "BACKGROUND=celery" in result.stderr.decode()
    env = {**env, "BACKGROUND": "celery", "CELERY_BROKER_URL": f"redis://127.0.0.1:{closed_port()}/5"}
    started = time.monotonic()
    result = subprocess.run([*COMMAND, "worker"], env=env, capture_output=True, timeout=60)
    assert result.returncode != 0
    assert "ブローカー" in result.stderr.decode() and "Redis が起動しているか" in result.stderr.decode()
    assert time.monotonic() - started < 30
