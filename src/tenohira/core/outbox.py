"""The e-mail outbox: enqueue inside the business transaction, deliver outside it.

`enqueue` writes a row in the caller's transaction, so a crash between "saved" and
"sent" never loses a message. Delivery depends on settings.OUTBOX_DELIVERY:

- "worker" (the default): the request only writes the row. A delivery process
  (`tenohira outbox work`, which `tenohira serve` starts next to the web workers) picks
  pending messages in batches with FOR UPDATE SKIP LOCKED, so several workers never send
  the same message, and sends each batch over one mail-server connection. The resident's
  request does not wait for the mail server, and a busy hour costs one connection per
  batch instead of one per message.
- "after_commit": the request that wrote the message sends it right after its commit
  (one process, no worker: small set-ups and the tests).

A message is marked sent only after the mail server accepted it. A refused message is
retried later with a growing pause (1, 2, 4 … minutes, at most an hour), up to
MAX_ATTEMPTS times; `tenohira outbox send` tries everything pending at once.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from tenohira.core.models import OutboxMessage

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 10
BATCH_SIZE = 100
AFTER_COMMIT = "after_commit"
WORKER = "worker"


def delivery_mode() -> str:
    return getattr(settings, "OUTBOX_DELIVERY", WORKER)


def enqueue(*, kind: str, to: str, subject: str, body: str, reference: str = "") -> OutboxMessage:
    message = compose(kind=kind, to=to, subject=subject, body=body, reference=reference)
    message.save(force_insert=True)
    saved(message)
    return message


def compose(*, kind: str, to: str, subject: str, body: str, reference: str = "") -> OutboxMessage:
    """An unsaved message, for a caller that writes it with other rows (core.rows);
    call saved() once it is written."""
    return OutboxMessage(kind=kind, to=to, subject=subject, body=body, reference=reference)


def saved(message: OutboxMessage) -> None:
    """The message row was written in the current transaction: deliver after the commit
    when the requests send their own e-mail."""
    if delivery_mode() == AFTER_COMMIT:
        transaction.on_commit(lambda: deliver(message.pk))


def retry_pause(attempts: int) -> dt.timedelta:
    """How long a refused message waits before the next try."""
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def deliver(pk: int) -> bool:
    """Send one pending message; True when the mail server accepted it."""
    accepted, _refused = _send_locked(OutboxMessage.objects.filter(pk=pk, sent_at__isnull=True))
    return len(accepted) == 1


def deliver_batch(limit: int = BATCH_SIZE) -> tuple[int, int]:
    """The worker's turn: up to `limit` due messages over one connection; (sent, failed)."""
    now = timezone.now()
    due = _pending().filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    accepted, refused = _send_locked(due.order_by("pk")[:limit], skip_locked=True)
    return len(accepted), len(refused)


def deliver_pending(limit: int = 10_000) -> tuple[int, int]:
    """`tenohira outbox send`: everything pending, now, whatever its retry time (run by a
    person once the mail server is back, or by cron); each message is tried once."""
    sent = failed = 0
    tried: list[int] = []
    while sent + failed < limit:
        batch = _pending().exclude(pk__in=tried).order_by("pk")[: min(BATCH_SIZE, limit - sent - failed)]
        accepted, refused = _send_locked(batch, skip_locked=True)
        if not accepted and not refused:
            break
        sent, failed = sent + len(accepted), failed + len(refused)
        tried += refused
    return sent, failed


def _pending():
    return OutboxMessage.objects.filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS)


def _send_locked(messages, *, skip_locked: bool = False) -> tuple[list[int], list[int]]:
    """Lock, send and mark `messages`; returns the primary keys (accepted, refused)."""
    with transaction.atomic():
        batch = list(messages.select_for_update(skip_locked=skip_locked))
        if not batch:
            return [], []
        now = timezone.now()
        accepted: list[int] = []
        refused: list[tuple[OutboxMessage, Exception]] = []
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except Exception as exc:  # the mail server is unreachable: every message waits
            refused = [(message, exc) for message in batch]
        else:
            try:
                for message in batch:
                    email = EmailMessage(
                        subject=message.subject, body=message.body, from_email=settings.DEFAULT_FROM_EMAIL,
                        to=[message.to], connection=connection,
                    )
                    try:
                        email.send(fail_silently=False)
                    except Exception as exc:  # this recipient or message was refused
                        refused.append((message, exc))
                    else:
                        accepted.append(message.pk)
            finally:
                try:
                    connection.close()
                except Exception as exc:  # the messages were accepted; a failed QUIT changes nothing
                    logger.warning("closing the mail connection failed: %s", exc)
        if accepted:
            OutboxMessage.objects.filter(pk__in=accepted).update(
                sent_at=now, attempts=F("attempts") + 1, last_error="", next_attempt_at=None
            )
        for message, exc in refused:
            logger.warning("outbox message %s not sent: %s", message.pk, exc)
            message.attempts += 1
            if message.attempts >= MAX_ATTEMPTS:
                # No address in the log (personal data): the row has it, for whoever follows up.
                logger.error(
                    "outbox message %s (%s, %s) given up after %s attempts: %s",
                    message.pk, message.kind, message.reference, message.attempts, exc,
                )
            message.last_error = str(exc)[:2000]
            message.next_attempt_at = now + retry_pause(message.attempts)
            message.save(update_fields=["attempts", "last_error", "next_attempt_at"])
        return accepted, [message.pk for message, _exc in refused]
