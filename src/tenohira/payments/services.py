"""Every write of the online payment flow: 調定 on submission, a payment attempt, what a
provider reports (return, webhook, polling), expiry, and the request after review.

Locks are always taken in the same order — the assessment, then its payments — so a
webhook, the resident's return and a sweep working on the same assessment wait for each
other instead of deadlocking. State moves go through payments.states (each one a
PaymentEvent). Nothing here stores or logs a card number, wallet id or token: only the
provider's reference of an attempt.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from tenohira.core import outbox
from tenohira.core.fiscal import fiscal_year, local
from tenohira.core.site import public_url
from tenohira.payments import states
from tenohira.payments.models import (
    Assessment,
    AssessmentCounter,
    FeeSetting,
    Payment,
    PaymentEvent,
    Timing,
)
from tenohira.payments.registry import (
    InvalidWebhook,
    ProviderError,
    Snapshot,
    WebhookEvent,
    register,
)
from tenohira.payments.states import OPEN_PAYMENT, A, P, StateError

logger = logging.getLogger(__name__)

__all__ = [
    "InvalidWebhook", "PaymentRefused", "StateError", "apply_snapshot", "assess_submission", "expire_due",
    "fee_of_answers", "handle_webhook", "open_assessment_request", "poll_open_payments", "refresh_payment",
    "start_payment",
]


class PaymentRefused(Exception):
    """A payment cannot start now; the message is for the resident, in Japanese."""


# --- How much: the form's computed fee, recomputed here -------------------------------------


def fee_field_of(schema, setting: FeeSetting | None):
    """The computed field that holds the fee: the setting's fee_field, else the form's
    first computed field shown in yen."""
    fields = schema.field_map()
    if setting is not None and setting.fee_field:
        found = fields.get(setting.fee_field)
        return found if found is not None and found.type == "computed" else None
    for fld in schema.all_fields():
        if fld.type == "computed" and fld.option("format") == "yen":
            return fld
    return None


def whole_yen(value) -> int:
    """A computed amount as whole yen; anything unreadable or negative is 0 (no fee)."""
    try:
        amount = Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_DOWN)
    except (InvalidOperation, ValueError):
        return 0
    return max(int(amount), 0)


def fee_of_answers(schema, answers: dict, setting: FeeSetting | None) -> int:
    """The fee for stored answers, computed again by the form engine.

    The stored answers are turned back into the inputs that give them and the form is run
    over them: the conditions and the expression decide the amount here, on the server,
    whatever a page or a browser showed."""
    from tenohira.applications.services import raw_from_answers
    from tenohira.forms.engine import FormRun

    fld = fee_field_of(schema, setting)
    if fld is None:
        return 0
    run = FormRun(schema, raw_from_answers(schema, answers))
    return whole_yen(run.answers.get(fld.key, 0))


def fee_setting_of(procedure_id) -> FeeSetting | None:
    return FeeSetting.objects.select_related("fee_item").filter(procedure_id=procedure_id).first()


# --- 調定 on submission ----------------------------------------------------------------------


def next_assessment_number(at: dt.datetime | None = None) -> str:
    """調定番号 "<fiscal year>-<7 digits>": one atomic upsert, so two submissions at the
    same moment never take the same number and no row lock is held for long."""
    year = fiscal_year(at or timezone.now())
    table = connection.ops.quote_name(AssessmentCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (fiscal_year, last) VALUES (%s, 1) "  # noqa: S608 (our own table name)
            f"ON CONFLICT (fiscal_year) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [year],
        )
        (last,) = cursor.fetchone()
    return f"{year}-{last:07d}"


def _expiry(setting: FeeSetting | None, now: dt.datetime) -> dt.datetime:
    days = setting.expiry_days if setting is not None else 14
    return now + dt.timedelta(days=days)


def assess_submission(submission) -> Assessment | None:
    """調定 for a submission just stored (called inside its transaction).

    Only for a procedure with a FeeSetting, not for surveys, and only when the recomputed
    fee is above 0. Paid at submission: asked for at once, with its expiry; after review:
    assessed, and asked for later (open_assessment_request)."""
    definition = submission.form_version.definition
    if definition.kind == "survey":
        return None
    setting = fee_setting_of(submission.procedure_id)
    if setting is None:
        return None
    amount = fee_of_answers(submission.form_version.parsed(), submission.answers, setting)
    if amount <= 0:
        return None
    now = timezone.now()
    assessment = Assessment.objects.create(
        number=next_assessment_number(now), submission=submission, procedure_id=submission.procedure_id,
        fee_item=setting.fee_item, timing=setting.timing, amount_assessed=amount, amount_due=amount,
        state=A.ASSESSED,
    )
    states.note(assessment, kind="assessed", actor_label="システム", detail={"amount": amount})
    if setting.timing == Timing.AT_SUBMISSION:
        assessment.requested_at, assessment.expires_at = now, _expiry(setting, now)
        assessment.save(update_fields=["requested_at", "expires_at", "updated_at"])
        states.move_assessment(assessment, A.AWAITING, kind="request", actor_label="システム")
    return assessment


# --- The request after review (事後決済) -----------------------------------------------------


def pay_url(assessment: Assessment) -> str:
    return public_url(reverse("payments:pay", args=[assessment.token]))


def open_assessment_request(assessment: Assessment, *, user, request=None) -> Assessment:
    """Ask the resident to pay (after review, or again after an expiry): awaiting
    payment with a new expiry, an e-mail with the /pay/ link, and an audit record.

    The caller (the staff page) has already checked that `user` may handle this
    application (backoffice.selectors); this only refuses a move the state machine does
    not allow (StateError, in Japanese)."""
    from tenohira.audit.services import record

    with transaction.atomic():
        locked = Assessment.objects.select_for_update().select_related("submission", "procedure").get(
            pk=assessment.pk)
        if locked.state not in {A.ASSESSED, A.EXPIRED}:
            raise StateError(
                f"調定 {locked.number} は「{locked.get_state_display()}」なので、支払いを依頼できません。")
        now = timezone.now()
        setting = fee_setting_of(locked.procedure_id)
        locked.requested_at, locked.expires_at = now, _expiry(setting, now)
        locked.save(update_fields=["requested_at", "expires_at", "updated_at"])
        states.move_assessment(locked, A.AWAITING, kind="request", actor=user,
                               actor_label=getattr(user, "get_full_name", lambda: "")() or getattr(user, "username", ""),
                               at=now)
        _mail_request(locked)
        record("payments.request", user=user, target=locked.number, request=request,
               detail={"receipt_number": locked.submission.receipt_number, "amount": locked.amount_due})
    assessment.refresh_from_db()
    return assessment


def jp_datetime(moment: dt.datetime) -> str:
    at = local(moment)
    return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}"


def _mail_request(assessment: Assessment) -> None:
    submission = assessment.submission
    if not submission.email:
        return  # マイページ and the status page still show the request and the link
    city = settings.MUNICIPALITY_NAME
    lines = [
        f"{city}です。次の申請の手数料のお支払いをお願いします。",
        "",
        f"手続き: {assessment.procedure.name}",
        f"受付番号: {submission.receipt_number}",
        f"手数料: {assessment.amount_due:,}円",
        f"お支払いの期限: {jp_datetime(assessment.expires_at)}",
        "",
        "次のページからお支払いください（クレジットカードなど）。",
        pay_url(assessment),
        "",
        "期限を過ぎるとお支払いの手続きは取り消されます。その後は担当課へご連絡ください。",
        "このページのアドレスは他の人に教えないでください。",
        "",
        "このメールは送信専用です。お問い合わせは担当課へお願いします。",
    ]
    outbox.enqueue(
        kind="payment_request", to=submission.email,
        subject=f"【{city}】手数料のお支払いのお願い（受付番号 {submission.receipt_number}）",
        body="\n".join(lines), reference=assessment.number,
    )


# --- Paying: one attempt at a time -------------------------------------------------------------


def allowed_providers(assessment: Assessment | None, setting: FeeSetting | None = None) -> list:
    """The online providers a resident may choose: the procedure's list, else every one."""
    if setting is None and assessment is not None:
        setting = fee_setting_of(assessment.procedure_id)
    online = register.online()
    if setting is not None and setting.providers:
        wanted = set(setting.providers)
        return [p for p in online if p.name in wanted]
    return online


def has_flagged(assessment: Assessment) -> bool:
    return assessment.payments.filter(flagged=True).exists()


def start_payment(token: str, provider_name: str) -> Payment:
    """Start a new attempt for the assessment named by `token` with `provider_name`.

    One open attempt at a time: an earlier open one is first asked for its state (the
    resident may have paid in another tab) and then cancelled at the provider. The
    attempt carries its own idempotency key, so a retried call never charges twice. The
    provider is called while the assessment is locked: a double tap waits for the first
    tap's attempt instead of starting a second one beside it."""
    with transaction.atomic():
        assessment = (Assessment.objects.select_for_update().select_related("procedure")
                      .filter(token=token).first())
        if assessment is None:
            raise PaymentRefused("お支払いのページが見つかりません。メールに記載されたアドレスを確かめてください。")
        provider = next((p for p in allowed_providers(assessment) if p.name == provider_name), None)
        if provider is None:
            raise PaymentRefused("選んだ支払い方法は、この手続きでは使えません。ほかの方法を選んでください。")
        _check_payable(assessment)
        for earlier in list(assessment.payments.select_for_update().filter(state__in=OPEN_PAYMENT)):
            _supersede(assessment, earlier)
        assessment.refresh_from_db()
        _check_payable(assessment)
        payment = Payment.objects.create(
            assessment=assessment, provider=provider.name, amount=assessment.amount_due,
            currency=assessment.currency, idempotency_key=uuid.uuid4().hex, state=P.CREATED,
        )
        states.note(assessment, kind="checkout", payment=payment, actor_label="申請者",
                    detail={"provider": provider.name, "amount": payment.amount})
        return_url = public_url(reverse("payments:return", args=[payment.public_id]))
        cancel_url = public_url(reverse("payments:pay", args=[assessment.token]))
        try:
            checkout = provider.create_checkout(payment, return_url=return_url, cancel_url=cancel_url)
        except ProviderError as exc:
            logger.warning("checkout at %s failed for %s: %s", provider.name, assessment.number, exc)
            payment.failure_reason = "支払いの画面を開けませんでした。しばらくしてからもう一度お試しください。"
            payment.save(update_fields=["failure_reason", "updated_at"])
            states.move_payment(payment, P.FAILED, kind="checkout", detail={"error": str(exc)[:200]})
            return payment
        payment.provider_ref = checkout.provider_ref
        payment.payment_number = checkout.payment_number
        # The hosted page's address is kept so the return page can offer it again.
        payment.payment_extra = {**(checkout.payment_extra or {}),
                                 **({"redirect_url": checkout.redirect_url} if checkout.redirect_url else {})}
        payment.expires_at = checkout.expires_at
        payment.save(update_fields=["provider_ref", "payment_number", "payment_extra", "expires_at", "updated_at"])
        states.move_payment(payment, P.AWAITING, kind="checkout")
        return payment


def _check_payable(assessment: Assessment) -> None:
    if assessment.state in states.SETTLED_FOR_RESIDENT:
        raise PaymentRefused("この手数料はお支払い済みです。")
    if has_flagged(assessment):
        raise PaymentRefused("お支払いの内容を担当課で確認しています。確認が終わるまでお待ちください。")
    if assessment.state == A.EXPIRED or (
        assessment.state == A.AWAITING and assessment.expires_at and assessment.expires_at <= timezone.now()
    ):
        raise PaymentRefused("お支払いの期限が過ぎています。担当課へご連絡ください。")
    if assessment.state != A.AWAITING:
        raise PaymentRefused("この手数料は、いまはお支払いいただけません。")


def _supersede(assessment: Assessment, earlier: Payment) -> None:
    """Close an earlier open attempt before a new one: ask first (paid meanwhile?), then
    cancel it at the provider."""
    provider = register.get(earlier.provider)
    if provider is None or not earlier.provider_ref:
        states.move_payment(earlier, P.CANCELLED, kind="superseded")
        return
    try:
        apply_snapshot(earlier, provider.retrieve(earlier), source="superseded")
    except ProviderError as exc:
        logger.warning("could not ask %s about an earlier attempt of %s: %s", earlier.provider, assessment.number, exc)
    earlier.refresh_from_db()
    if earlier.state not in OPEN_PAYMENT:
        return
    try:
        provider.cancel(earlier)
    except ProviderError as exc:
        # Cancelled here anyway: if money still arrives on it, apply_snapshot flags it.
        logger.warning("could not cancel an earlier attempt of %s at %s: %s", assessment.number, earlier.provider, exc)
    states.move_payment(earlier, P.CANCELLED, kind="superseded")


# --- What the provider reports ------------------------------------------------------------------


def _mismatch(payment: Payment, assessment: Assessment, snapshot: Snapshot) -> str:
    """Why a report of money received cannot be counted as this assessment's payment."""
    if snapshot.amount is None:
        return "事業者の通知に金額がありません。"
    try:
        reported = Decimal(str(snapshot.amount))
    except InvalidOperation:
        return "事業者の通知の金額を読み取れません。"
    currency = (snapshot.currency or "").upper()
    if currency != payment.currency or currency != assessment.currency:
        return f"通貨が違います（通知 {currency or '不明'}、請求 {assessment.currency}）。"
    if reported != payment.amount or reported != assessment.amount_due:
        return f"金額が違います（通知 {reported:,}円、請求 {assessment.amount_due:,}円）。"
    return ""


def _flag(payment: Payment, assessment: Assessment, reason: str, *, source: str) -> None:
    if payment.flagged and payment.flag_reason == reason:
        return
    payment.flagged, payment.flag_reason = True, reason[:300]
    payment.save(update_fields=["flagged", "flag_reason", "updated_at"])
    states.note(assessment, kind="flagged", payment=payment, actor_label=source, detail={"reason": reason[:300]})
    logger.warning("payment %s of %s flagged: %s", payment.public_id, assessment.number, reason)


def apply_snapshot(payment: Payment, snapshot: Snapshot, *, source: str, locked: Assessment | None = None) -> Payment:
    """Apply what the provider says about an attempt, under row locks.

    Money is counted only when the amount and currency equal the attempt's and the
    assessment's amount due; otherwise the attempt is flagged for staff and the
    assessment stays awaiting payment. Applying the same report twice changes nothing.
    `locked`: the assessment, already locked by the caller (a webhook)."""
    # No savepoint: a failure undoes the caller's whole transaction, which is what every
    # caller wants (a webhook's event id must not be kept without its effect).
    with transaction.atomic(savepoint=False):
        assessment = locked or Assessment.objects.select_for_update().get(pk=payment.assessment_id)
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.provider_ref and snapshot.provider_ref and snapshot.provider_ref != payment.provider_ref:
            _flag(payment, assessment, "事業者の通知の取引IDがこの支払いと違います。", source=source)
            return payment
        also: tuple[str, ...] = ()
        if snapshot.method and not payment.method:
            # Saved with the state's own UPDATE when the state moves, else on its own.
            payment.method = snapshot.method[:30]
            also = ("method",)
        detail = {"source": source}
        if snapshot.state in {P.CAPTURED, P.AUTHORISED}:
            reason = _mismatch(payment, assessment, snapshot)
            if reason:
                _flag(payment, assessment, reason, source=source)
                return payment
            events: list = []
            if _money(payment, assessment, snapshot, source=source, detail=detail, also=also, events=events):
                also = ()
            if events:
                PaymentEvent.objects.bulk_create(events)
            if also:
                payment.save(update_fields=[*also, "updated_at"])
        elif snapshot.state in {P.FAILED, P.EXPIRED, P.CANCELLED}:
            if payment.state in OPEN_PAYMENT:
                if snapshot.failure_reason:
                    payment.failure_reason = snapshot.failure_reason[:300]
                    also = (*also, "failure_reason")
                states.move_payment(payment, snapshot.state, kind=source, detail=detail, also=also)
            elif also:
                payment.save(update_fields=[*also, "updated_at"])
        elif snapshot.state == P.AWAITING and payment.state == P.CREATED:
            states.move_payment(payment, P.AWAITING, kind=source, detail=detail, also=also)
        elif also:
            payment.save(update_fields=[*also, "updated_at"])
        return payment


def _money(payment: Payment, assessment: Assessment, snapshot: Snapshot, *, source: str, detail: dict,
           also: tuple[str, ...] = (), events: list | None = None) -> bool:
    """The provider has (or holds) the money for this attempt, with the right amount.
    True when the payment's row was saved (with the fields in `also`); the events go to
    `events` for the caller to insert together."""
    if payment.state in states.MONEY_RECEIVED:
        return False  # already counted: a second report of the same payment
    if payment.state not in OPEN_PAYMENT:
        # Money on an attempt we had closed (superseded, expired): real money, so the
        # attempt is recorded as it is, and staff decide (usually a 還付).
        _flag(payment, assessment, f"「{payment.get_state_display()}」にした支払いで入金がありました。", source=source)
        return False
    at = snapshot.paid_at or timezone.now()
    if snapshot.state == P.AUTHORISED:
        if payment.state != P.AUTHORISED:
            states.move_payment(payment, P.AUTHORISED, kind=source, detail=detail, also=also, events=events)
            return True
        return False
    states.move_payment(payment, P.CAPTURED, kind=source, detail=detail, at=at, also=also, events=events)
    if assessment.state in {A.AWAITING, A.ASSESSED}:
        states.move_assessment(assessment, A.PAID, kind=source, payment=payment, detail=detail, at=at,
                               events=events)
    elif assessment.state in states.SETTLED_FOR_RESIDENT:
        _flag(payment, assessment, "この調定はほかの支払いで支払い済みです（二重の支払い）。", source=source)
    else:
        _flag(payment, assessment,
              f"調定が「{assessment.get_state_display()}」になった後の支払いです。", source=source)
    return True


def refresh_payment(payment: Payment, *, source: str) -> Payment:
    """Ask the provider now (the resident's return, a poll) and apply the answer."""
    provider = register.get(payment.provider)
    if provider is None or not payment.provider_ref or payment.state not in OPEN_PAYMENT:
        return payment
    try:
        snapshot = provider.retrieve(payment)
    except ProviderError as exc:
        logger.warning("could not ask %s about %s: %s", payment.provider, payment.public_id, exc)
        return payment
    return apply_snapshot(payment, snapshot, source=source)


def handle_webhook(provider_name: str, event: WebhookEvent) -> str:
    """A verified webhook: "applied", "replay" (its event id was seen before: nothing
    changes) or "ignored" (nothing of ours, or nothing to apply)."""
    snapshot = event.snapshot
    if snapshot is None:
        # A hint without a state (PayPay): ask the provider about that attempt now, once
        # per event id; the answer is applied as a poll's would be.
        hinted = event.provider_ref
        payment = next(iter(Payment.objects.filter(provider=provider_name, provider_ref=hinted)
                            .exclude(provider_ref="").order_by()[:1]), None) if hinted else None
        if payment is None or payment.state not in OPEN_PAYMENT:
            return "ignored"
        with transaction.atomic():
            assessment = Assessment.objects.select_for_update().get(pk=payment.assessment_id)
            if not _keep_event_once(assessment, payment, provider_name, event.event_id[:100],
                                    {"type": event.type[:60], "hint": True}):
                return "replay"
        refresh_payment(payment, source="webhook")
        return "applied"
    if not snapshot.provider_ref:
        return "ignored"
    # The partial unique index's own condition, and no ORDER BY (first() would add one):
    # PostgreSQL then reads the one row through that index.
    payment = next(iter(Payment.objects.filter(provider=provider_name, provider_ref=snapshot.provider_ref)
                        .exclude(provider_ref="").order_by()[:1]), None)
    if payment is None:
        # Not an attempt of ours (or not yet committed: polling finds it then).
        logger.info("webhook %s from %s for an unknown attempt", event.event_id, provider_name)
        return "ignored"
    with transaction.atomic():
        assessment = Assessment.objects.select_for_update().get(pk=payment.assessment_id)
        # A second delivery of the same event (a retry, a replay) inserts nothing here and
        # changes nothing: one INSERT … ON CONFLICT DO NOTHING on the unique (provider,
        # event id) is both the check and the record. Every event of this attempt waits
        # for the assessment's lock first.
        if not _keep_event_once(assessment, payment, provider_name, event.event_id[:100],
                                {"type": event.type[:60], "state": snapshot.state}):
            return "replay"
        apply_snapshot(payment, snapshot, source="webhook", locked=assessment)
    return "applied"


def _keep_event_once(assessment, payment, provider_name: str, event_id: str, detail: dict) -> bool:
    """Record a provider's event; False when that event id was recorded before."""
    from django.db import connection

    table = connection.ops.quote_name(PaymentEvent._meta.db_table)
    as_json = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    # Only the table's own quoted name is formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {table} (assessment_id, payment_id, at, kind, provider, provider_event_id, from_state, "  # noqa: S608
        f"to_state, actor_label, detail) VALUES (%s, %s, %s, 'webhook', %s, %s, '', '', '', {as_json}) "
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [assessment.pk, payment.pk, timezone.now(), provider_name, event_id, json.dumps(detail, ensure_ascii=False)],
        )
        return cursor.fetchone() is not None


# --- Sweeps: polling and expiry ------------------------------------------------------------------


def poll_after() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "PAYMENTS_POLL_AFTER_SECONDS", 60))


POLL_MAX_PAUSE = dt.timedelta(hours=1)


def poll_due(payment: Payment, now: dt.datetime) -> bool:
    """Backoff without a counter: the pause after a poll is as long as the attempt had
    already waited at that poll (60 s, 2 min, 4 min …, at most an hour)."""
    first = poll_after()
    if payment.created_at > now - first:
        return False
    if payment.last_polled_at is None:
        return True
    waited = payment.last_polled_at - payment.created_at
    return now - payment.last_polled_at >= min(max(first, waited), POLL_MAX_PAUSE)


def poll_open_payments(*, limit: int = 50, now: dt.datetime | None = None) -> int:
    """Ask the providers about open attempts no browser came back for (PayPay's redirect
    that never comes, a closed browser). At most `limit` calls per run; an attempt is
    claimed by moving its last_polled_at, so two workers never ask about the same one."""
    now = now or timezone.now()
    online = {p.name for p in register.online()}
    candidates = (
        Payment.objects.filter(state__in=OPEN_PAYMENT, flagged=False, provider__in=online,
                               created_at__lte=now - poll_after())
        .exclude(provider_ref="")
        .order_by("last_polled_at", "pk")[: limit * 4]
    )
    asked = 0
    for payment in candidates:
        if asked >= limit:
            break
        if not poll_due(payment, now):
            continue
        claimed = Payment.objects.filter(pk=payment.pk, last_polled_at=payment.last_polled_at).update(
            last_polled_at=now)
        if not claimed:
            continue
        asked += 1
        refresh_payment(payment, source="poll")
    return asked


def expire_due(*, limit: int = 100, now: dt.datetime | None = None) -> int:
    """Expire assessments past their expiry: the open attempt is asked once more (paid
    at the last minute?) and cancelled at the provider, and the resident is told by
    e-mail. An assessment with a flagged attempt is left to staff."""
    now = now or timezone.now()
    flagged = Payment.objects.filter(assessment=OuterRef("pk"), flagged=True)
    due = list(
        Assessment.objects.filter(state=A.AWAITING, expires_at__lte=now).exclude(Exists(flagged))
        .order_by("expires_at").values_list("pk", flat=True)[:limit]
    )
    expired = 0
    for pk in due:
        with transaction.atomic():
            assessment = (Assessment.objects.select_for_update().select_related("submission", "procedure")
                          .filter(pk=pk, state=A.AWAITING, expires_at__lte=now).first())
            if assessment is None:
                continue
            for payment in list(assessment.payments.select_for_update().filter(state__in=OPEN_PAYMENT)):
                _close_at_expiry(assessment, payment)
            assessment.refresh_from_db()
            if assessment.state != A.AWAITING or has_flagged(assessment):
                continue
            states.move_assessment(assessment, A.EXPIRED, kind="expiry", actor_label="システム")
            _mail_expired(assessment)
            expired += 1
    return expired


def _close_at_expiry(assessment: Assessment, payment: Payment) -> None:
    provider = register.get(payment.provider)
    if provider is not None and payment.provider_ref:
        try:
            apply_snapshot(payment, provider.retrieve(payment), source="expiry")
        except ProviderError as exc:
            logger.warning("could not ask %s about %s at expiry: %s", payment.provider, payment.public_id, exc)
        payment.refresh_from_db()
        if payment.state not in OPEN_PAYMENT:
            return
        try:
            provider.cancel(payment)
        except ProviderError as exc:
            logger.warning("could not cancel %s at %s at expiry: %s", payment.public_id, payment.provider, exc)
    states.move_payment(payment, P.EXPIRED, kind="expiry")


def _mail_expired(assessment: Assessment) -> None:
    submission = assessment.submission
    if not submission.email:
        return
    city = settings.MUNICIPALITY_NAME
    section = assessment.procedure.section
    contact = "、".join(x for x in (section.name, getattr(section, "phone", "")) if x)
    lines = [
        f"{city}です。次の申請の手数料は、お支払いの期限を過ぎたため、お支払いの手続きを終了しました。",
        "",
        f"手続き: {assessment.procedure.name}",
        f"受付番号: {submission.receipt_number}",
        f"手数料: {assessment.amount_due:,}円",
        f"お支払いの期限: {jp_datetime(assessment.expires_at)}",
        "",
        "― これからのこと ―",
        "手数料のお支払いがないため、この申請の手続きはここで止まっています。",
        "続ける場合は、担当課へご連絡ください。改めてお支払いのご案内をお送りします。",
        f"担当課: {contact}" if contact else "",
        "申請をやめる場合は、このままで構いません。",
        "",
        "このメールは送信専用です。お問い合わせは担当課へお願いします。",
    ]
    outbox.enqueue(
        kind="payment_expired", to=submission.email,
        subject=f"【{city}】手数料のお支払い期限が過ぎました（受付番号 {submission.receipt_number}）",
        body="\n".join(line for line in lines if line is not None), reference=assessment.number,
    )
