"""The e-mail outbox in production mode: requests only write the message; a delivery
worker sends pending messages in batches over one connection, pauses after a refusal,
never sends a message twice, and runs as `tenohira outbox work`."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from tenohira.core import outbox
from tenohira.core.models import OutboxMessage

OPENED: list[int] = []


class CountingBackend(LocmemBackend):
    """The test mail server; counts the connections opened."""

    def open(self):
        OPENED.append(1)
        return super().open()


class PickyBackend(LocmemBackend):
    """A mail server that refuses one recipient and accepts the others."""

    def send_messages(self, messages):
        for message in messages:
            if "refused@" in message.to[0]:
                raise ConnectionRefusedError("550 mailbox unavailable (test)")
        return super().send_messages(messages)


def queue(n: int, *, to: str = "resident{i}@example.jp") -> list[OutboxMessage]:
    with transaction.atomic():
        return [
            outbox.enqueue(kind="test", to=to.format(i=i), subject=f"件名 {i}", body=f"本文 {i}", reference=f"R-{i}")
            for i in range(n)
        ]


@pytest.fixture
def worker_mode(settings):
    settings.OUTBOX_DELIVERY = outbox.WORKER
    settings.EMAIL_BACKEND = f"{__name__}.CountingBackend"
    OPENED.clear()


def test_in_worker_mode_a_request_only_writes_the_message(db, worker_mode, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queue(1)
    assert callbacks == []  # nothing is sent after the commit
    assert mail.outbox == []
    assert OutboxMessage.objects.get().sent_at is None


def test_the_worker_sends_a_batch_over_one_connection(db, worker_mode):
    queue(7)
    assert outbox.deliver_batch(limit=5) == (5, 0)
    assert len(OPENED) == 1
    assert [m.subject for m in mail.outbox] == [f"件名 {i}" for i in range(5)]  # oldest first
    assert outbox.deliver_batch(limit=5) == (2, 0)
    assert outbox.deliver_batch(limit=5) == (0, 0)
    assert len(OPENED) == 2  # nothing pending: no connection at all
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {1}


def test_a_refused_message_waits_and_the_others_are_sent(db, worker_mode, settings):
    settings.EMAIL_BACKEND = f"{__name__}.PickyBackend"
    queue(2)
    refused = outbox.enqueue(kind="test", to="refused@example.jp", subject="届かない", body="本文")
    before = timezone.now()
    assert outbox.deliver_batch() == (2, 1)
    refused.refresh_from_db()
    assert refused.sent_at is None and refused.attempts == 1
    assert "550 mailbox unavailable" in refused.last_error
    assert before + dt.timedelta(seconds=59) < refused.next_attempt_at <= timezone.now() + dt.timedelta(minutes=1)
    # Not tried again during its pause: the worker polls every second.
    assert outbox.deliver_batch() == (0, 0)
    OutboxMessage.objects.filter(pk=refused.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert outbox.deliver_batch() == (0, 1)
    refused.refresh_from_db()
    assert refused.attempts == 2
    assert refused.next_attempt_at > timezone.now() + dt.timedelta(seconds=110)  # 2 minutes this time


def test_the_pause_grows_to_an_hour_and_the_message_is_given_up_after_max_attempts(
    db, worker_mode, settings, caplog
):
    assert [outbox.retry_pause(n).total_seconds() / 60 for n in (1, 2, 3, 4, 7, 8, 20)] == [1, 2, 4, 8, 60, 60, 60]
    settings.EMAIL_BACKEND = f"{__name__}.PickyBackend"
    message = outbox.enqueue(kind="test", to="refused@example.jp", subject="届かない", body="本文", reference="R-9")
    OutboxMessage.objects.filter(pk=message.pk).update(attempts=outbox.MAX_ATTEMPTS - 1)
    with caplog.at_level("ERROR", logger="tenohira.core.outbox"):
        assert outbox.deliver_pending() == (0, 1)
    given_up = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(given_up) == 1 and "given up after 10 attempts" in given_up[0].getMessage()
    assert "R-9" in given_up[0].getMessage() and "refused@" not in given_up[0].getMessage()
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=None)
    assert outbox.deliver_batch() == (0, 0)  # never tried again
    assert outbox.deliver_pending() == (0, 0)


def test_outbox_send_tries_every_pending_message_now_once(db, worker_mode, settings):
    settings.EMAIL_BACKEND = f"{__name__}.PickyBackend"
    queue(3)
    refused = outbox.enqueue(kind="test", to="refused@example.jp", subject="届かない", body="本文")
    OutboxMessage.objects.update(next_attempt_at=timezone.now() + dt.timedelta(minutes=30))  # all in their pause
    out = io.StringIO()
    call_command("outbox", "send", stdout=out)
    assert out.getvalue().strip() == "送信 3 件、失敗 1 件"
    refused.refresh_from_db()
    assert refused.attempts == 1  # tried once, not once per batch


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_message(worker_mode):
    queue(60)
    barrier = threading.Barrier(3)
    results, errors = [], []

    def work():
        try:
            barrier.wait(timeout=30)
            sent = 0
            while True:
                batch_sent, _failed = outbox.deliver_batch(limit=7)
                if not batch_sent:
                    break
                sent += batch_sent
            results.append(sent)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(results) == 60
    subjects = [m.subject for m in mail.outbox]
    assert sorted(subjects) == sorted(f"件名 {i}" for i in range(60))  # each exactly once
    assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {1}


def test_each_message_has_a_stable_message_id_and_loses_its_body_once_sent(db, worker_mode, settings):
    settings.OUTBOX_MESSAGE_ID_DOMAIN = "mail.city.example.jp"
    (message,) = queue(1)
    expected = outbox.message_id(message)
    assert expected == outbox.message_id(OutboxMessage.objects.get(pk=message.pk))  # the same on a resend
    assert expected.startswith(f"<outbox.{message.pk}.") and expected.endswith("@mail.city.example.jp>")
    assert outbox.deliver_batch() == (1, 0)
    assert mail.outbox[0].extra_headers["Message-ID"] == expected
    assert "Message-ID: " + expected in mail.outbox[0].message().as_string()
    stored = OutboxMessage.objects.get()
    assert stored.body == "" and stored.sent_at is not None and stored.lease_until is None
    assert (stored.to, stored.subject, stored.reference) == ("resident0@example.jp", "件名 0", "R-0")


def test_a_taken_message_is_left_alone_until_its_lease_has_passed(db, worker_mode):
    """A worker killed after taking a batch: its messages wait for the lease, then go once."""
    queue(3)
    taken = outbox._take(outbox._pending(), limit=2)  # what the killed worker took, never sent
    assert [m.subject for m in taken] == ["件名 0", "件名 1"]
    assert outbox.deliver_batch() == (1, 0)  # another worker sends only the free one
    assert [m.subject for m in mail.outbox] == ["件名 2"]
    OutboxMessage.objects.filter(pk__in=[m.pk for m in taken]).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert outbox.deliver_batch() == (2, 0)
    assert sorted(m.subject for m in mail.outbox) == ["件名 0", "件名 1", "件名 2"]
    assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {1}


class SlowBackend(LocmemBackend):
    """A mail server that takes longer than half the lease for each message."""

    def send_messages(self, messages):
        time.sleep(0.6)
        return super().send_messages(messages)


def test_a_slow_mail_server_makes_the_worker_free_the_rest_of_its_batch(db, worker_mode, settings):
    settings.EMAIL_BACKEND = f"{__name__}.SlowBackend"
    settings.OUTBOX_LEASE_SECONDS = 1
    queue(3)
    assert outbox.deliver_batch() == (1, 0)  # then half the lease had passed
    assert OutboxMessage.objects.filter(sent_at__isnull=True, lease_until__isnull=True).count() == 2


# --- the worker process ------------------------------------------------------------------


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def process_env(data_dir: Path) -> dict[str, str]:
    """The environment of a server process on this test's database (the data committed by
    a transactional test is visible to it); mail goes to files in data_dir/mail."""
    env = {k: v for k, v in os.environ.items() if k not in {"EMAIL_HOST", "TENOHIRA_DEMO"}}
    env.update(DATABASE_URL=database_url(), TENOHIRA_DATA_DIR=str(data_dir), OUTBOX_DELIVERY="worker",
               DJANGO_SETTINGS_MODULE="tenohira.config.settings")
    return env


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def mail_files(data_dir: Path) -> str:
    folder = data_dir / "mail"
    return "".join(p.read_text(errors="replace") for p in folder.glob("*")) if folder.exists() else ""


@pytest.mark.django_db(transaction=True)
def test_outbox_work_sends_what_requests_queued_and_stops_on_sigterm(tmp_path):
    with override_settings(OUTBOX_DELIVERY=outbox.WORKER):
        queue(3)
    worker = subprocess.Popen(
        [sys.executable, "-c", "from tenohira.cli import main; main()", "outbox", "work", "--interval", "0.2"],
        env=process_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: not OutboxMessage.objects.filter(sent_at__isnull=True).exists(), 30, "the messages are sent")
        text = mail_files(tmp_path)
        assert all(f"resident{i}@example.jp" in text for i in range(3))
        # Written later: picked up by the next poll.
        with override_settings(OUTBOX_DELIVERY=outbox.WORKER):
            outbox.enqueue(kind="test", to="late@example.jp", subject="後から", body="本文")
        wait_for(lambda: "late@example.jp" in mail_files(tmp_path), 30, "the later message is sent")
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output.decode(errors="replace")[-2000:]


def children_of(pid: int) -> dict[int, bytes]:
    """{child pid: its command line} of a running process, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found[int(entry)] = cmdline
    return found


def outbox_workers(pid: int) -> list[int]:
    """The background process(es) of a `tenohira serve` (core.background; it sends e-mail)."""
    return [child for child, cmdline in children_of(pid).items() if b"background\x00work" in cmdline]


def start_serve(data_dir: Path, *options: str) -> subprocess.Popen:
    """`tenohira serve` with one web worker on a free port, on this test's database."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return subprocess.Popen(
        [sys.executable, "-c", "from tenohira.cli import main; main()", "serve", "--port", str(port),
         "--workers", "1", *options],
        env=process_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )


@pytest.mark.django_db(transaction=True)
def test_serve_runs_the_delivery_worker_and_starts_it_again_when_it_dies(tmp_path):
    server = start_serve(tmp_path)
    try:
        first = wait_for(lambda: outbox_workers(server.pid), 30, "serve starts the e-mail worker")
        assert len(first) == 1
        with override_settings(OUTBOX_DELIVERY=outbox.WORKER):
            outbox.enqueue(kind="test", to="first@example.jp", subject="一通目", body="本文")
        wait_for(lambda: "first@example.jp" in mail_files(tmp_path), 30, "the worker sends it")

        os.kill(first[0], signal.SIGKILL)
        second = wait_for(lambda: [p for p in outbox_workers(server.pid) if p != first[0]], 30, "a new worker")
        with override_settings(OUTBOX_DELIVERY=outbox.WORKER):
            outbox.enqueue(kind="test", to="second@example.jp", subject="二通目", body="本文")
        wait_for(lambda: "second@example.jp" in mail_files(tmp_path), 30, "the new worker sends it")
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output.decode(errors="replace")[-2000:]
    assert not Path(f"/proc/{second[0]}").exists() or b"background" not in Path(f"/proc/{second[0]}/cmdline").read_bytes()
    assert b"background worker" in output  # started, restarted: in the server's log


@pytest.mark.django_db(transaction=True)
def test_serve_starts_no_delivery_worker_when_asked_not_to(tmp_path):
    server = start_serve(tmp_path, "--no-outbox-worker")
    try:
        wait_for(lambda: any(b"gunicorn" in c or b"serve" in c for c in children_of(server.pid).values()), 30,
                 "the web worker starts")
        time.sleep(2)  # the master's loop has turned a few times
        assert outbox_workers(server.pid) == []
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)


@pytest.mark.django_db(transaction=True)
def test_the_migration_blanks_the_bodies_of_messages_sent_before_it():
    from django.db.migrations.executor import MigrationExecutor

    sent = OutboxMessage.objects.create(kind="test", to="a@example.jp", subject="件名", body="確認コード: X",
                                        sent_at=timezone.now())
    pending = OutboxMessage.objects.create(kind="test", to="b@example.jp", subject="件名", body="本文")
    executor = MigrationExecutor(connection)
    leaf = executor.loader.graph.leaf_nodes("core")
    executor.migrate([("core", "0004_outbox_lease")])
    try:
        executor.loader.build_graph()
        executor.migrate([("core", "0005_blank_sent_bodies")])
        # Read only the body: later migrations add columns the schema at 0005 has not.
        bodies = OutboxMessage.objects.values_list("body", flat=True)
        assert bodies.get(pk=sent.pk) == ""
        assert bodies.get(pk=pending.pk) == "本文"  # not sent yet: still needed
    finally:
        executor.loader.build_graph()
        executor.migrate(leaf)  # the next test in this worker expects today's schema
