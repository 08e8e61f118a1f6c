"""A node and a worker killed with SIGKILL in the middle of a surge lose nothing and
duplicate nothing.

Two `tenohira serve` nodes and two Celery workers (`tenohira worker`, BACKGROUND=celery,
Redis database 7) against one PostgreSQL database of their own, and a webhook receiver
(tests/support/receiver.py) that accepts each delivery id once and counts every attempt.
Residents walk SCALE_FLOWS (300 in the normal suite; 2,000 as the issue asks) whole flows of 粗大ごみ収集の申込 through both
nodes; part-way through, one node (its master, web workers and e-mail worker) and one
worker are killed with SIGKILL. A request that fails at the socket is sent again to the
other node, as a resident's browser retried by a load balancer would be: a repeated 送信
must not make a second submission (the submission is idempotent per draft).

Afterwards: every flow's draft has exactly one submission and no other submission exists;
every submission has exactly one webhook delivery, delivered, and the receiver accepted
each delivery id exactly once (repeats are counted, not accepted). Runs on PostgreSQL only
(several processes on one database), in the normal suite.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import secrets
import signal
import threading
import time

import pytest

DATABASE_URL = os.environ.get("DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://")),
    reason="several nodes need a database server: runs on PostgreSQL (DATABASE_URL)",
)

# 2,000 is the size the issue asks for (SCALE_FLOWS=2000, several minutes on two shared
# cores); the normal suite walks fewer to stay within a few minutes.
FLOWS = int(os.environ.get("SCALE_FLOWS", "300"))
CLIENTS = 12
REDIS_URL = "redis://127.0.0.1:6379/7"


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def test_a_node_and_a_worker_killed_mid_surge_lose_and_duplicate_nothing(scale_database, tmp_path):
    import psycopg

    from tests.support.cluster import Cluster, FlowFailed, ResidentFlow, free_port, sdg_answers
    from tests.support.integrations import running_receiver

    _flush_redis()
    integrations_key = secrets.token_hex(32)
    cluster = Cluster(
        scale_database, tmp_path, nodes=2, web_per_node=1, workers=2,
        worker_command=["worker", "--concurrency", "2", "--loglevel", "WARNING"],
        env={
            "BACKGROUND": "celery", "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_TASK_DEFAULT_QUEUE": f"tenohira-scale-{os.getpid()}",
            "INTEGRATIONS_KEY": integrations_key,
            # Short pauses so that what the killed worker held is taken again within the test.
            "INTEGRATIONS_LEASE_SECONDS": "10", "INTEGRATIONS_SWEEP_GRACE_SECONDS": "5",
            "INTEGRATIONS_RETRY_BASE_SECONDS": "1", "BACKGROUND_SWEEP_SECONDS": "3",
            "OUTBOX_LEASE_SECONDS": "60", "EMAIL_TIMEOUT": "10",
        },
    )
    cluster.migrate()
    cluster.publish_demo_form("SDG")
    receiver_port = free_port()
    target_id = int(cluster.manage("shell", "-c", (
        "from tenohira.catalog.models import Procedure\n"
        "from tenohira.integrations.models import DeliveryTarget\n"
        "t = DeliveryTarget.objects.create(name='粗大ごみ受付システム', kind='webhook', "
        f"procedure=Procedure.objects.get(code='SDG'), config={{'url': 'http://127.0.0.1:{receiver_port}/hook'}})\n"
        "print(t.pk)"
    )).strip().splitlines()[-1])
    key = hmac.new(integrations_key.encode(), f"delivery-target:{target_id}".encode(), hashlib.sha256).hexdigest()

    with running_receiver(key, port=receiver_port) as receiver:
        cluster.start(migrate=False)
        try:
            ports = cluster.ports  # one list: a dead node leaves it for every resident
            numbers = itertools.count()
            done: list[str] = []
            failures: list[str] = []
            resent = [0]
            lock = threading.Lock()

            def resident():
                while (i := next(numbers)) < FLOWS:
                    flow = ResidentFlow(ports, "SDG", sdg_answers(i), offset=i, retries=4, timeout=60)
                    try:
                        public_id = flow.run()
                    except FlowFailed as exc:
                        with lock:
                            failures.append(str(exc))
                        continue
                    with lock:
                        done.append(public_id)
                        resent[0] += flow.resent

            threads = [threading.Thread(target=resident, daemon=True) for _ in range(CLIENTS)]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            while len(done) < FLOWS // 3 and any(t.is_alive() for t in threads):
                time.sleep(0.2)
            killed_node, killed_worker = cluster.node_processes()[0], cluster.worker_processes()[0]
            cluster.kill(killed_node, signal.SIGKILL)
            cluster.kill(killed_worker, signal.SIGKILL)
            killed_at = len(done)
            for thread in threads:
                thread.join()
            walked = time.monotonic() - began

            assert not failures, failures[:5]
            assert len(done) == len(set(done)) == FLOWS
            assert killed_at < FLOWS  # the kill happened mid-run

            # Every delivery reaches the receiver (what the killed worker held included).
            deadline = time.monotonic() + 150
            with psycopg.connect(scale_database, autocommit=True) as conn:
                while time.monotonic() < deadline:
                    states = dict(conn.execute(
                        "SELECT state, count(*) FROM integrations_delivery GROUP BY state").fetchall())
                    if set(states) == {"delivered"} and states["delivered"] >= FLOWS:
                        break
                    time.sleep(1)
                drafts = conn.execute(
                    "SELECT d.public_id::text, count(s.id) FROM applications_draft d "
                    "JOIN applications_submission s ON s.draft_id = d.id GROUP BY d.public_id").fetchall()
                deliveries = conn.execute(
                    "SELECT delivery_id::text, state, attempts, submission_id FROM integrations_delivery").fetchall()
                submissions = conn.execute("SELECT count(*) FROM applications_submission").fetchone()[0]
        finally:
            cluster.stop()
        state = receiver.state()

    per_draft = dict(drafts)
    assert submissions == FLOWS, f"{submissions} submissions for {FLOWS} flows"
    assert set(per_draft) == set(done) and set(per_draft.values()) == {1}
    assert {state for _, state, _, _ in deliveries} == {"delivered"}, states
    assert len(deliveries) == FLOWS and len({row[3] for row in deliveries}) == FLOWS
    ids = {row[0] for row in deliveries}
    assert set(state["accepted"]) == ids  # every delivery accepted, and nothing else
    assert all(state["attempts"].get(i, 0) >= 1 for i in ids)
    assert state["bad_signatures"] == 0
    attempts = sum(state["attempts"].values())
    print(json.dumps({
        "flows": FLOWS, "seconds": round(walked, 1), "killed_after_flows": killed_at, "requests_resent": resent[0],
        "deliveries": len(ids), "receiver_attempts": attempts, "receiver_duplicates": state["duplicates"],
        "attempts_recorded": sum(row[2] for row in deliveries),
    }, ensure_ascii=False))
