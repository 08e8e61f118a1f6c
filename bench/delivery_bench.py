"""Webhook deliveries per second through Celery workers to a local receiver.

    .venv/bin/python bench/delivery_bench.py [--deliveries 3000 --workers 2 --concurrency 2]

Real processes: `tenohira worker` × W (BACKGROUND=celery, Redis), a webhook receiver
(tests/support/receiver.py: checks each signature, accepts each delivery id once), one
PostgreSQL database of its own (created and dropped). N deliveries of one submission are
written in one transaction while the workers are already running, as a burst of
submissions would leave them; the clock runs from that commit until the database says every
one is delivered. The baseline, measured in the same run, is the receiver alone: the same
number of signed POSTs sent to it from this process over one connection, so the ratio says
how much of the receiver's own speed the workers reach. Target: ≥ 500 deliveries/s.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._database import create_database  # noqa: E402
from tests.support.cluster import Cluster, free_port  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/8"
TARGET = 500.0


def _make_rows(cluster: Cluster, receiver_port: int, count: int) -> tuple[int, str]:
    """The target, one submission of the 粗大ごみ form and `count` pending deliveries of it."""
    script = f"""
import datetime as dt
from django.db import transaction
from django.utils import timezone
from tenohira.applications.models import Submission
from tenohira.catalog.models import Procedure
from tenohira.integrations.models import Delivery, DeliveryTarget
procedure = Procedure.objects.get(code="SDG")
target = DeliveryTarget.objects.create(name="受付システム", kind="webhook", procedure=procedure,
                                       config={{"url": "http://127.0.0.1:{receiver_port}/hook"}})
submission = Submission.objects.create(
    receipt_number="2026-SDG-000001", procedure=procedure, section=procedure.section,
    form_version=procedure.form.published_version(), answers={{"reason": "ベンチマーク"}},
    status_secret_hash="x" * 64, submitted_at=timezone.now(), applicant_name="山田 太郎")
print(target.pk)
"""
    target_id = int(cluster.manage("shell", "-c", script).strip().splitlines()[-1])
    burst = f"""
from django.utils import timezone
from tenohira.integrations.models import Delivery
now = timezone.now()
Delivery.objects.bulk_create([Delivery(target_id={target_id}, submission_id=1, next_attempt_at=now)
                              for _ in range({count})], batch_size=1000)
"""
    return target_id, burst


class _Receiver:
    def __init__(self, port: int):
        self.port = port

    def state(self) -> dict:
        import requests

        return requests.get(f"http://127.0.0.1:{self.port}/_state", timeout=30).json()


@contextlib.contextmanager
def running_receiver(key_hex: str, *, port: int):
    """tests/support/receiver.py as its own process (without Django: the tests' helper imports models)."""
    command = [sys.executable, str(ROOT / "tests" / "support" / "receiver.py"), "--key", key_hex, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603 (our own script)
    try:
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            sys.exit(f"the receiver did not start: {line!r}")
        yield _Receiver(int(line.split()[1]))
    finally:
        process.terminate()
        process.wait(timeout=10)


def _delivered(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM integrations_delivery WHERE state = 'delivered'").fetchone()[0]


def _receiver_alone(key: str, port: int, count: int) -> float:
    """Signed POSTs from this process over one keep-alive connection: the receiver's own pace."""
    import requests

    session = requests.Session()
    body = json.dumps({"version": 1, "receipt_number": "2026-SDG-000001"}, ensure_ascii=False).encode()
    began = time.perf_counter()
    for _ in range(count):
        delivery, stamp = secrets.token_hex(16), str(int(time.time()))
        signature = hmac.new(bytes.fromhex(key), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        session.post(f"http://127.0.0.1:{port}/hook", data=body, timeout=10, headers={
            "Content-Type": "application/json", "X-Tenohira-Delivery": delivery,
            "X-Tenohira-Timestamp": stamp, "X-Tenohira-Signature": f"sha256={signature}"})
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/tenohira_bench_delivery")
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    database_url = args.db_url
    drop = create_database(database_url)
    integrations_key = secrets.token_hex(32)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cluster = Cluster(
                database_url, Path(tmp), nodes=0, workers=args.workers,
                worker_command=["worker", "--concurrency", str(args.concurrency), "--loglevel", "WARNING"],
                env={"BACKGROUND": "celery", "CELERY_BROKER_URL": REDIS_URL,
                     "CELERY_TASK_DEFAULT_QUEUE": f"tenohira-bench-{os.getpid()}",
                     "INTEGRATIONS_KEY": integrations_key, "BACKGROUND_SWEEP_SECONDS": "0.5",
                     "INTEGRATIONS_SWEEP_GRACE_SECONDS": "0"},
            )
            cluster.migrate()
            cluster.publish_demo_form("SDG")
            receiver_port = free_port()
            target_id, burst = _make_rows(cluster, receiver_port, args.deliveries)
            key = hmac.new(integrations_key.encode(), f"delivery-target:{target_id}".encode(),
                           hashlib.sha256).hexdigest()
            with running_receiver(key, port=receiver_port) as receiver:
                alone = _receiver_alone(key, receiver.port, min(args.deliveries, 2000))
                cluster.start(migrate=False)
                try:
                    time.sleep(8)  # the workers connect to Redis and start their sweeps
                    before = cluster.cpu_snapshot()
                    cluster.manage("shell", "-c", burst)
                    began = time.perf_counter()
                    deadline = began + 600
                    done = 0
                    while time.perf_counter() < deadline:
                        done = _delivered(database_url)
                        if done >= args.deliveries:
                            break
                        time.sleep(0.2)
                    seconds = time.perf_counter() - began
                    used = Cluster.cpu_used(before, cluster.cpu_snapshot())
                finally:
                    cluster.stop()
                state = receiver.state()
    finally:
        drop()

    rate = done / seconds
    accepted = len(state["accepted"]) - min(args.deliveries, 2000)  # less the baseline's own
    print(f"workers: {args.workers} × concurrency {args.concurrency}, Redis broker, PostgreSQL, "
          f"webhook receiver on 127.0.0.1")
    print(f"deliveries: {done} of {args.deliveries} delivered in {seconds:.2f} s = {rate:.0f}/s "
          f"(from the commit of the burst, which the sweeps pick up)")
    print(f"receiver: {accepted} accepted by this run's workers, {state['duplicates']} repeats refused, "
          f"{state['bad_signatures']} bad signatures")
    worker_cpu = used.get("worker", 0.0)
    print(f"CPU: workers {worker_cpu * 1000 / max(done, 1):.2f} ms per delivery, "
          f"PostgreSQL {used.get('db', 0.0) * 1000 / max(done, 1):.2f} ms per delivery")
    print(f"baseline, the receiver alone from one client: {alone:.0f}/s; ratio {rate / alone:.2f}")
    print(f"≥ {TARGET:.0f} deliveries/s: {'PASS' if rate >= TARGET else 'FAIL'} ({rate:.0f}/s)")


if __name__ == "__main__":
    main()
