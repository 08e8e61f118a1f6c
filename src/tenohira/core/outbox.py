"""The e-mail outbox: enqueue inside the business transaction, deliver outside it.

`enqueue` writes a row in the caller's transaction, so a crash between "saved" and
"sent" never loses a message. Delivery depends on settings.OUTBOX_DELIVERY:

- "worker" (the default): the request only writes the row; background work
  (core.background) sends it. Its sweep `core.outbox.sweep` picks due messages in
  batches with FOR UPDATE SKIP LOCKED, so several workers never send the same message,
  and sends each batch over one mail-server connection: in the embedded mode the
  background process that `tenohira serve` starts runs it about once a second; with
  Celery each message is also dispatched after its commit (`core.outbox.deliver`, which
  sends it together with whatever else is due), and the sweep only finds what a lost
  dispatch or a killed worker left. The resident's request does not wait for the mail
  server, and a busy hour costs one connection per batch instead of one per message.
  (`tenohira outbox work` is the same loop for e-mail alone.)
- "after_commit": the request that wrote the message sends it right after its commit
  (one process, no worker: small set-ups and the tests).

A message is marked sent only after the mail server accepted it. A refused message is
retried later with a growing pause (1, 2, 4 … minutes, at most an hour), up to
MAX_ATTEMPTS times; `tenohira outbox send` tries everything pending at once.

Sent once (docs/decisions/0003-*): a worker first takes a batch with a lease
(`lease_until`, one short transaction), then marks each message sent in its own commit
right after the mail server accepted it. A worker killed mid-batch therefore leaves at
most one message sent but not marked (the one in flight); the rest of its batch was never
handed to the mail server and is taken again once the lease has passed. Every message
carries a Message-ID derived from its row, the same on a resend, so a receiving system
can drop that one duplicate. Once sent, the body (status code, links) is blanked: the
row keeps only what shows that it was sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection as database
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenohira.core import background
from tenohira.core.models import OutboxMessage

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 10
BATCH_SIZE = 100
AFTER_COMMIT = "after_commit"
WORKER = "worker"


def delivery_mode() -> str:
    return getattr(settings, "OUTBOX_DELIVERY", WORKER)


def enqueue(
    *, kind: str, to: str, subject: str, body: str, reference: str = "", attachments: list[dict] | None = None
) -> OutboxMessage:
    """`attachments`: small text files sent with the message (a booking's iCalendar file),
    each {"filename", "content_type", "content"}; kept with the row until it is sent."""
    message = compose(kind=kind, to=to, subject=subject, body=body, reference=reference, attachments=attachments)
    message.save(force_insert=True)
    saved(message)
    return message


def compose(
    *, kind: str, to: str, subject: str, body: str, reference: str = "", attachments: list[dict] | None = None
) -> OutboxMessage:
    """An unsaved message, for a caller that writes it with other rows (core.rows);
    call saved() once it is written."""
    return OutboxMessage(
        kind=kind, to=to, subject=subject, body=body, reference=reference, attachments=list(attachments or [])
    )


def saved(message: OutboxMessage) -> None:
    """The message row was written in the current transaction: deliver after the commit
    when the requests send their own e-mail."""
    if delivery_mode() == AFTER_COMMIT:
        transaction.on_commit(lambda: deliver(message.pk))
    else:
        background.dispatch_on_commit("core.outbox.deliver", message.pk)


def retry_pause(attempts: int) -> dt.timedelta:
    """How long a refused message waits before the next try."""
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def lease() -> dt.timedelta:
    """How long a batch stays taken by its worker. A worker stops sending (and frees what is
    left) after half of it, so a live worker never loses its messages to another one."""
    return dt.timedelta(seconds=getattr(settings, "OUTBOX_LEASE_SECONDS", 300))


def message_id(message: OutboxMessage) -> str:
    """The Message-ID of this row: the same on every try. make_msgid() mixes in the time and
    a random number, so a resend would look like a new message to the receiving side."""
    domain = getattr(settings, "OUTBOX_MESSAGE_ID_DOMAIN", "") or settings.DEFAULT_FROM_EMAIL.rpartition("@")[2]
    created = message.created_at.strftime("%Y%m%d%H%M%S%f") if message.created_at else "0"
    return f"<outbox.{message.pk}.{created}@{domain or 'localhost'}>"


def deliver(pk: int) -> bool:
    """Send one pending message; True when the mail server accepted it."""
    accepted, _refused = _send(_take(OutboxMessage.objects.filter(pk=pk, sent_at__isnull=True), limit=1))
    return len(accepted) == 1


@background.task("core.outbox.deliver")
def deliver_along(pk: int) -> tuple[int, int]:
    """The dispatched task: this message, if no one has sent or taken it yet, together with
    other due messages over the same connection (a burst of submissions then costs one
    connection per batch, not per message); (sent, failed). Sent or taken already: nothing
    of it is sent again."""
    mine = _take(OutboxMessage.objects.filter(pk=pk, sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS), limit=1)
    others = _take(_due().exclude(pk=pk), limit=BATCH_SIZE - 1) if mine else []
    accepted, refused = _send(mine + others)
    return len(accepted), len(refused)


@background.periodic("core.outbox.sweep", seconds=30)
def sweep() -> bool:
    """One batch of due messages (new ones no dispatch reached, retries after their pause,
    those a killed worker left once its lease has passed); True when the batch was full."""
    sent, failed = deliver_batch()
    return sent + failed >= BATCH_SIZE


def deliver_batch(limit: int = BATCH_SIZE) -> tuple[int, int]:
    """The worker's turn: up to `limit` due messages over one connection; (sent, failed)."""
    accepted, refused = _send(_take(_due(), limit=limit))
    return len(accepted), len(refused)


def deliver_pending(limit: int = 10_000) -> tuple[int, int]:
    """`tenohira outbox send`: everything pending, now, whatever its retry time (run by a
    person once the mail server is back, or by cron); each message is tried once."""
    sent = failed = 0
    tried: list[int] = []
    while sent + failed < limit:
        batch = _take(_pending().exclude(pk__in=tried), limit=min(BATCH_SIZE, limit - sent - failed))
        accepted, refused = _send(batch)
        if not accepted and not refused:
            break
        sent, failed = sent + len(accepted), failed + len(refused)
        tried += refused
    return sent, failed


def _pending():
    return OutboxMessage.objects.filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS)


def _due():
    now = timezone.now()
    return _pending().filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def _take(messages, *, limit: int) -> list[OutboxMessage]:
    """Take up to `limit` of `messages` that no live worker holds, for one lease; committed
    at once, so the rows are not locked while the mail server is talked to."""
    now = timezone.now()
    free = messages.filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now)).order_by("pk")
    with transaction.atomic():
        batch = list(free[:limit].select_for_update(skip_locked=True))
        if batch:
            OutboxMessage.objects.filter(pk__in=[m.pk for m in batch]).update(lease_until=now + lease())
    return batch


def _send(batch: list[OutboxMessage]) -> tuple[list[int], list[int]]:
    """Send taken messages over one connection, marking each as it goes; returns the primary
    keys (accepted, refused). What is not tried in time is freed for the next turn."""
    if not batch:
        return [], []
    accepted: list[int] = []
    refused: list[int] = []
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except Exception as exc:  # the mail server is unreachable: every message waits
        for message in batch:
            _refused(message, exc)
        return [], [m.pk for m in batch]
    deadline = time.monotonic() + lease().total_seconds() / 2
    try:
        for index, message in enumerate(batch):
            if time.monotonic() > deadline:  # a slow mail server: keep well inside the lease
                OutboxMessage.objects.filter(pk__in=[m.pk for m in batch[index:]]).update(lease_until=None)
                break
            email = EmailMessage(
                subject=message.subject, body=message.body, from_email=settings.DEFAULT_FROM_EMAIL,
                to=[message.to], connection=connection, headers={"Message-ID": message_id(message)},
            )
            for item in message.attachments or []:
                email.attach(item["filename"], item["content"], item.get("content_type") or "text/plain")
            try:
                email.send(fail_silently=False)
            except Exception as exc:  # this recipient or message was refused
                _refused(message, exc)
                refused.append(message.pk)
                continue
            _mark_sent(message.pk)
            accepted.append(message.pk)
    finally:
        try:
            connection.close()
        except Exception as exc:  # the messages were accepted; a failed QUIT changes nothing
            logger.warning("closing the mail connection failed: %s", exc)
    return accepted, refused


def _mark_sent(pk: int) -> None:
    """Its own commit, at once: a worker killed after this does not send it again. The body
    (status code, links) is not needed any more.

    Written out in SQL: it runs once per message, and building the ORM's UPDATE cost
    three times the statement itself (the tests run on both databases and would notice
    a model change this misses).

    On PostgreSQL this one commit does not wait for the disk (synchronous_commit off,
    set for this statement's own transaction by set_config(..., true), so it never
    outlives it, even behind a pooling proxy). A killed worker loses nothing by it: the
    database server still writes every commit it received. Only a crash of the database
    server itself could forget the last fraction of a second of "sent" marks, and those
    messages would be sent once more, with the same Message-ID. Waiting for the disk on
    every message held the worker to about 200 messages per second."""
    table = database.ops.quote_name(OutboxMessage._meta.db_table)
    update = (
        f"UPDATE {table} SET sent_at = %s, attempts = attempts + 1, last_error = '', "  # noqa: S608 (names from the model)
        "next_attempt_at = NULL, lease_until = NULL, body = '', attachments = %s WHERE id = %s"
    )
    if database.vendor == "postgresql":
        relaxed = "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)) "
        update = f"{relaxed}{update} AND EXISTS (SELECT 1 FROM relaxed)"  # noqa: S608 (no input in it)
    with database.cursor() as cursor:
        cursor.execute(update, [database.ops.adapt_datetimefield_value(timezone.now()), "[]", pk])


def _refused(message: OutboxMessage, exc: Exception) -> None:
    logger.warning("outbox message %s not sent: %s", message.pk, exc)
    message.attempts += 1
    if message.attempts >= MAX_ATTEMPTS:
        # No address in the log (personal data): the row has it, for whoever follows up.
        logger.error(
            "outbox message %s (%s, %s) given up after %s attempts: %s",
            message.pk, message.kind, message.reference, message.attempts, exc,
        )
    message.last_error = str(exc)[:2000]
    message.next_attempt_at = timezone.now() + retry_pause(message.attempts)
    message.lease_until = None
    message.save(update_fields=["attempts", "last_error", "next_attempt_at", "lease_until"])
