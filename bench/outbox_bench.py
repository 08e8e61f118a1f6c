"""E-mail delivery: messages per second of the delivery worker's loop, before and after
"sent once" (docs/decisions/0003).

    .venv/bin/python bench/outbox_bench.py                    # PostgreSQL, 3,000 messages, 3 rounds
    .venv/bin/python bench/outbox_bench.py --sqlite --messages 2000

Before: one transaction per batch of 100 that locks the rows, sends them all over one
connection and marks them sent together (a crash mid-batch resends the batch). After:
`outbox.deliver_batch` as the worker runs it: the batch taken with a lease in one short
transaction, then one UPDATE and one commit per message as the mail server accepts it
(and its body blanked). Both send through the site's file e-mail backend (0600 files in
the data directory), so the figure is the cost of the loop and the database, not of a
mail server: a real SMTP relay takes milliseconds per message, which both pay alike.
Each round queues `--messages` rows (bulk_create; not timed) and drains them with one
loop or the other, alternating, in this process. Printed: messages/s per round, the
medians and the ratio after/before, and the statements per message of each.

Figures are printed, never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _database import create_database, setup_django  # noqa: E402

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/tenohira_bench_outbox"


def before_batch(limit: int = 100) -> int:
    """The loop before decision 0003, kept here as the baseline."""
    from django.conf import settings
    from django.core.mail import EmailMessage, get_connection
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from tenohira.core.models import OutboxMessage

    with transaction.atomic():
        batch = list(
            OutboxMessage.objects.filter(sent_at__isnull=True).order_by("pk")[:limit].select_for_update(skip_locked=True)
        )
        if not batch:
            return 0
        connection = get_connection(fail_silently=False)
        connection.open()
        try:
            for message in batch:
                EmailMessage(subject=message.subject, body=message.body, from_email=settings.DEFAULT_FROM_EMAIL,
                             to=[message.to], connection=connection).send(fail_silently=False)
        finally:
            connection.close()
        OutboxMessage.objects.filter(pk__in=[m.pk for m in batch]).update(
            sent_at=timezone.now(), attempts=F("attempts") + 1, last_error="", next_attempt_at=None
        )
    return len(batch)


def after_batch(limit: int = 100) -> int:
    from tenohira.core import outbox

    sent, _failed = outbox.deliver_batch(limit)
    return sent


def queue(n: int) -> None:
    from tenohira.core.models import OutboxMessage

    body = "\n".join(["サンプル市です。次の申請を受け付けました。", "受付番号: 2026-HJC-000123"] * 6)
    OutboxMessage.objects.bulk_create(
        OutboxMessage(kind="bench", to=f"resident{i}@example.jp", subject=f"【サンプル市】申請を受け付けました {i}",
                      body=body, reference=f"2026-HJC-{i:06d}")
        for i in range(n)
    )


def drain(loop) -> tuple[float, int]:
    from django.db import connection

    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with connection.execute_wrapper(count):
        while loop():
            pass
    return time.perf_counter() - started, statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL, help=f"PostgreSQL (created and dropped; default {DEFAULT_DB_URL})")
    parser.add_argument("--sqlite", action="store_true", help="the embedded SQLite database instead")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="tenohira-outbox-bench-")
    drop = None
    if args.sqlite:
        db_url = f"sqlite:///{data_dir}/bench.sqlite3"
    else:
        db_url = args.db_url
        drop = create_database(db_url)
    try:
        setup_django(data_dir, db_url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from tenohira.core.models import OutboxMessage

        rates: dict[str, list[float]] = {"before": [], "after": []}
        per_message: dict[str, float] = {}
        for round_no in range(1, args.rounds + 1):
            for name, loop in (("before", before_batch), ("after", after_batch)):
                queue(args.messages)
                seconds, statements = drain(loop)
                assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
                OutboxMessage.objects.all().delete()
                rates[name].append(args.messages / seconds)
                per_message[name] = statements / args.messages
                print(f"round {round_no} {name:6}: {args.messages / seconds:8.0f} messages/s "
                      f"({statements / args.messages:.2f} statements per message)")
        before, after = statistics.median(rates["before"]), statistics.median(rates["after"])
        print(f"database: {'SQLite' if args.sqlite else 'PostgreSQL'}, {args.messages} messages, file backend")
        print(f"before (batch locked and marked at once): {before:.0f} messages/s, "
              f"{per_message['before']:.2f} statements per message")
        print(f"after (lease, then one commit per message): {after:.0f} messages/s, "
              f"{per_message['after']:.2f} statements per message")
        print(f"ratio after/before: {after / before:.2f}")
    finally:
        if drop is not None:
            from django.db import connections

            connections.close_all()
            drop()


if __name__ == "__main__":
    main()
