"""Staff writes on fees: 減免 (reductions, exemptions), 還付 (refunds), payments taken at
the counter, and the rule that an application is approved only once its fee is settled.

Who may act. payments sits below backoffice and never imports it, so these functions
cannot ask backoffice.selectors which roles the acting user holds. Each takes `roles`:
the user's roles in the application's own section, which the staff view reads through
backoffice.selectors after fetching the application through the scoped selector (an
application of another section answers 404 before anything here runs). The functions
check that set against what each operation needs; the role names are the values of
backoffice.models.Role (a test keeps the two in step).

Four eyes. A 減免 or 還付 asked for by one person is decided by another: never the
requester, and only a 決裁者 or the section's 所属管理者.

Every write here is transactional, moves states only through payments.states (each move
is a PaymentEvent) and appends an audit record in the same transaction. The one
exception is the provider's refund call, made outside any transaction: the refund is
first stored as approved, the provider is called with the refund's own idempotency key,
and the outcome is stored afterwards. A crash or a provider error in between leaves an
approved (or failed) refund that can be tried again with the same key, so money is never
sent twice and never sent without a record.
"""

from __future__ import annotations

import unicodedata
import uuid
from decimal import Decimal
from importlib import import_module

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from tenohira.audit.services import record as audit
from tenohira.payments.models import Assessment, Decision, FeeSetting, Payment, Reduction, Refund
from tenohira.payments.registry import ProviderError, register
from tenohira.payments.states import (
    MONEY_RECEIVED,
    OPEN_PAYMENT,
    SETTLED_FOR_RESIDENT,
    StateError,
    move_assessment,
    move_payment,
)
from tenohira.payments.states import (
    note as record_note,
)

A = Assessment.State
P = Payment.State

# The values of backoffice.models.Role that matter here.
HANDLER, APPROVER, SECTION_ADMIN = "handler", "approver", "section_admin"
#: May ask for a 減免 or a 還付.
REQUEST_ROLES = frozenset({HANDLER, APPROVER, SECTION_ADMIN})
#: May approve or refuse one (never their own request).
DECIDE_ROLES = frozenset({APPROVER, SECTION_ADMIN})
#: May take a payment at the counter or ask the resident to pay (those who work applications).
COUNTER_ROLES = frozenset({HANDLER, APPROVER})

#: Assessments a 減免 can still change: nothing has been paid yet.
REDUCIBLE = {A.ASSESSED, A.AWAITING}
#: Assessments that may be paid at the counter (an expired one is asked again first).
PAYABLE = {A.ASSESSED, A.AWAITING, A.EXPIRED}
#: Payments money can be given back from.
REFUNDABLE = {P.CAPTURED, P.SETTLED, P.RECONCILED, P.PARTIALLY_REFUNDED}
#: Refunds that hold part of a payment (a refused one gives it back).
REFUND_RESERVED = {Refund.State.PENDING, Refund.State.APPROVED, Refund.State.DONE, Refund.State.FAILED}
#: An application whose assessment is in one of these may be approved.
APPROVABLE = SETTLED_FOR_RESIDENT | {A.PARTIALLY_REFUNDED}

MAX_REASON = 2000
MAX_FACILITY = 100
MAX_AMOUNT = 100_000_000  # a fee of a hundred million yen is a typing error

#: Ways to pay at the counter when payments.contrib.counter does not define its own.
DEFAULT_COUNTER_METHODS = {"cash": "現金", "card": "クレジットカード", "qr": "QRコード決済", "emoney": "電子マネー"}


class FeeError(Exception):
    """Input or a state that does not allow the operation; the message is for the clerk."""


def counter_methods() -> dict[str, str]:
    """{method: label} of counter payments: the counter provider's list when it has one."""
    try:
        methods = getattr(import_module("tenohira.payments.contrib.counter"), "METHODS", None)
    except ImportError:
        methods = None
    if not methods:
        return dict(DEFAULT_COUNTER_METHODS)
    # Each value is a label, or an object carrying one (contrib.counter.Method).
    return {str(k): str(getattr(v, "label", v)) for k, v in dict(methods).items()}


def actor_label(user) -> str:
    """Family name first, as the back office writes staff names."""
    return f"{user.last_name} {user.first_name}".strip() or user.get_username()


def _need(roles, allowed, message: str) -> None:
    if not set(roles) & allowed:
        raise PermissionDenied(message)


def parse_amount(raw) -> int:
    """Whole yen from what a clerk typed (「1,200」「１２００円」 too); FeeError otherwise.
    The text is bounded before it is converted."""
    text = str(raw if raw is not None else "").strip()
    if len(text) > 20:
        raise FeeError("金額は円単位の数字で入力してください。")
    text = unicodedata.normalize("NFKC", text).replace(",", "").replace("円", "").strip()
    if not text.isdigit():
        raise FeeError("金額は円単位の数字で入力してください（例: 300）。")
    value = int(text)
    if value > MAX_AMOUNT:
        raise FeeError("金額が大きすぎます。")
    return value


def _reason(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise FeeError(f"{what}の理由を入力してください。")
    if len(text) > MAX_REASON:
        raise FeeError(f"{what}の理由は{MAX_REASON}文字以内で入力してください。")
    return text


def _lock_assessment(assessment: Assessment) -> Assessment:
    return Assessment.objects.select_for_update().select_related("submission").get(pk=assessment.pk)


def _cancel_open_attempts(assessment: Assessment, *, user, why: str) -> int:
    """Cancel online attempts still open for an assessment whose amount changed or was paid
    another way, so the resident cannot pay the old amount on a page left open. The
    provider is asked to stop the attempt; if it cannot be reached the attempt is still
    cancelled here (a later webhook for it then disagrees with the assessment and is
    flagged for staff, never counted as paid)."""
    cancelled = 0
    for payment in Payment.objects.select_for_update().filter(assessment=assessment, state__in=OPEN_PAYMENT):
        detail = {"why": why}
        provider = register.get(payment.provider)
        if provider is not None and provider.online and payment.provider_ref:
            try:
                provider.cancel(payment)
            except (ProviderError, NotImplementedError) as exc:
                detail["provider_error"] = str(exc)[:200] or type(exc).__name__
        move_payment(payment, P.CANCELLED, kind="staff", actor=user, actor_label=actor_label(user), detail=detail)
        cancelled += 1
    return cancelled


# --- 減免 ------------------------------------------------------------------------------


def request_reduction(assessment: Assessment, *, user, roles, amount, exempt: bool, reason: str,
                      request=None) -> Reduction:
    """Ask for a reduction of `amount` yen (or, `exempt`, of the whole amount due).
    It changes nothing until another person approves it (decide_reduction)."""
    _need(roles, REQUEST_ROLES, "減免を申請できるのは、この所属の職員です。")
    reason = _reason(reason, "減免")
    with transaction.atomic():
        assessment = _lock_assessment(assessment)
        if assessment.state not in REDUCIBLE:
            raise FeeError(
                f"調定 {assessment.number} は「{assessment.get_state_display()}」なので減免できません"
                "（減免できるのは、支払いの前の調定です）。"
            )
        if Reduction.objects.filter(assessment=assessment, state=Decision.PENDING).exists():
            raise FeeError("この調定には承認待ちの減免があります。先にその承認か却下を済ませてください。")
        if exempt:
            amount = assessment.amount_due
        else:
            amount = parse_amount(amount)
            if amount < 1:
                raise FeeError("減額する金額を1円以上で入力してください。")
            if amount > assessment.amount_due:
                raise FeeError(f"減額は請求額（{assessment.amount_due:,}円）以下にしてください。")
            # The whole amount off is an exemption, whatever box was ticked.
            exempt = amount == assessment.amount_due
        reduction = Reduction.objects.create(
            assessment=assessment, amount=amount, exempt=exempt, reason=reason, requested_by=user,
            requested_at=timezone.now(),
        )
        record_note(assessment, kind="reduction_request", actor=user, actor_label=actor_label(user),
             detail={"reduction": reduction.pk, "amount": amount, "exempt": exempt})
        audit("fee_reduction_request", user=user, target=assessment.submission.receipt_number,
              detail={"assessment": assessment.number, "reduction": reduction.pk, "amount": amount, "exempt": exempt},
              request=request)
    return reduction


def decide_reduction(reduction: Reduction, *, user, roles, approve: bool, note: str = "",
                     request=None) -> Reduction:
    """Approve or refuse a 減免 (a second person: never the one who asked). Approved: the
    amount due goes down (to nothing: 免除), and an online attempt still open for the old
    amount is cancelled."""
    comment = (note or "").strip()
    if len(comment) > MAX_REASON:
        raise FeeError(f"コメントは{MAX_REASON}文字以内で入力してください。")
    with transaction.atomic():
        reduction = Reduction.objects.select_for_update().get(pk=reduction.pk)
        assessment = _lock_assessment(reduction.assessment)
        if reduction.state != Decision.PENDING:
            raise FeeError("この減免は承認待ちではありません（すでに決定済みです）。")
        if reduction.requested_by_id == user.pk:
            raise PermissionDenied("自分で申請した減免は、別の方（決裁者または所属管理者）が承認します。")
        _need(roles, DECIDE_ROLES, "減免を承認・却下できるのは、この所属の決裁者または所属管理者です。")
        if not approve and not comment:
            raise FeeError("却下するときは理由をコメントに入力してください。")
        label = actor_label(user)
        if approve:
            if assessment.state not in REDUCIBLE:
                raise FeeError(
                    f"調定 {assessment.number} は「{assessment.get_state_display()}」になったため、この減免は承認できません。"
                    "却下してください。"
                )
            if reduction.amount > assessment.amount_due:
                raise FeeError(f"減額（{reduction.amount:,}円）が今の請求額（{assessment.amount_due:,}円）を超えています。却下してください。")
            assessment.reduction += reduction.amount
            assessment.amount_due -= reduction.amount
            assessment.save(update_fields=["reduction", "amount_due", "updated_at"])
            cancelled = _cancel_open_attempts(assessment, user=user, why="reduction")
            if reduction.exempt or assessment.amount_due == 0:
                move_assessment(assessment, A.EXEMPT, kind="staff", actor=user, actor_label=label,
                                detail={"reduction": reduction.pk})
            else:
                record_note(assessment, kind="reduction", actor=user, actor_label=label,
                            detail={"reduction": reduction.pk, "amount": reduction.amount,
                                    "amount_due": assessment.amount_due, "cancelled_attempts": cancelled})
        else:
            record_note(assessment, kind="reduction_refused", actor=user, actor_label=label,
                        detail={"reduction": reduction.pk})
        reduction.state = Decision.APPROVED if approve else Decision.REJECTED
        reduction.decided_by, reduction.decided_at, reduction.decision_note = user, timezone.now(), comment
        reduction.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
        audit("fee_reduction_approve" if approve else "fee_reduction_reject", user=user,
              target=assessment.submission.receipt_number,
              detail={"assessment": assessment.number, "reduction": reduction.pk, "amount": reduction.amount,
                      "requested_by": reduction.requested_by_id}, request=request)
    return reduction


# --- 還付 ------------------------------------------------------------------------------


def refundable_amount(payment: Payment) -> int:
    """What may still be asked back from a payment: its amount less every refund that is
    waiting, approved, done or failed (to be tried again)."""
    held = Refund.objects.filter(payment=payment, state__in=REFUND_RESERVED).aggregate(s=Sum("amount"))["s"] or 0
    return max(0, payment.amount - held)


def request_refund(payment: Payment, *, user, roles, amount, reason: str, request=None) -> Refund:
    """Ask to give back `amount` yen of a payment that has the money (full or partial)."""
    _need(roles, REQUEST_ROLES, "還付を申請できるのは、この所属の職員です。")
    reason = _reason(reason, "還付")
    with transaction.atomic():
        payment = Payment.objects.select_for_update().select_related("assessment__submission").get(pk=payment.pk)
        if payment.state not in REFUNDABLE:
            raise FeeError(f"この支払いは「{payment.get_state_display()}」なので還付できません。")
        amount = parse_amount(amount)
        left = refundable_amount(payment)
        if amount < 1:
            raise FeeError("還付する金額を1円以上で入力してください。")
        if amount > left:
            raise FeeError(f"還付できるのは {left:,}円までです（支払額 {payment.amount:,}円から、還付済み・申請中の分を除いた額）。")
        refund = Refund.objects.create(
            payment=payment, amount=amount, reason=reason, idempotency_key=uuid.uuid4().hex, requested_by=user,
            requested_at=timezone.now(),
        )
        record_note(payment.assessment, kind="refund_request", payment=payment, actor=user, actor_label=actor_label(user),
             detail={"refund": refund.pk, "amount": amount})
        audit("fee_refund_request", user=user, target=payment.assessment.submission.receipt_number,
              detail={"assessment": payment.assessment.number, "payment": str(payment.public_id),
                      "refund": refund.pk, "amount": amount}, request=request)
    return refund


def decide_refund(refund: Refund, *, user, roles, approve: bool, note: str = "", request=None) -> Refund:
    """Approve or refuse a 還付 (a second person). Approved: the money goes back at once
    (provider.refund, or 現金還付 at the counter); see execute_refund."""
    comment = (note or "").strip()
    if len(comment) > MAX_REASON:
        raise FeeError(f"コメントは{MAX_REASON}文字以内で入力してください。")
    with transaction.atomic():
        refund = Refund.objects.select_for_update().select_related("payment__assessment__submission").get(pk=refund.pk)
        if refund.state != Refund.State.PENDING:
            raise FeeError("この還付は承認待ちではありません（すでに決定済みです）。")
        if refund.requested_by_id == user.pk:
            raise PermissionDenied("自分で申請した還付は、別の方（決裁者または所属管理者）が承認します。")
        _need(roles, DECIDE_ROLES, "還付を承認・却下できるのは、この所属の決裁者または所属管理者です。")
        if not approve and not comment:
            raise FeeError("却下するときは理由をコメントに入力してください。")
        refund.state = Refund.State.APPROVED if approve else Refund.State.REJECTED
        refund.decided_by, refund.decided_at = user, timezone.now()
        refund.save(update_fields=["state", "decided_by", "decided_at"])
        payment = refund.payment
        # Refund has no field of its own for the approver's comment: it is kept in the event.
        record_note(payment.assessment, kind="refund_approved" if approve else "refund_refused",
                    payment=payment, actor=user, actor_label=actor_label(user),
                    detail={"refund": refund.pk, "amount": refund.amount, **({"comment": comment} if comment else {})})
        audit("fee_refund_approve" if approve else "fee_refund_reject", user=user,
              target=payment.assessment.submission.receipt_number,
              detail={"assessment": payment.assessment.number, "refund": refund.pk, "amount": refund.amount,
                      "requested_by": refund.requested_by_id}, request=request)
    if approve:
        return execute_refund(refund, user=user, request=request)
    return refund


def retry_refund(refund: Refund, *, user, roles, request=None) -> Refund:
    """Try an approved refund again (after a provider error, or a crash before its outcome
    was stored), with the same idempotency key."""
    _need(roles, DECIDE_ROLES, "還付をやり直せるのは、この所属の決裁者または所属管理者です。")
    if refund.state not in {Refund.State.APPROVED, Refund.State.FAILED}:
        raise FeeError("この還付はやり直す必要がありません。")
    return execute_refund(refund, user=user, request=request)


def execute_refund(refund: Refund, *, user, request=None) -> Refund:
    refund = Refund.objects.select_related("payment__assessment__submission").get(pk=refund.pk)
    if refund.state not in {Refund.State.APPROVED, Refund.State.FAILED}:
        raise FeeError("この還付は承認されていないか、すでに返金済みです。")
    payment = refund.payment
    provider_ref, failure = "", ""
    if payment.provider == "counter":
        pass  # 現金還付: the clerk hands the money back; nothing to call
    else:
        provider = register.get(payment.provider)
        if provider is None:
            failure = f"支払い方法「{payment.provider}」が設定されていないため返金できません。"
        else:
            try:
                provider_ref = provider.refund(payment, Decimal(refund.amount), idempotency_key=refund.idempotency_key) or ""
            except ProviderError as exc:
                failure = (str(exc) or "決済事業者が返金を受け付けませんでした。")[:300]
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        if refund.state == Refund.State.DONE:
            return refund  # someone else's retry got there first
        payment = Payment.objects.select_for_update().select_related("assessment__submission").get(pk=payment.pk)
        assessment = _lock_assessment(payment.assessment)
        label = actor_label(user)
        target = assessment.submission.receipt_number
        if failure:
            refund.state, refund.failure = Refund.State.FAILED, failure
            refund.save(update_fields=["state", "failure"])
            record_note(assessment, kind="refund_failed", payment=payment, actor=user, actor_label=label,
                 detail={"refund": refund.pk, "amount": refund.amount, "reason": failure})
            audit("fee_refund_failed", user=user, target=target,
                  detail={"assessment": assessment.number, "refund": refund.pk}, request=request)
            return refund
        refund.state, refund.failure, refund.done_at = Refund.State.DONE, "", timezone.now()
        refund.provider_ref = provider_ref[:100]
        refund.save(update_fields=["state", "failure", "done_at", "provider_ref"])
        detail = {"refund": refund.pk, "amount": refund.amount}
        if payment.provider == "counter":
            detail["method"] = "現金還付"
        refunded = Refund.objects.filter(payment=payment, state=Refund.State.DONE).aggregate(s=Sum("amount"))["s"] or 0
        move_payment(payment, P.REFUNDED if refunded >= payment.amount else P.PARTIALLY_REFUNDED, kind="refund",
                     actor=user, actor_label=label, detail=detail)
        _after_refund(assessment, payment=payment, user=user, detail=detail)
        audit("fee_refund_done", user=user, target=target,
              detail={"assessment": assessment.number, "refund": refund.pk, "amount": refund.amount}, request=request)
    return refund


def _after_refund(assessment: Assessment, *, payment: Payment, user, detail: dict) -> None:
    """The assessment is refunded when every yen received for it went back, partially
    refunded otherwise. An assessment that was never counted as paid (a flagged payment
    of the wrong amount) keeps its state; the event records the refund."""
    if assessment.state not in {A.PAID, A.SETTLED, A.RECONCILED, A.PARTIALLY_REFUNDED}:
        record_note(assessment, kind="refund", payment=payment, actor=user, actor_label=actor_label(user), detail=detail)
        return
    received = Payment.objects.filter(assessment=assessment, state__in=MONEY_RECEIVED, flagged=False)
    total = received.aggregate(s=Sum("amount"))["s"] or 0
    back = Refund.objects.filter(payment__in=received, state=Refund.State.DONE).aggregate(s=Sum("amount"))["s"] or 0
    move_assessment(assessment, A.REFUNDED if back >= total else A.PARTIALLY_REFUNDED, kind="refund",
                    actor=user, actor_label=actor_label(user), payment=payment, detail=detail)


# --- 窓口 -------------------------------------------------------------------------------


def record_counter_payment(assessment: Assessment, *, user, roles, method: str, facility: str, amount,
                           request=None) -> Payment:
    """A payment taken at the counter (cash, card, QR, e-money): the whole amount due, at
    once. Counted with online payments in the cashless figures, by method and facility."""
    _need(roles, COUNTER_ROLES, "窓口での支払いを記録できるのは、この所属の担当または決裁者です。")
    methods = counter_methods()
    if method not in methods:
        raise FeeError("支払い手段を選んでください。")
    facility = (facility or "").strip()
    if not facility:
        raise FeeError("受け取った窓口（施設）を入力してください。")
    if len(facility) > MAX_FACILITY:
        raise FeeError(f"窓口（施設）の名前は{MAX_FACILITY}文字以内で入力してください。")
    amount = parse_amount(amount)
    with transaction.atomic():
        assessment = _lock_assessment(assessment)
        if assessment.state not in PAYABLE:
            raise FeeError(f"調定 {assessment.number} は「{assessment.get_state_display()}」なので、窓口での支払いは記録できません。")
        if assessment.amount_due == 0:
            raise FeeError("この調定の請求額は0円です。支払いは必要ありません。")
        if amount != assessment.amount_due:
            raise FeeError(f"受け取った金額（{amount:,}円）が請求額（{assessment.amount_due:,}円）と一致しません。")
        label = actor_label(user)
        _cancel_open_attempts(assessment, user=user, why="counter")
        if assessment.state == A.EXPIRED:
            # The request had lapsed; the resident came to pay anyway: asked again and paid.
            move_assessment(assessment, A.AWAITING, kind="staff", actor=user, actor_label=label, detail={"why": "counter"})
        payment = Payment.objects.create(
            assessment=assessment, provider="counter", method=method, idempotency_key=uuid.uuid4().hex,
            amount=amount, currency=assessment.currency, recorded_by=user, facility=facility,
        )
        move_payment(payment, P.CAPTURED, kind="staff", actor=user, actor_label=label,
                     detail={"method": method, "facility": facility})
        move_assessment(assessment, A.PAID, kind="staff", actor=user, actor_label=label, payment=payment,
                        detail={"method": method})
        audit("fee_counter_payment", user=user, target=assessment.submission.receipt_number,
              detail={"assessment": assessment.number, "payment": str(payment.public_id), "amount": amount,
                      "method": method}, request=request)
    return payment


# --- 調定 by staff ----------------------------------------------------------------------


def assess_by_staff(submission, *, user, roles, request=None) -> Assessment:
    """調定 for an application that has none although its procedure takes a fee (one taken
    at the counter, or sent before the fee setting existed): the same assessment the
    online submission makes (payments.services.assess_submission), from the stored answers."""
    _need(roles, COUNTER_ROLES, "調定できるのは、この所属の担当または決裁者です。")
    try:
        from tenohira.payments.services import assess_submission
    except ImportError:
        raise FeeError("調定の機能は、この環境ではまだ使えません。") from None
    from tenohira.applications.models import Submission

    with transaction.atomic():
        # The application's row is the lock: two clicks never make two assessments.
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        if Assessment.objects.filter(submission=submission).exclude(state=A.CANCELLED).exists():
            raise FeeError("この申請にはすでに調定があります。")
        assessment = assess_submission(submission)
        if assessment is None:
            raise FeeError("この申請の手数料は0円か、手続きに手数料の支払い設定がないため、調定できません。")
        record_note(assessment, kind="staff", actor=user, actor_label=actor_label(user), detail={"why": "assess"})
        audit("fee_assess", user=user, target=submission.receipt_number,
              detail={"assessment": assessment.number, "amount": assessment.amount_due}, request=request)
    return assessment


# --- approval needs the fee first -------------------------------------------------------


def approval_blocker(submission) -> str:
    """Why the application may not be approved yet because of its fee ("" when it may):
    its procedure asks for payment before approval and the assessment is not paid,
    exempt or reconciled (or there is none although the form computed a fee)."""
    setting = FeeSetting.objects.filter(procedure_id=submission.procedure_id).first()
    if setting is None or not setting.require_before_approval:
        return ""
    assessments = list(
        Assessment.objects.filter(submission=submission).exclude(state=A.CANCELLED).order_by("-created_at", "-pk")
    )
    if any(a.state in APPROVABLE for a in assessments):
        return ""
    prefix = "手数料のお支払いが済んでいないため承認できません"
    if assessments:
        a = assessments[0]
        return f"{prefix}（調定番号 {a.number}、請求額 {a.amount_due:,}円、状態「{a.get_state_display()}」）。"
    fee = _computed_fee(submission, setting)
    if fee:
        return f"{prefix}（手数料 {fee:,}円の調定がありません）。"
    return ""


def _computed_fee(submission, setting: FeeSetting) -> int:
    """The fee the form computed and stored with the answers (0 if none)."""
    key = setting.fee_field
    if not key:
        for field in submission.form_version.parsed().all_fields():
            if field.type == "computed" and field.option("format") == "yen":
                key = field.key
                break
    value = (submission.answers or {}).get(key) if key else None
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


__all__ = [
    "FeeError", "StateError", "approval_blocker", "assess_by_staff", "counter_methods", "decide_reduction", "decide_refund",
    "execute_refund", "record_counter_payment", "refundable_amount", "request_reduction", "request_refund",
    "retry_refund",
]
