"""Deliveries to business systems: created with the change that causes them, sent after.

A Delivery row is written in the submission's transaction (integrations.receivers), so a
crash between "stored" and "sent" loses nothing. A worker then takes it with a lease (one
short transaction), sends it through its kind (contrib/), and records what happened in a
commit of its own, only if the lease is still its own. A worker killed mid-send leaves the
delivery `sending` with a lease that runs out; the sweep takes it again and sends it once
more with the same delivery id, which the receiving system deduplicates by
(X-Tenohira-Delivery). So a delivery is sent at least once, and at most the one in flight
twice.

Failures: a kind says "retry" (the target is down, slow, answers 5xx) or "give up" (it
refused the document: 4xx, a missing directory). A retry waits 1, 2, 4 … minutes (at most
INTEGRATIONS_MAX_BACKOFF_MINUTES) up to INTEGRATIONS_MAX_ATTEMPTS tries; then, or at once
for a refusal, the delivery is dead (送信できず) with the reason in plain Japanese, shown
to staff, who can resend it once the cause is fixed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenohira.audit.services import record as audit
from tenohira.core import background
from tenohira.integrations import layout
from tenohira.integrations.models import Delivery, DeliveryTarget
from tenohira.integrations.registry import Outcome, register

logger = logging.getLogger(__name__)

TASK = "integrations.deliver"
DEFAULT_EVENTS = [Delivery.Event.SUBMITTED, Delivery.Event.RESUBMITTED]
OPEN_STATES = [Delivery.State.PENDING, Delivery.State.SENDING, Delivery.State.RETRYING]
RESENDABLE = [Delivery.State.RETRYING, Delivery.State.DEAD]
SWEEP_BATCH = 50


def setting(name: str, default):
    """An INTEGRATIONS_* setting: settings first, then the environment, then `default`."""
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name, "")
    if value in (None, ""):
        return default
    return type(default)(value) if not isinstance(default, str) else value


def max_attempts() -> int:
    return setting("INTEGRATIONS_MAX_ATTEMPTS", 12)


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=setting("INTEGRATIONS_LEASE_SECONDS", 120))


def retry_pause(attempts: int) -> dt.timedelta:
    """1, 2, 4 … minutes after the 1st, 2nd, 3rd … failed try, at most the cap."""
    base = setting("INTEGRATIONS_RETRY_BASE_SECONDS", 60.0)
    cap = setting("INTEGRATIONS_MAX_BACKOFF_MINUTES", 60.0) * 60
    return dt.timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def signing_key(target: DeliveryTarget) -> bytes:
    """The target's webhook signing key: HMAC(INTEGRATIONS_KEY, target id). Derived, never
    stored, so the database alone gives no one the power to forge a delivery. Without
    INTEGRATIONS_KEY (a demo) the site's SECRET_KEY stands in; set INTEGRATIONS_KEY in
    production so rotating SECRET_KEY does not change every receiver's key."""
    secret = setting("INTEGRATIONS_KEY", "") or f"secret-key:{settings.SECRET_KEY}"
    return hmac.new(secret.encode(), f"delivery-target:{target.pk}".encode(), hashlib.sha256).digest()


def signing_key_text(target: DeliveryTarget) -> str:
    """The key as the receiving system's operator configures it (hex)."""
    return signing_key(target).hex()


# --- creating deliveries (in the business transaction) ------------------------------------


def targets_for(submission, event: str) -> list[DeliveryTarget]:
    targets = DeliveryTarget.objects.filter(is_active=True).filter(
        Q(section_id=submission.section_id) | Q(procedure_id=submission.procedure_id)
    )
    return [t for t in targets if event in (t.events or DEFAULT_EVENTS) and register.get(t.kind)]


def create_deliveries(submission, event: str) -> list[Delivery]:
    """One Delivery per active target serving the submission's section or procedure that
    wants `event`; dispatched after the commit. Call inside the change's transaction."""
    targets = targets_for(submission, event)
    if not targets:
        return []
    now = timezone.now()
    deliveries = [
        Delivery(target=t, submission=submission, event=event, next_attempt_at=_first_due(now))
        for t in targets
    ]
    Delivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        if delivery.pk is None:  # a backend that does not return keys from a bulk insert
            delivery = Delivery.objects.get(delivery_id=delivery.delivery_id)
        background.dispatch_on_commit(TASK, delivery.pk)
    return deliveries


def _first_due(now: dt.datetime) -> dt.datetime:
    """When the sweep should look at a new delivery. With a broker, the dispatched task
    sends it at once and the sweep only catches one whose dispatch was lost; without one
    (embedded), the sweep is what sends it."""
    if background.mode() == background.EMBEDDED:
        return now
    return now + dt.timedelta(seconds=setting("INTEGRATIONS_SWEEP_GRACE_SECONDS", 30.0))


# --- sending (the worker) -----------------------------------------------------------------


def deliver(delivery_pk: int) -> bool | None:
    """Send one delivery if no live worker holds it and it is still to send; True when
    delivered, False when it failed, None when there was nothing to do (idempotent)."""
    taken = _take(Delivery.objects.filter(pk=delivery_pk).filter(
        Q(state=Delivery.State.PENDING) | Q(state=Delivery.State.SENDING)
        | Q(state=Delivery.State.RETRYING, next_attempt_at__lte=timezone.now())
    ), limit=1)
    if not taken:
        return None
    return _send(taken[0])


def sweep(limit: int = SWEEP_BATCH) -> bool:
    """The periodic turn: send up to `limit` due deliveries (new ones whose dispatch was
    lost, retries whose pause is over, ones a killed worker left). True when the batch was
    full, so more may be waiting."""
    now = timezone.now()
    due = Delivery.objects.filter(state__in=OPEN_STATES, next_attempt_at__lte=now)
    taken = _take(due, limit=limit)
    for delivery in taken:
        _send(delivery)
    return len(taken) >= limit


def _take(deliveries, *, limit: int) -> list[Delivery]:
    """Take up to `limit` deliveries no live worker holds, for one lease, and commit at once
    (the rows are not locked while the target is talked to)."""
    now = timezone.now()
    free = deliveries.filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now)).order_by("next_attempt_at", "pk")
    until = now + lease()
    with transaction.atomic():
        batch = list(free.select_for_update(skip_locked=True)[:limit])
        if batch:
            # next_attempt_at = the lease's end: if this worker dies, the sweep finds it then.
            Delivery.objects.filter(pk__in=[d.pk for d in batch]).update(
                state=Delivery.State.SENDING, lease_until=until, next_attempt_at=until,
            )
    for delivery in batch:
        delivery.state, delivery.lease_until, delivery.next_attempt_at = Delivery.State.SENDING, until, until
    return batch


def _send(delivery: Delivery) -> bool:
    kind = register.get(delivery.target.kind)
    try:
        if kind is None:
            outcome = Outcome(False, reason=f"連携の方法「{delivery.target.kind}」はこのサーバーで使えません。管理画面で連携先の設定を確かめてください。")
        elif not delivery.target.is_active:
            outcome = Outcome(False, reason="連携先が無効になっています。有効にしてから再送してください。")
        else:
            outcome = kind.send(delivery, layout.document(delivery.submission, delivery))
    except Exception as exc:  # a bug or an unexpected failure: retried, and visible to staff
        logger.exception("delivery %s failed unexpectedly", delivery.delivery_id)
        outcome = Outcome(False, retry=True, reason="送信中に予期しないエラーが起きました。自動で再送します。続く場合はシステム管理者に連絡してください。",
                          detail=type(exc).__name__)
    _finish(delivery, outcome)
    return outcome.delivered


def _finish(delivery: Delivery, outcome: Outcome) -> None:
    """Record the outcome in its own commit, only while the lease is still ours (a resend
    by staff or another worker after a lapsed lease must not be overwritten)."""
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "lease_until": None, "last_status_code": outcome.status_code}
    if outcome.delivered:
        fields.update(state=Delivery.State.DELIVERED, delivered_at=now, next_attempt_at=None, last_error="")
    elif outcome.retry and attempts < max_attempts():
        fields.update(state=Delivery.State.RETRYING, next_attempt_at=now + retry_pause(attempts),
                      last_error=_error_text(outcome))
    else:
        reason = outcome if not outcome.retry else Outcome(
            False, reason=f"{max_attempts()}回試しても送れなかったため、自動の再送をやめました。{outcome.reason}",
            detail=outcome.detail,
        )
        fields.update(state=Delivery.State.DEAD, next_attempt_at=None, last_error=_error_text(reason))
        logger.warning("delivery %s to target %s dead: %s", delivery.delivery_id, delivery.target_id,
                       outcome.detail or outcome.reason)
    updated = Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.SENDING,
                                      lease_until=delivery.lease_until).update(**fields)
    if updated:
        for name, value in fields.items():
            setattr(delivery, name, value)


def _error_text(outcome: Outcome) -> str:
    """Plain Japanese first (staff read it), the technical detail on the next line."""
    text = outcome.reason or "送信できませんでした。"
    if outcome.detail:
        text += f"\n技術情報: {outcome.detail}"
    return text[:2000]


# --- staff: resend ----------------------------------------------------------------------


def resend(user, delivery: Delivery, *, request=None) -> Delivery:
    """再送する: a failed or dead delivery goes back to pending with a fresh count of tries,
    the same delivery id (the receiver still deduplicates), and is dispatched."""
    from tenohira.integrations import selectors

    if not selectors.may_resend(user, delivery):
        raise PermissionDenied("この連携を再送する権限がありません。")
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.state not in RESENDABLE:
            raise ValueError("送信待ち・送信中・送信済みの連携は再送できません。")
        previous = {"state": locked.state, "attempts": locked.attempts}
        Delivery.objects.filter(pk=locked.pk).update(
            state=Delivery.State.PENDING, attempts=0, lease_until=None, next_attempt_at=timezone.now(),
        )
        audit("integration_resend", user=user, target=locked.submission.receipt_number,
              detail={"delivery": str(locked.delivery_id), "target": locked.target.name, **previous},
              request=request)
        background.dispatch_on_commit(TASK, locked.pk)
    locked.refresh_from_db()
    return locked
