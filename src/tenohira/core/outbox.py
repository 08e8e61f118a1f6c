"""The e-mail outbox: enqueue inside the business transaction, deliver after commit.

`enqueue` writes a row in the caller's transaction. After the commit the message is sent
at once through Django's mail layer (the embedded runner); anything that failed stays
pending and `tenohira outbox send` (run from cron or a Celery beat task in production)
retries it. A message is marked sent only after the mail server accepted it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from tenohira.core.models import OutboxMessage

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 10


def enqueue(*, kind: str, to: str, subject: str, body: str, reference: str = "") -> OutboxMessage:
    message = OutboxMessage.objects.create(kind=kind, to=to, subject=subject, body=body, reference=reference)
    transaction.on_commit(lambda: deliver(message.pk))
    return message


def deliver(pk: int) -> bool:
    """Send one pending message; True when the mail server accepted it."""
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().filter(pk=pk, sent_at__isnull=True).first()
        if message is None:
            return False
        message.attempts += 1
        try:
            EmailMessage(
                subject=message.subject, body=message.body, from_email=settings.DEFAULT_FROM_EMAIL, to=[message.to]
            ).send(fail_silently=False)
        except Exception as exc:  # any transport failure: keep it pending for a retry
            logger.warning("outbox message %s not sent: %s", message.pk, exc)
            message.last_error = str(exc)[:2000]
            message.save(update_fields=["attempts", "last_error"])
            return False
        message.sent_at = timezone.now()
        message.last_error = ""
        message.save(update_fields=["attempts", "sent_at", "last_error"])
        return True


def deliver_pending(limit: int = 500) -> tuple[int, int]:
    """Retry what is still pending; returns (sent, failed)."""
    sent = failed = 0
    pending = OutboxMessage.objects.filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS).values_list("pk", flat=True)
    for pk in list(pending[:limit]):
        if deliver(pk):
            sent += 1
        else:
            failed += 1
    return sent, failed
