"""Webhook deliveries per second through Celery workers to a local receiver.

    .venv/bin/python bench/delivery_bench.py [--deliveries 3000 --workers 2 --concurrency 2]
                                         [--submissions 1 --dispatch]

Real processes: `tenohira worker` × W (BACKGROUND=celery, Redis), a webhook receiver
(tests/support/receiver.py: checks each signature, accepts each delivery id once), one
PostgreSQL database of its own (created and dropped). N deliveries of one submission (or
spread over --submissions) are written in one transaction while the workers are already
running, as a burst of submissions would leave them, and found by the sweeps (or, with
--dispatch, sent one task per submission as the web side does); the clock runs from that
commit until the database says every one is delivered. The baseline, measured in the same run, is the receiver alone: the same
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


def _make_rows(cluster: Cluster, receiver_port: int, count: int, submissions: int,
               dispatch: bool) -> tuple[int, str]:
    """The target and `submissions` submissions of the 粗大ごみ form; returns the target's id
    and the burst: `count` deliveries spread over the submissions, written in one commit.
    Without `dispatch` they are due at once and the sweeps find them; with it they wait the
    sweep's grace and one `integrations.deliver` message per submission is sent after the
    commit, as integrations.services.create_deliveries does for each submission's commit."""
    script = f"""
from django.utils import timezone
from tenohira.applications.models import Submission
from tenohira.catalog.models import Procedure
from tenohira.integrations.models import DeliveryTarget
procedure = Procedure.objects.get(code="SDG")
version = procedure.form.published_version()
target = DeliveryTarget.objects.create(name="受付システム", kind="webhook", procedure=procedure,
                                       config={{"url": "http://127.0.0.1:{receiver_port}/hook"}})
now = timezone.now()
Submission.objects.bulk_create([Submission(
    receipt_number=f"2026-SDG-{{i + 1:06d}}", procedure=procedure, section=procedure.section,
    form_version=version, answers={{"reason": f"ベンチマーク {{i}}"}}, status_secret_hash="x" * 64,
    submitted_at=now, applicant_name="山田 太郎") for i in range({submissions})], batch_size=1000)
print(target.pk)
"""
    target_id = int(cluster.manage("shell", "-c", script).strip().splitlines()[-1])
    burst = f"""
import datetime as dt
from django.db import transaction
from django.utils import timezone
from tenohira.applications.models import Submission
from tenohira.core import background
from tenohira.integrations.models import Delivery
ids = list(Submission.objects.order_by("pk").values_list("pk", flat=True))
due = timezone.now() + dt.timedelta(seconds=30 if {dispatch} else 0)
with transaction.atomic():
    rows = Delivery.objects.bulk_create([Delivery(target_id={target_id}, submission_id=ids[i % len(ids)], next_attempt_at=due)
                                         for i in range({count})], batch_size=1000)
import time
print("COMMITTED", time.time(), flush=True)  # the clock starts here, in this process
if {dispatch}:
    per_submission = {{}}
    for row in rows:
        per_submission.setdefault(row.submission_id, []).append(row.pk)
    for pks in per_submission.values():
        background.send("integrations.deliver", *pks)
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
    parser.add_argument("--submissions", type=int, default=1,
                        help="spread the deliveries over this many submissions (1: all of one, as the first figures)")
    parser.add_argument("--dispatch", action="store_true",
                        help="one task per submission sent after the commit (as the web side does) instead of the sweeps alone")
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
            target_id, burst = _make_rows(cluster, receiver_port, args.deliveries,
                                          max(1, min(args.submissions, args.deliveries)), args.dispatch)
            key = hmac.new(integrations_key.encode(), f"delivery-target:{target_id}".encode(),
                           hashlib.sha256).hexdigest()
            with running_receiver(key, port=receiver_port) as receiver:
                alone = _receiver_alone(key, receiver.port, min(args.deliveries, 2000))
                cluster.start(migrate=False)
                try:
                    time.sleep(8)  # the workers connect to Redis and start their sweeps
                    before = cluster.cpu_snapshot()
                    output = cluster.manage("shell", "-c", burst)
                    began = float(next(line.split()[1] for line in output.splitlines()
                                       if line.startswith("COMMITTED ")))
                    done = 0
                    while time.time() < began + 600:
                        done = _delivered(database_url)
                        if done >= args.deliveries:
                            break
                        time.sleep(0.05)
                    seconds = time.time() - began
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
    how = "one task per submission, dispatched after the commit" if args.dispatch else "which the sweeps pick up"
    print(f"burst: {args.deliveries} deliveries of {max(1, min(args.submissions, args.deliveries))} submission(s), {how}")
    print(f"deliveries: {done} of {args.deliveries} delivered in {seconds:.2f} s = {rate:.0f}/s "
          f"(from the commit of the burst)")
    print(f"receiver: {accepted} accepted by this run's workers, {state['duplicates']} repeats refused, "
          f"{state['bad_signatures']} bad signatures")
    worker_cpu = used.get("worker", 0.0)
    print(f"CPU: workers {worker_cpu * 1000 / max(done, 1):.2f} ms per delivery, "
          f"PostgreSQL {used.get('db', 0.0) * 1000 / max(done, 1):.2f} ms per delivery")
    print(f"baseline, the receiver alone from one client: {alone:.0f}/s; ratio {rate / alone:.2f}")
    print(f"≥ {TARGET:.0f} deliveries/s: {'PASS' if rate >= TARGET else 'FAIL'} ({rate:.0f}/s)")


if __name__ == "__main__":
    main()
