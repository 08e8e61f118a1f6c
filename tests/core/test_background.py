"""core.background in one process: the registry, the eager and embedded modes, and a
dispatch to a broker that does not answer (the row waits for the sweep; the request does not)."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from celery import Celery
from django.core import mail
from django.db import transaction

from tenohira.core import background, outbox
from tenohira.core.models import OutboxMessage

CALLS: list[tuple] = []


@background.task("tests.background.record")
def record(*args):
    CALLS.append(args)


@pytest.fixture(autouse=True)
def clean(settings):
    settings.OUTBOX_DELIVERY = outbox.WORKER
    CALLS.clear()
    background._broker_down_until = 0.0
    yield
    background._broker_down_until = 0.0


def test_tasks_and_sweeps_are_found_by_name():
    background.load()
    assert "core.outbox.deliver" in background.tasks()
    assert background.sweeps()["core.outbox.sweep"].seconds == 30
    with pytest.raises(LookupError):
        background.run("tests.background.no_such_task")


def test_a_second_function_under_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        background.task("tests.background.record")(lambda: None)


@pytest.mark.django_db(transaction=True)
def test_eager_runs_the_task_after_the_commit_and_not_on_rollback(settings):
    settings.BACKGROUND = background.EAGER
    with transaction.atomic():
        background.dispatch_on_commit("tests.background.record", 1)
        assert CALLS == []  # not inside the transaction
    assert CALLS == [(1,)]
    with pytest.raises(RuntimeError), transaction.atomic():
        background.dispatch_on_commit("tests.background.record", 2)
        raise RuntimeError("rolled back")
    assert CALLS == [(1,)]


@pytest.mark.django_db(transaction=True)
def test_eager_sends_an_enqueued_email_once_after_the_commit(settings):
    settings.BACKGROUND = background.EAGER
    with transaction.atomic():
        outbox.enqueue(kind="test", to="resident@example.jp", subject="件名", body="本文")
        assert mail.outbox == []
    assert [m.to for m in mail.outbox] == [["resident@example.jp"]]
    assert OutboxMessage.objects.get().sent_at is not None
    # A second dispatch of the same message (a redelivered task) sends nothing again.
    background.run("core.outbox.deliver", OutboxMessage.objects.get().pk)
    assert len(mail.outbox) == 1


def test_embedded_dispatches_nothing_and_the_sweep_sends(db, settings, django_capture_on_commit_callbacks):
    settings.BACKGROUND = background.EMBEDDED
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        outbox.enqueue(kind="test", to="resident@example.jp", subject="件名", body="本文")
    assert callbacks == [] and mail.outbox == []
    assert background.run_sweeps_once()["core.outbox.sweep"] == 1
    assert len(mail.outbox) == 1


def test_the_delivered_task_takes_other_due_messages_along_over_one_connection(db, settings):
    settings.BACKGROUND = background.EMBEDDED
    with transaction.atomic():
        first, *_rest = [outbox.enqueue(kind="test", to=f"r{i}@example.jp", subject="件名", body="本文") for i in range(3)]
    assert outbox.deliver_along(first.pk) == (3, 0)
    assert outbox.deliver_along(first.pk) == (0, 0)  # already sent: nothing, not even the others


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_does_not_answer_costs_the_commit_little_once_and_the_row_waits(settings, monkeypatch, caplog):
    import socket

    import tenohira.config.celery as celery_config

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    options = celery_config.app.conf.broker_transport_options  # the web side's real settings
    monkeypatch.setattr(celery_config, "app", Celery("down", broker=f"redis://127.0.0.1:{closed}/5",
                                                     broker_transport_options=options))
    settings.BACKGROUND = background.CELERY
    caplog.set_level(logging.WARNING, logger="tenohira.core.background")
    started = time.monotonic()
    with transaction.atomic():
        message = outbox.enqueue(kind="test", to="resident@example.jp", subject="件名", body="本文")
    first = time.monotonic() - started
    started = time.monotonic()
    with transaction.atomic():
        outbox.enqueue(kind="test", to="second@example.jp", subject="件名", body="本文")
    second = time.monotonic() - started
    assert first < 5 and second < 0.5, (first, second)  # the second does not try the broker again
    assert "left to the sweep" in caplog.text and "resident@" not in caplog.text
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 2
    assert background.run("core.outbox.sweep") is False
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    assert OutboxMessage.objects.get(pk=message.pk).sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_embedded_runner_stops_when_asked():
    stop = threading.Event()
    runner = threading.Thread(target=background.run_sweeps_forever, args=(stop,), kwargs={"poll": 0.05})
    runner.start()
    time.sleep(0.2)
    stop.set()
    runner.join(timeout=5)
    assert not runner.is_alive()
