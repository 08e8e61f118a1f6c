"""Faults while e-mail is being delivered: a real delivery worker killed with SIGKILL over
and over while it sends thousands of messages. Every message arrives; a kill adds at most
one duplicate (the message in flight), recognisable by its Message-ID."""

from __future__ import annotations

import collections
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
            # Kill it while it is sending: once it has marked something, within 0.3 s.
            wait_for(lambda: sent_count() > before or worker.poll() is not None, 60, "the worker sends")
            time.sleep(rng.uniform(0, 0.3))
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
