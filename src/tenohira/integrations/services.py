"""Deliveries to business systems: created with the change that causes them, sent after.

A Delivery row is written in the submission's transaction (integrations.receivers), so a
crash between "stored" and "sent" loses nothing. A worker then takes a batch of them with a
lease (one short transaction), sends each through its kind (contrib/), and records what
happened a group at a time (at most RECORD_EVERY per commit), only where the lease is still
its own. A worker killed mid-batch leaves its deliveries `sending` with a lease that runs
out; the sweep takes them again and sends those it had not recorded once more with the
same delivery id, which the receiving system deduplicates by (X-Tenohira-Delivery). So a
delivery is sent at least once, and at most the unrecorded group of a killed worker twice.

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
import time

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection as database
from django.db import transaction
from django.db.models import F, Q
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
    chosen = [t for t in targets if event in (t.events or DEFAULT_EVENTS) and register.get(t.kind)]
    if any(t.procedure_id != submission.procedure_id for t in chosen) and _is_survey(submission):
        # A survey's responses are not applications: a section's business system gets none
        # of them; only a target set up for the survey itself does.
        chosen = [t for t in chosen if t.procedure_id == submission.procedure_id]
    return chosen


def _is_survey(submission) -> bool:
    from tenohira.forms.models import FormDefinition

    return FormDefinition.objects.filter(
        versions=submission.form_version_id, kind=FormDefinition.Kind.SURVEY
    ).exists()


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
    pks = [
        # a backend that does not return keys from a bulk insert
        d.pk if d.pk is not None else Delivery.objects.values_list("pk", flat=True).get(delivery_id=d.delivery_id)
        for d in deliveries
    ]
    # One task for all of them: one batch, the document built once.
    background.dispatch_on_commit(TASK, *pks)
    return deliveries


def _first_due(now: dt.datetime) -> dt.datetime:
    """When the sweep should look at a new delivery. With a broker, the dispatched task
    sends it at once and the sweep only catches one whose dispatch was lost; without one
    (embedded), the sweep is what sends it."""
    if background.mode() == background.EMBEDDED:
        return now
    return now + dt.timedelta(seconds=setting("INTEGRATIONS_SWEEP_GRACE_SECONDS", 30.0))


# --- sending (the worker) -----------------------------------------------------------------
#
# A worker sends deliveries in batches: one short transaction takes up to BATCH of them with
# a lease (FOR UPDATE SKIP LOCKED, so two workers never take the same row), one query loads
# their targets and submissions, the standard document is built once per submission (only
# its delivery block differs between targets), and the outcomes are written a group at a
# time, RECORD_EVERY deliveries or RECORD_SECONDS at most per commit. Per delivery, what is
# left is the document's serialisation, its signature and the HTTP call.
#
# The price of grouping the outcomes: a worker killed mid-batch leaves up to RECORD_EVERY
# deliveries sent but not recorded, and they are sent again, with the same delivery id,
# once the lease has passed. The receiving system deduplicates by that id, as it must
# anyway (a timeout can hide a delivery the target did accept).

BATCH = 100
RECORD_EVERY = 20
RECORD_SECONDS = 0.2


def deliver(delivery_pk: int, *more: int) -> bool | None:
    """The dispatched task: send this delivery (and `more` written in the same commit) if
    it is still to send and no live worker holds it, together with other new deliveries
    waiting for their own dispatch, so that a burst goes out in batches; the tasks of
    those then find nothing to do (idempotent). Returns, for `delivery_pk`: True when
    delivered, False when it failed, None when there was nothing to do."""
    pks = [delivery_pk, *more]
    now = timezone.now()
    until = now + lease()
    if database.vendor == "postgresql":
        mine = _claim(pks, now, until)
    else:
        mine = _take(Delivery.objects.filter(pk__in=pks).filter(
            Q(state=Delivery.State.PENDING) | Q(state=Delivery.State.SENDING)
            | Q(state=Delivery.State.RETRYING, next_attempt_at__lte=now)
        ), limit=len(pks), until=until)
    if not mine:
        return None
    others = _take(_waiting(now).exclude(pk__in=pks), limit=BATCH - len(mine), until=until)
    return _send_batch(mine + others).get(delivery_pk)


def sweep(limit: int = BATCH) -> bool:
    """The periodic turn: send up to `limit` due deliveries (new ones whose dispatch was
    lost, retries whose pause is over, ones a killed worker left). True when the batch was
    full, so more may be waiting."""
    now = timezone.now()
    taken = _take(Delivery.objects.filter(state__in=OPEN_STATES, next_attempt_at__lte=now), limit=limit)
    _send_batch(taken)
    return len(taken) >= limit


def _waiting(now: dt.datetime):
    """What a dispatched task may take along: new deliveries (their own task is on its way
    and will find them sent) and any that are due."""
    return Delivery.objects.filter(
        Q(state=Delivery.State.PENDING) | Q(state__in=OPEN_STATES, next_attempt_at__lte=now)
    )


def _claim(pks: list[int], now: dt.datetime, until: dt.datetime) -> list[Delivery]:
    """deliver()'s own rows on PostgreSQL, in one statement: lock what is still to send and
    free (SKIP LOCKED), lease it and read it back, one round trip in its own commit. Most
    dispatched tasks of a burst find their deliveries already sent along with another
    batch, and for them this statement is the whole task; the query _take builds
    cost several times more."""
    table = database.ops.quote_name(Delivery._meta.db_table)
    columns = ", ".join(("id", *_SENT_FIELDS))  # the attribute names are the column names
    sending, pending, retrying = Delivery.State.SENDING, Delivery.State.PENDING, Delivery.State.RETRYING
    sql = (
        f"UPDATE {table} SET state = %s, lease_until = %s, next_attempt_at = %s "  # noqa: S608 (names from the model)
        f"WHERE id IN (SELECT id FROM {table} WHERE id = ANY(%s) "
        "AND (state IN (%s, %s) OR (state = %s AND next_attempt_at <= %s)) "
        "AND (lease_until IS NULL OR lease_until <= %s) FOR UPDATE SKIP LOCKED) "
        f"RETURNING {columns}"
    )
    with database.cursor() as cursor:
        cursor.execute(sql, [sending, until, until, list(pks), pending, sending, retrying, now, now])
        rows = cursor.fetchall()
    if not rows:
        return []
    names = ["id", *_SENT_FIELDS]
    return _load(sorted((Delivery.from_db(database.alias, names, row) for row in rows), key=lambda d: d.pk))


def _take(deliveries, *, limit: int, until: dt.datetime | None = None) -> list[Delivery]:
    """Take up to `limit` deliveries no live worker holds, for one lease (until `until`),
    and commit at once (the rows are not locked while the targets are talked to). They
    come back with their targets, submissions and what the document needs, loaded for
    the whole batch in two more queries."""
    if limit <= 0:
        return []
    now = timezone.now()
    until = until or now + lease()
    free = deliveries.filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now)).order_by("next_attempt_at", "pk")
    with transaction.atomic():
        batch = list(free.select_for_update(skip_locked=True).only(*_SENT_FIELDS)[:limit])
        if not batch:
            return []
        # next_attempt_at = the lease's end: if this worker dies, the sweep finds it then.
        Delivery.objects.filter(pk__in=[d.pk for d in batch]).update(
            state=Delivery.State.SENDING, lease_until=until, next_attempt_at=until,
        )
    for delivery in batch:
        delivery.state, delivery.lease_until, delivery.next_attempt_at = Delivery.State.SENDING, until, until
    return _load(batch)


def _load(batch: list[Delivery]) -> list[Delivery]:
    """Give taken deliveries their targets and submissions, each loaded once however many
    of the batch share it (the document's procedure, section, form version and
    attachments with them)."""
    targets = DeliveryTarget.objects.in_bulk({d.target_id for d in batch})
    submission_model = Delivery._meta.get_field("submission").related_model
    submissions = (
        submission_model.objects.select_related("procedure", "section", "form_version")
        # A published form version's parsed schema is kept per process (forms.models).
        .defer("form_version__schema")
        .prefetch_related("attachments")
        .in_bulk({d.submission_id for d in batch})
    )
    for delivery in batch:
        delivery.target = targets[delivery.target_id]
        delivery.submission = submissions[delivery.submission_id]
    return batch


# What sending reads of a delivery (the rest, such as last_error, only staff pages need).
_SENT_FIELDS = ("delivery_id", "target_id", "submission_id", "event", "state", "attempts", "lease_until",
                "next_attempt_at", "created_at")


def _send_batch(batch: list[Delivery]) -> dict[int, bool]:
    """Send taken deliveries one after the other, recording the outcomes in groups;
    {pk: delivered} for those tried. What is not tried within half the lease (a slow
    target) is freed for the next turn, so no other worker takes a delivery while this
    one may still be sending it."""
    results: dict[int, bool] = {}
    documents: dict[int, dict] = {}  # submission id → its document without the delivery block
    unrecorded: list[tuple[Delivery, Outcome]] = []
    began = last_record = time.monotonic()
    deadline = began + lease().total_seconds() / 2
    try:
        for index, delivery in enumerate(batch):
            if time.monotonic() > deadline:
                _release(batch[index:])
                break
            outcome = _attempt(delivery, documents)
            results[delivery.pk] = outcome.delivered
            unrecorded.append((delivery, outcome))
            if len(unrecorded) >= RECORD_EVERY or time.monotonic() - last_record >= RECORD_SECONDS:
                _record(unrecorded)
                unrecorded, last_record = [], time.monotonic()
    finally:
        # Also when a bug or the database stops the batch: what was sent is recorded if it
        # can be; the rest stays taken until the lease passes and is sent again then.
        _record(unrecorded)
    return results


def _attempt(delivery: Delivery, documents: dict[int, dict]) -> Outcome:
    """One try of one delivery through its kind; never raises."""
    kind = register.get(delivery.target.kind)
    try:
        if kind is None:
            return Outcome(False, reason=f"連携の方法「{delivery.target.kind}」はこのサーバーで使えません。管理画面で連携先の設定を確かめてください。")
        if not delivery.target.is_active:
            return Outcome(False, reason="連携先が無効になっています。有効にしてから再送してください。")
        base = documents.get(delivery.submission_id)
        if base is None:
            base = documents[delivery.submission_id] = layout.submission_document(delivery.submission)
        return kind.send(delivery, layout.for_delivery(base, delivery))
    except Exception as exc:  # a bug or an unexpected failure: retried, and visible to staff
        logger.exception("delivery %s failed unexpectedly", delivery.delivery_id)
        return Outcome(False, retry=True, reason="送信中に予期しないエラーが起きました。自動で再送します。続く場合はシステム管理者に連絡してください。",
                       detail=type(exc).__name__)


def _record(unrecorded: list[tuple[Delivery, Outcome]]) -> None:
    """Write outcomes, only where the lease is still ours (a resend by staff or another
    worker after a lapsed lease must not be overwritten). The delivered ones, nearly all,
    in one UPDATE per status code and lease; a failure in its own."""
    delivered: dict[tuple, list[Delivery]] = {}
    for delivery, outcome in unrecorded:
        if outcome.delivered:
            delivered.setdefault((outcome.status_code, delivery.lease_until), []).append(delivery)
        else:
            _finish(delivery, outcome)
    now = timezone.now()
    for (status_code, until), group in delivered.items():
        fields = {"state": Delivery.State.DELIVERED, "delivered_at": now, "next_attempt_at": None,
                  "lease_until": None, "last_error": "", "last_status_code": status_code}
        updated = Delivery.objects.filter(
            pk__in=[d.pk for d in group], state=Delivery.State.SENDING, lease_until=until,
        ).update(attempts=F("attempts") + 1, **fields)
        if updated == len(group):
            for delivery in group:
                delivery.attempts += 1
                for name, value in fields.items():
                    setattr(delivery, name, value)


def _release(deliveries: list[Delivery]) -> None:
    """Give back taken deliveries that were not tried: due now, for any worker."""
    by_lease: dict[dt.datetime, list[int]] = {}
    for delivery in deliveries:
        by_lease.setdefault(delivery.lease_until, []).append(delivery.pk)
    now = timezone.now()
    for until, pks in by_lease.items():
        Delivery.objects.filter(pk__in=pks, state=Delivery.State.SENDING, lease_until=until).update(
            lease_until=None, next_attempt_at=now,
        )


def _finish(delivery: Delivery, outcome: Outcome) -> None:
    """Record a failed try (or any one outcome) in its own commit, only while the lease is
    still ours."""
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
