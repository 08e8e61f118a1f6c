"""Deliveries sent in batches: a worker takes many with one lease, builds each submission's
document once, writes the outcomes a group at a time, and keeps its connections to a target
open; none of it may cost a guarantee (each delivery accepted once by the receiver, at most
the unrecorded group of a dead worker sent twice, nothing held past its lease)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tenohira.core import background
from tenohira.integrations import layout, services
from tenohira.integrations.contrib import webhook as webhook_kind
from tenohira.integrations.models import Delivery, DeliveryTarget
from tests.support.integrations import free_port, make_world, running_receiver, submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    # Embedded: nothing is dispatched, so the deliveries wait for the sweep the test runs.
    settings.BACKGROUND = "embedded"
    settings.INTEGRATIONS_KEY = "test-integrations-key"
    settings.INTEGRATIONS_RETRY_BASE_SECONDS = 60
    settings.INTEGRATIONS_MAX_ATTEMPTS = 4
    settings.INTEGRATIONS_WEBHOOK_TIMEOUT_SECONDS = 2
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db):
    return make_world()


def webhook(world, name: str, url: str = "http://127.0.0.1:1/") -> DeliveryTarget:
    return DeliveryTarget.objects.create(name=name, kind="webhook", section=world.section, config={"url": url})


def point(target: DeliveryTarget, receiver) -> None:
    DeliveryTarget.objects.filter(pk=target.pk).update(config={"url": receiver.url})


def expire_leases() -> None:
    """As if the lease of a worker that died had run out."""
    past = timezone.now() - dt.timedelta(seconds=1)
    Delivery.objects.filter(state="sending").update(lease_until=past, next_attempt_at=past)


def test_a_batch_costs_the_same_queries_however_many_it_sends_and_one_document_per_submission(world, monkeypatch):
    first, second = webhook(world, "住民記録システム"), webhook(world, "福祉システム")
    built = []
    original = layout.submission_document

    def counting(submission):
        built.append(submission.pk)
        return original(submission)

    monkeypatch.setattr(layout, "submission_document", counting)
    with running_receiver(services.signing_key_text(first)) as one, \
            running_receiver(services.signing_key_text(second)) as two:
        point(first, one)
        point(second, two)
        submissions = [submit(world.procedure) for _ in range(6)]
        assert Delivery.objects.filter(state="pending").count() == 12
        with CaptureQueriesContext(connection) as queries:
            assert services.sweep() is False  # 12 of a batch of 100: nothing more waiting
        states = (one.state(), two.state())
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}
    # Take (lock and lease), targets, submissions, attachments, one UPDATE for the outcomes,
    # plus the transaction's own statements: not one query per delivery.
    assert len(queries) <= 8, [q["sql"][:80] for q in queries.captured_queries]
    assert sorted(built) == sorted(s.pk for s in submissions)  # once per submission, not per target
    for state, target in zip(states, (first, second), strict=True):
        assert state["bad_signatures"] == 0 and state["duplicates"] == 0
        ids = {str(i) for i in Delivery.objects.filter(target=target).values_list("delivery_id", flat=True)}
        assert set(state["accepted"]) == ids
        # Each document carries its own delivery block, the rest is the submission's.
        for delivery_id, document in state["accepted"].items():
            assert document["delivery"]["id"] == delivery_id and document["delivery"]["event"] == "submitted"
            assert document["items"]["氏名"] == "山田\u3000花子"


def test_one_commit_dispatches_one_task_and_a_task_takes_waiting_deliveries_along(world, settings, monkeypatch):
    first, second = webhook(world, "住民記録システム"), webhook(world, "福祉システム")
    dispatched = []
    monkeypatch.setattr(background, "dispatch_on_commit", lambda name, *args: dispatched.append((name, args)))
    settings.BACKGROUND = "celery"  # new deliveries wait INTEGRATIONS_SWEEP_GRACE_SECONDS for their task
    with running_receiver(services.signing_key_text(first)) as one, \
            running_receiver(services.signing_key_text(second)) as two:
        point(first, one)
        point(second, two)
        submit(world.procedure)
        submit(world.procedure)
        pks = sorted(Delivery.objects.values_list("pk", flat=True))
        assert [(name, len(args)) for name, args in dispatched] == [("integrations.deliver", 2)] * 2
        assert services.sweep() is False and not Delivery.objects.exclude(state="pending").exists()
        # The first message's task sends its two deliveries and the other two, already waiting.
        assert background.run("integrations.deliver", *dispatched[0][1]) is None
        assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
        # The second message's task, and a message of one delivery from before, find nothing.
        assert services.deliver(*dispatched[1][1]) is None and services.deliver(pks[0]) is None
        attempts = [*one.state()["attempts"].values(), *two.state()["attempts"].values()]
    assert attempts == [1, 1, 1, 1]


def test_a_worker_dying_mid_batch_sends_again_at_most_its_unrecorded_group(world, monkeypatch):
    target = webhook(world, "住民記録システム")
    monkeypatch.setattr(services, "RECORD_EVERY", 5)
    monkeypatch.setattr(services, "RECORD_SECONDS", 3600)

    class Killed(BaseException):
        """SIGKILL: nothing after it runs in the worker, not even a finally."""

    sent = []
    post = webhook_kind.post
    record = services._record

    def dying_post(*args, **kwargs):
        answer = post(*args, **kwargs)
        sent.append(1)
        if len(sent) == 13:  # the 13th is accepted by the receiver, then the worker dies
            monkeypatch.setattr(services, "_record", lambda unrecorded: None)
            raise Killed
        return answer

    with running_receiver(services.signing_key_text(target)) as receiver:
        point(target, receiver)
        for _ in range(20):
            submit(world.procedure)
        monkeypatch.setattr(webhook_kind, "post", dying_post)
        with pytest.raises(Killed):
            services.sweep()
        assert Delivery.objects.filter(state="delivered").count() == 10  # two groups of five recorded
        assert Delivery.objects.filter(state="sending").count() == 10  # 3 sent, 7 never tried
        monkeypatch.setattr(webhook_kind, "post", post)
        monkeypatch.setattr(services, "_record", record)
        assert services.sweep() is False
        assert Delivery.objects.filter(state="sending").count() == 10  # held until the lease passes
        expire_leases()
        services.sweep()
        state = receiver.state()
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
    assert len(state["accepted"]) == 20 and state["bad_signatures"] == 0
    # Sent twice: only the three the dead worker had sent but not recorded (fewer than a group).
    assert state["duplicates"] == 3 and sorted(state["attempts"].values()).count(2) == 3


def test_a_batch_past_half_its_lease_frees_what_it_has_not_tried(world, monkeypatch):
    target = webhook(world, "住民記録システム")
    clock = [0.0]
    monkeypatch.setattr(services.time, "monotonic", lambda: clock[0])
    post = webhook_kind.post

    def slow_post(*args, **kwargs):
        clock[0] += 25  # each answer takes 25 s of the 120 s lease
        return post(*args, **kwargs)

    monkeypatch.setattr(webhook_kind, "post", slow_post)
    with running_receiver(services.signing_key_text(target)) as receiver:
        point(target, receiver)
        for _ in range(5):
            submit(world.procedure)
        services.sweep()
        # Three tried (0, 25, 50 s); at 75 s, past half the lease, the other two are freed, due now.
        assert Delivery.objects.filter(state="delivered").count() == 3
        freed = Delivery.objects.filter(state="sending")
        assert freed.count() == 2 and not freed.filter(lease_until__isnull=False).exists()
        assert not freed.filter(next_attempt_at__gt=timezone.now()).exists()
        services.sweep()
        state = receiver.state()
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
    assert sorted(state["attempts"].values()) == [1] * 5


@pytest.mark.parametrize("detected", [True, False])
def test_a_kept_connection_the_target_has_closed_is_replaced_without_a_retry(world, monkeypatch, detected):
    """The receiver restarts between two deliveries: the kept connection is dead. Found
    before use (the socket reads as closed) or only when the request fails on it, the
    delivery goes out on a new connection at once, not a minute later."""
    if not detected:
        monkeypatch.setattr(webhook_kind, "_dropped", lambda connection: False)
    port = free_port()
    target = webhook(world, "住民記録システム", f"http://127.0.0.1:{port}/hook")
    key = services.signing_key_text(target)
    with running_receiver(key, port=port):
        submit(world.procedure)
        services.sweep()
    assert webhook_kind._connections()  # kept for the next delivery
    with running_receiver(key, port=port) as again:
        submit(world.procedure)
        services.sweep()
        state = again.state()
    assert list(Delivery.objects.values_list("state", "attempts")) == [("delivered", 1)] * 2
    assert len(state["accepted"]) == 1 and state["duplicates"] == 0


def test_an_answer_larger_than_the_limit_is_not_read_further_and_its_connection_not_kept(world, monkeypatch):
    """A target that answers a 2xx with a large page: delivered, read up to the limit."""
    import http.server
    import threading

    class Wordy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b"x" * (webhook_kind.ANSWER_LIMIT * 4)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Wordy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        webhook(world, "住民記録システム", f"http://127.0.0.1:{server.server_address[1]}/hook")
        submit(world.procedure)
        services.sweep()
    finally:
        server.shutdown()
        server.server_close()
    assert list(Delivery.objects.values_list("state", "last_status_code")) == [("delivered", 200)]
    assert ("http", "127.0.0.1", server.server_address[1]) not in webhook_kind._connections()
