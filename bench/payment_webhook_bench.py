"""Webhook handling per second through the real view, on PostgreSQL.

    .venv/bin/python bench/payment_webhook_bench.py                 # 2,000 events
    .venv/bin/python bench/payment_webhook_bench.py --events 5000

A throwaway database tenohira_bench_webhook (created, migrated, dropped; see
bench/_database.py) gets one application and `--events` assessments, each awaiting
payment with one open card attempt (a Checkout Session id as its provider reference).
For each attempt a `checkout.session.completed` event is signed as Stripe signs it
(Stripe-Signature, HMAC-SHA256 with the webhook secret) and POSTed to
/api/v1/payments/webhooks/stripe_card through Django's test client, in this process
(no HTTP server: the figure is the view, the provider's verification and the database
work — body bound, signature and timestamp check, the event id kept once, both rows
locked, the payment captured and the assessment paid, three events written).

Printed: events per second (and per-event mean / p95), a trivial request (GET /healthz)
per second through the same client as the baseline, their ratio, every assessment paid
after the run, and the target line `≥ 500/s: PASS/FAIL`. Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import statistics
import tempfile
import threading
import time

from _database import create_database, setup_django

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/tenohira_bench_webhook"
TARGET_PER_SECOND = 500
SECRET = "whsec_bench_" + "0" * 24
BATCH = 2000


def build(events: int) -> list[str]:
    from django.utils import timezone

    from tenohira.applications.models import Submission
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms.services import publish
    from tenohira.payments.models import Assessment, FeeItem, Payment

    section = Section.objects.create(department=Department.objects.create(name="市民部"), name="市民課")
    procedure = Procedure.objects.create(code="WHK", section=section, name="住民票の写しの交付請求")
    version, _ = publish(procedure, {"title": "t", "steps": [{"key": "a", "title": "a", "fields": [
        {"key": "n", "type": "text", "label": "名前"}]}]})
    submission = Submission.objects.create(receipt_number="WHK-1", procedure=procedure, section=section,
                                           form_version=version, answers={}, status_secret_hash="x",
                                           submitted_at=timezone.now())
    item = FeeItem.objects.create(code="1401", name="住民票等交付手数料")
    refs = []
    for start in range(0, events, BATCH):
        numbers = range(start, min(events, start + BATCH))
        assessments = Assessment.objects.bulk_create([
            Assessment(number=f"W8-{i:07d}", submission=submission, procedure=procedure, fee_item=item,
                       timing="at_submission", amount_assessed=300, amount_due=300,
                       state=Assessment.State.AWAITING)
            for i in numbers
        ])
        Payment.objects.bulk_create([
            Payment(assessment=a, provider="stripe_card", provider_ref=f"cs_test_bench{i:07d}",
                    idempotency_key=f"bench-{i}", amount=300, state=Payment.State.AWAITING)
            for a, i in zip(assessments, numbers, strict=True)
        ])
        refs += [f"cs_test_bench{i:07d}" for i in numbers]
    return refs


def signed_event(ref: str, number: int) -> tuple[bytes, str]:
    now = int(time.time())
    body = json.dumps({
        "id": f"evt_bench{number:07d}", "object": "event", "type": "checkout.session.completed", "created": now,
        "data": {"object": {"id": ref, "object": "checkout.session", "status": "complete",
                            "payment_status": "paid", "amount_total": 300, "currency": "jpy"}},
    }).encode()
    digest = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={now},v1={digest}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent senders (threads)")
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    args = parser.parse_args()

    drop = create_database(args.db_url)
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            setup_django(data_dir, args.db_url)
            run(args)
    finally:
        drop()


def run(args) -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from tenohira.payments.models import Assessment

    call_command("migrate", verbosity=0)
    settings.PAYMENTS_STRIPE_WEBHOOK_SECRET = SECRET
    settings.ALLOWED_HOSTS = ["localhost"]
    refs = build(args.events)
    client = Client(HTTP_HOST="localhost")

    # Baseline: a trivial request through the same client and middleware.
    for _ in range(50):
        client.get("/healthz")
    started = time.perf_counter()
    for _ in range(args.events):
        client.get("/healthz")
    trivial = args.events / (time.perf_counter() - started)

    bodies = [signed_event(ref, i) for i, ref in enumerate(refs)]
    # A provider sends webhooks concurrently; each commit waits for its WAL flush, so one
    # request at a time measures the disk's flush latency, not the view. `--clients`
    # threads, each with its own client and database connection, post their share.
    timings: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def worker(share):
        from django.db import connection

        own = Client(HTTP_HOST="localhost")
        mine = []
        try:
            for body, signature in share:
                t0 = time.perf_counter()
                response = own.post("/api/v1/payments/webhooks/stripe_card", data=body,
                                     content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
                mine.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.content[:200]!r}")
        finally:
            connection.close()
            with lock:
                timings.extend(mine)

    shares = [bodies[i::args.clients] for i in range(args.clients)]
    threads = [threading.Thread(target=worker, args=(share,)) for share in shares]
    cpu = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if failures:
        raise SystemExit(f"webhook answered {failures[0]}")
    per_second = args.events / elapsed
    paid = Assessment.objects.filter(state=Assessment.State.PAID).count()

    timings.sort()
    print(f"events:               {args.events:,} (distinct payments, signed checkout.session.completed)")
    print(f"webhooks:             {per_second:,.0f}/s  (mean {statistics.mean(timings) * 1000:.2f} ms, "
          f"p95 {timings[int(len(timings) * 0.95)] * 1000:.2f} ms)")
    print(f"clients:              {args.clients} concurrent (threads in this process, one database connection each)")
    print(f"CPU of this process:  {cpu / args.events * 1000:.2f} ms per webhook (view, signature check, ORM)")
    print(f"trivial GET /healthz: {trivial:,.0f}/s (one client)")
    print(f"ratio webhook/trivial: {per_second / trivial:.2f}")
    print(f"assessments paid:     {paid:,} of {args.events:,}")
    print(f"target ≥ {TARGET_PER_SECOND}/s: {'PASS' if per_second >= TARGET_PER_SECOND else 'FAIL'}")


if __name__ == "__main__":
    main()
