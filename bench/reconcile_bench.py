"""消込 of a 100,000-line settlement file against 100,000 captured payments on PostgreSQL.

    .venv/bin/python bench/reconcile_bench.py                  # 100,000 lines
    .venv/bin/python bench/reconcile_bench.py --rows 20000

A throwaway database tenohira_bench_reconcile (created, migrated, dropped; see
bench/_database.py) gets one application, `--rows` assessments and as many captured card
payments (bulk_create). The settlement file is the card gateway's CSV (transaction_id,
amount, fee, settled_on), read by the real provider's parse_settlement, with 10 lines of
each problem the import reports (unmatched, duplicate, mismatched) among `--rows` lines.

Three times each, the median is printed of:

  baseline   parse_settlement(file) alone (what every import must do anyway)
  import     payments.reconcile.import_settlement(file): parse, match, every payment and
             assessment moved to reconciled, events written, one transaction

(the payments are put back between runs, and each run's file differs by a trailing blank
line so it is not refused as already imported), with the ratio import / baseline and the
target line `import < 5 s: PASS/FAIL`. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time

from _database import create_database, setup_django

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/tenohira_bench_reconcile"
TARGET_SECONDS = 5.0
REPEAT = 3
BATCH = 5000
PROBLEMS = 10


def build(rows: int):
    from django.utils import timezone

    from tenohira.applications.models import Submission
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms.services import publish
    from tenohira.payments.models import Assessment, FeeItem, Payment

    section = Section.objects.create(department=Department.objects.create(name="市民部"), name="市民課")
    procedure = Procedure.objects.create(code="RCN", section=section, name="住民票の写しの交付請求")
    version, _ = publish(procedure, {"title": "t", "steps": [{"key": "a", "title": "a", "fields": [
        {"key": "n", "type": "text", "label": "名前"}]}]})
    submission = Submission.objects.create(receipt_number="RCN-1", procedure=procedure, section=section,
                                           form_version=version, answers={}, status_secret_hash="x",
                                           submitted_at=timezone.now())
    item = FeeItem.objects.create(code="1401", name="住民票等交付手数料")
    captured = timezone.now() - dt.timedelta(days=3)
    for start in range(0, rows, BATCH):
        numbers = range(start, min(rows, start + BATCH))
        assessments = Assessment.objects.bulk_create([
            Assessment(number=f"R8-{i:07d}", submission=submission, procedure=procedure, fee_item=item,
                       timing="at_submission", amount_assessed=300, amount_due=300, state=Assessment.State.PAID,
                       paid_at=captured)
            for i in numbers
        ])
        Payment.objects.bulk_create([
            Payment(assessment=a, provider="stripe_card", method="card", provider_ref=f"pi_bench{i:07d}",
                    idempotency_key=f"bench-{i}", amount=300, state=Payment.State.CAPTURED, captured_at=captured)
            for a, i in zip(assessments, numbers, strict=True)
        ])


def settlement(rows: int) -> bytes:
    settled = dt.date.today().isoformat()
    lines = ["transaction_id,amount,fee,settled_on"]
    for i in range(rows - 3 * PROBLEMS):
        amount = 350 if i < PROBLEMS else 300  # mismatched
        lines.append(f"pi_bench{i:07d},{amount},10,{settled}")
    lines += [f"pi_nosuch{i:07d},300,10,{settled}" for i in range(PROBLEMS)]  # unmatched
    lines += [f"pi_bench{PROBLEMS + i:07d},300,10,{settled}" for i in range(PROBLEMS)]  # duplicate
    # Bring the count back to `rows`: payments the file leaves for the next one.
    lines += [f"pi_bench{rows - 3 * PROBLEMS + i:07d},300,10,{settled}" for i in range(PROBLEMS)]
    return ("\n".join(lines) + "\n").encode()


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM payments_paymentevent")
        cursor.execute("UPDATE payments_payment SET state = 'captured', settlement_id = NULL, settled_on = NULL, "
                       "provider_fee = NULL")
        cursor.execute("UPDATE payments_assessment SET state = 'paid'")
        cursor.execute("DELETE FROM payments_settlementimport")
        # A real import meets tables without the dead rows of the previous run's.
        cursor.execute("VACUUM ANALYZE payments_payment")
        cursor.execute("VACUUM ANALYZE payments_assessment")
        cursor.execute("VACUUM ANALYZE payments_paymentevent")


def run(rows: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from tenohira.payments import reconcile
    from tenohira.payments.registry import register

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    build(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"{rows:,} captured payments written in {time.perf_counter() - started:.1f} s")
    provider = register.get("stripe_card")
    data = settlement(rows)
    print(f"settlement file: {rows:,} lines, {len(data) / 1024 / 1024:.1f} MB")

    parse_times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        provider.parse_settlement(data)
        parse_times.append(time.perf_counter() - started)
    import_times, record = [], None
    for attempt in range(REPEAT):
        reset()
        started = time.perf_counter()
        record = reconcile.import_settlement(data + b"\n" * attempt, provider="stripe_card",
                                             file_name=f"bench-{attempt}.csv")
        import_times.append(time.perf_counter() - started)
    baseline, imported = statistics.median(parse_times), statistics.median(import_times)
    print(f"matched {record.matched:,}; reported {reconcile.summary(record)}")
    print(f"baseline parse_settlement      median {baseline * 1000:8.0f} ms  (runs: "
          + ", ".join(f"{t * 1000:.0f}" for t in parse_times) + ")")
    print(f"import_settlement (PostgreSQL) median {imported * 1000:8.0f} ms  (runs: "
          + ", ".join(f"{t * 1000:.0f}" for t in import_times) + ")")
    print(f"ratio import / parse: {imported / baseline:.1f}x")
    print(f"target: import < {TARGET_SECONDS:.0f} s: {'PASS' if imported < TARGET_SECONDS else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    args = parser.parse_args()
    drop = create_database(args.db_url)
    with tempfile.TemporaryDirectory() as data_dir:
        setup_django(data_dir, args.db_url)
        try:
            run(args.rows)
        finally:
            from django.db import connections

            connections.close_all()
            drop()


if __name__ == "__main__":
    main()
