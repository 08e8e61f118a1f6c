"""Staff pages of fees (手数料): the panel on an application's page, asking the resident to
pay after review, payments taken at the counter, 減免 and 還付 with their approval by a
second person, and the list of what waits for the user's approval.

Thin, like the other staff pages: each view reads the application through
backoffice.selectors (another section's answers 404), reads the user's roles in that
section and hands them to payments.staff_services, which checks them (payments cannot
import backoffice, so it is told the roles rather than asking). Every page that shows an
application's fee records an audit entry; staff_required marks every answer no-store.

Forms work without JavaScript. A form with a text input starts with a hidden default
button that only checks the input, so Enter never records money or sends a decision;
decisions take their comment in a textarea (Enter is a new line there).
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenohira.applications.models import Submission
from tenohira.audit.services import record as audit
from tenohira.backoffice import selectors
from tenohira.backoffice.auth import staff_required
from tenohira.payments import staff_services as fees
from tenohira.payments.models import Assessment, Decision, Payment, PaymentEvent, Reduction, Refund
from tenohira.payments.states import StateError

A = Assessment.State
P = Payment.State

#: Applications in these states are closed: nobody is asked to pay for them any more.
CLOSED = {Submission.Status.REJECTED, Submission.Status.COMPLETED, Submission.Status.WITHDRAWN}

EVENT_LABELS = {
    "assessed": "調定", "staff": "職員の操作", "webhook": "決済事業者からの通知", "poll": "決済事業者への確認", "return": "支払いページからの戻り",
    "checkout": "支払いの開始", "expiry": "支払期限", "refund": "還付", "reconcile": "消込", "settlement": "入金",
    "request": "支払いの依頼", "flag": "要確認", "reduction_request": "減免の申請", "reduction": "減免の承認",
    "reduction_refused": "減免の却下", "refund_request": "還付の申請", "refund_approved": "還付の承認",
    "refund_refused": "還付の却下", "refund_failed": "返金できなかった",
}


def open_request_function():
    """payments.services.open_assessment_request, when the online payment side is
    installed (it sets the expiry and e-mails the resident the link to pay)."""
    try:
        from tenohira.payments.services import open_assessment_request
    except ImportError:
        return None
    return open_assessment_request


def _roles(user, submission) -> set[str]:
    return {role for role, section in selectors.roles_of(user) if section == submission.section_id}


def _int(raw, *, limit: int = 12) -> int | None:
    raw = (raw or "").strip()
    if not raw or len(raw) > limit or not raw.isdigit():
        return None
    return int(raw)


def _detail_url(submission) -> str:
    return reverse("backoffice:detail", args=[submission.receipt_number]) + "#fee"


# --- the panel on the application's page ------------------------------------------------


def _event_text(event: PaymentEvent, methods: dict) -> str:
    detail = event.detail or {}
    parts = []
    if "amount" in detail:
        parts.append(f"{int(detail['amount']):,}円")
    if detail.get("exempt"):
        parts.append("全額免除")
    if detail.get("method"):
        parts.append(methods.get(detail["method"], str(detail["method"])))
    if detail.get("facility"):
        parts.append(str(detail["facility"]))
    if "amount_due" in detail:
        parts.append(f"請求額 {int(detail['amount_due']):,}円に")
    if detail.get("why") == "reduction":
        parts.append("減免により取消し")
    elif detail.get("why") == "counter":
        parts.append("窓口での支払いにより取消し")
    for key in ("reason", "comment", "flag_reason"):
        if detail.get(key):
            parts.append(str(detail[key]))
    if detail.get("provider_error"):
        parts.append(f"事業者側の取消しに失敗: {detail['provider_error']}")
    return "、".join(parts)


def _state_label(choices, state: str) -> str:
    if not state:
        return ""
    try:
        return str(choices(state).label)
    except ValueError:
        return state


def panel(user, submission, roles: set[str] | None = None) -> dict | None:
    """What the application's page shows about its fee, and which actions the user may
    take; None when the application has no assessment and its procedure no fee setting."""
    from tenohira.payments.models import FeeSetting

    assessments = list(
        Assessment.objects.filter(submission=submission).select_related("fee_item").order_by("created_at", "pk")
    )
    setting = FeeSetting.objects.filter(procedure_id=submission.procedure_id).first()
    if not assessments and setting is None:
        return None
    roles = _roles(user, submission) if roles is None else roles
    methods = fees.counter_methods()
    ids = [a.pk for a in assessments]
    payments = list(Payment.objects.filter(assessment_id__in=ids).order_by("created_at", "pk"))
    refunds = list(
        Refund.objects.filter(payment__assessment_id__in=ids).select_related("requested_by", "decided_by")
        .order_by("requested_at", "pk")
    )
    reductions = list(
        Reduction.objects.filter(assessment_id__in=ids).select_related("requested_by", "decided_by")
        .order_by("requested_at", "pk")
    )
    events = list(PaymentEvent.objects.filter(assessment_id__in=ids).order_by("at", "pk"))
    can_open = open_request_function() is not None and submission.status not in CLOSED
    may_request = bool(roles & fees.REQUEST_ROLES)
    may_decide = bool(roles & fees.DECIDE_ROLES)
    may_counter = bool(roles & fees.COUNTER_ROLES)
    rows = []
    for a in assessments:
        a_payments = []
        for p in (p for p in payments if p.assessment_id == a.pk):
            p_refunds = [r for r in refunds if r.payment_id == p.pk]
            left = p.amount - sum(r.amount for r in p_refunds if r.state in fees.REFUND_RESERVED)
            a_payments.append({
                "payment": p, "method": methods.get(p.method, p.method) if p.provider == "counter" else p.method,
                "refunds": p_refunds, "can_refund": may_request and p.state in fees.REFUNDABLE and left > 0,
            })
        a_reductions = [r for r in reductions if r.assessment_id == a.pk]
        pending = next((r for r in a_reductions if r.state == Decision.PENDING), None)
        rows.append({
            "assessment": a,
            "payments": a_payments,
            "reductions": a_reductions,
            "pending_reduction": pending,
            "can_request_payment": can_open and may_counter and a.state in {A.ASSESSED, A.EXPIRED} and a.amount_due > 0,
            "can_counter": may_counter and a.state in fees.PAYABLE and a.amount_due > 0
            and submission.status not in CLOSED,
            "can_reduce": may_request and a.state in fees.REDUCIBLE and pending is None and a.amount_due > 0,
            "flagged": [p for p in a_payments if p["payment"].flagged],
        })
    history = []
    for e in events:
        choices = P if e.payment_id else A
        history.append({
            "event": e, "kind": EVENT_LABELS.get(e.kind, e.kind),
            "from_label": _state_label(choices, e.from_state), "to_label": _state_label(choices, e.to_state),
            "text": _event_text(e, methods),
        })
    return {
        "setting": setting, "rows": rows, "history": history, "user_id": user.pk,
        "may_decide": may_decide, "no_assessment": not assessments,
        "can_assess": not [a for a in assessments if a.state != A.CANCELLED] and setting is not None
        and may_counter and submission.status not in CLOSED,
        "blocker": fees.approval_blocker(submission) if submission.status in selectors.OPEN_STATUSES else "",
    }


# --- helpers of the action pages ---------------------------------------------------------


def _scoped(request, receipt_number: str):
    submission = selectors.get_submission_for(request.user, receipt_number)
    return submission, _roles(request.user, submission)


def _assessment(submission, raw) -> Assessment:
    pk = _int(raw)
    found = Assessment.objects.filter(submission=submission, pk=pk).first() if pk else None
    if found is None:
        raise Http404("assessment not found")
    return found


def _viewed(request, submission, what: str, **detail) -> None:
    audit("fee_view", user=request.user, target=submission.receipt_number, detail={"page": what, **detail},
          request=request)


def _refused(request, submission, template: str, context: dict, exc: Exception):
    status = 403 if isinstance(exc, PermissionDenied) else 400
    message = str(exc) or "この操作をする権限がありません。"
    return render(request, template, {**context, "submission": submission, "error": message}, status=status)


# --- 支払いを依頼する ---------------------------------------------------------------------


@staff_required
@require_POST
def request_payment(request, receipt_number: str):
    submission, roles = _scoped(request, receipt_number)
    assessment = _assessment(submission, request.POST.get("assessment"))
    function = open_request_function()
    try:
        if function is None:
            raise fees.FeeError("オンラインでの支払いの依頼は、この環境ではまだ使えません。")
        if not roles & fees.COUNTER_ROLES:
            raise PermissionDenied("支払いを依頼できるのは、この所属の担当または決裁者です。")
        if submission.status in CLOSED:
            raise fees.FeeError("終わった申請には支払いを依頼できません。")
        if assessment.state not in {A.ASSESSED, A.EXPIRED} or assessment.amount_due == 0:
            raise fees.FeeError(f"調定 {assessment.number} は「{assessment.get_state_display()}」なので、支払いを依頼できません。")
        # It records its own audit entry (payments.request) and e-mails the resident.
        assessment = function(assessment, user=request.user, request=request)
    except (fees.FeeError, StateError, PermissionDenied, ValueError) as exc:
        messages.error(request, str(exc) or "この操作をする権限がありません。")
        return HttpResponseRedirect(_detail_url(submission))
    messages.success(request, f"{assessment.amount_due:,}円の支払いを依頼しました。申請者にメールでお知らせします。")
    return HttpResponseRedirect(_detail_url(submission))


# --- 調定する ---------------------------------------------------------------------------


@staff_required
@require_POST
def assess(request, receipt_number: str):
    submission, roles = _scoped(request, receipt_number)
    try:
        assessment = fees.assess_by_staff(submission, user=request.user, roles=roles, request=request)
    except (fees.FeeError, StateError, PermissionDenied) as exc:
        messages.error(request, str(exc) or "この操作をする権限がありません。")
        return HttpResponseRedirect(_detail_url(submission))
    messages.success(request, f"調定しました（調定番号 {assessment.number}、{assessment.amount_due:,}円）。")
    return HttpResponseRedirect(_detail_url(submission))


# --- 窓口で支払いを受けた ---------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def counter(request, receipt_number: str):
    submission, roles = _scoped(request, receipt_number)
    source = request.POST if request.method == "POST" else request.GET
    assessment = _assessment(submission, source.get("assessment"))
    methods = fees.counter_methods()
    typed = {
        "method": (source.get("method") or "")[:30],
        "facility": (source.get("facility") or submission.section.name)[:200],
        "amount": (source.get("amount") or "")[:30],
    }
    context = {"submission": submission, "assessment": assessment, "methods": methods, "typed": typed}
    template = "backoffice/payments/counter.html"
    if request.method == "GET":
        _viewed(request, submission, "counter", assessment=assessment.number)
        return render(request, template, context)
    if request.POST.get("action") != "record":
        # Enter in a text input: nothing is recorded; the clerk presses the button.
        return render(request, template, {**context, "hint": "内容を確かめて「支払いを記録する」を押してください。"})
    try:
        fees.record_counter_payment(assessment, user=request.user, roles=roles, method=typed["method"],
                                    facility=typed["facility"], amount=typed["amount"], request=request)
    except (fees.FeeError, StateError, PermissionDenied) as exc:
        return _refused(request, submission, template, context, exc)
    messages.success(request, f"窓口での支払い（{methods[typed['method']]}、{assessment.amount_due:,}円）を記録しました。")
    return HttpResponseRedirect(_detail_url(submission))


# --- 減免 ---------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def reduction(request, receipt_number: str):
    submission, roles = _scoped(request, receipt_number)
    source = request.POST if request.method == "POST" else request.GET
    assessment = _assessment(submission, source.get("assessment"))
    typed = {
        "exempt": source.get("exempt") == "1",
        "amount": (source.get("amount") or "")[:30],
        "reason": (source.get("reason") or "")[: fees.MAX_REASON + 1],
    }
    context = {"submission": submission, "assessment": assessment, "typed": typed}
    template = "backoffice/payments/reduction.html"
    if request.method == "GET":
        _viewed(request, submission, "reduction", assessment=assessment.number)
        return render(request, template, context)
    if request.POST.get("action") != "request":
        return render(request, template, {**context, "hint": "内容を確かめて「減免を申請する」を押してください。"})
    try:
        fees.request_reduction(assessment, user=request.user, roles=roles, amount=typed["amount"],
                               exempt=typed["exempt"], reason=typed["reason"], request=request)
    except (fees.FeeError, StateError, PermissionDenied) as exc:
        return _refused(request, submission, template, context, exc)
    messages.success(request, "減免を申請しました。決裁者または所属管理者の承認を待っています。")
    return HttpResponseRedirect(_detail_url(submission))


def _reduction(submission, raw) -> Reduction:
    pk = _int(raw)
    found = (
        Reduction.objects.filter(assessment__submission=submission, pk=pk)
        .select_related("assessment", "requested_by", "decided_by").first() if pk else None
    )
    if found is None:
        raise Http404("reduction not found")
    return found


@staff_required
@require_http_methods(["GET", "POST"])
def reduction_decide(request, receipt_number: str):
    submission, roles = _scoped(request, receipt_number)
    source = request.POST if request.method == "POST" else request.GET
    item = _reduction(submission, source.get("reduction"))
    typed = {"note": (source.get("note") or "")[: fees.MAX_REASON + 1]}
    context = {"submission": submission, "kind": "reduction", "item": item, "assessment": item.assessment,
               "typed": typed, "own": item.requested_by_id == request.user.pk,
               "may_decide": bool(roles & fees.DECIDE_ROLES)}
    template = "backoffice/payments/decide.html"
    if request.method == "GET":
        _viewed(request, submission, "reduction_decide", reduction=item.pk)
        return render(request, template, context)
    decision = request.POST.get("decision")
    if decision not in {"approve", "reject"}:
        return render(request, template, {**context, "error": "「承認する」か「却下する」を押してください。"}, status=400)
    try:
        fees.decide_reduction(item, user=request.user, roles=roles, approve=decision == "approve",
                              note=typed["note"], request=request)
    except (fees.FeeError, StateError, PermissionDenied) as exc:
        return _refused(request, submission, template, context, exc)
    messages.success(request, "減免を承認しました。" if decision == "approve" else "減免を却下しました。")
    return HttpResponseRedirect(_detail_url(submission))


# --- 還付 ---------------------------------------------------------------------------------


def _payment(submission, raw) -> Payment:
    raw = (raw or "").strip()
    try:
        public_id = uuid.UUID(raw) if len(raw) <= 40 else None
    except ValueError:
        public_id = None
    found = (
        Payment.objects.filter(assessment__submission=submission, public_id=public_id)
        .select_related("assessment").first() if public_id else None
    )
    if found is None:
        raise Http404("payment not found")
    return found


@staff_required
@require_http_methods(["GET", "POST"])
def refund(request, receipt_number: str):
    submission, roles = _scoped(request, receipt_number)
    source = request.POST if request.method == "POST" else request.GET
    payment = _payment(submission, source.get("payment"))
    left = fees.refundable_amount(payment)
    typed = {
        "amount": (source.get("amount") or (str(left) if request.method == "GET" else ""))[:30],
        "reason": (source.get("reason") or "")[: fees.MAX_REASON + 1],
    }
    methods = fees.counter_methods()
    context = {"submission": submission, "payment": payment, "assessment": payment.assessment, "left": left,
               "typed": typed, "method": methods.get(payment.method, payment.method)}
    template = "backoffice/payments/refund.html"
    if request.method == "GET":
        _viewed(request, submission, "refund", payment=str(payment.public_id))
        return render(request, template, context)
    if request.POST.get("action") != "request":
        return render(request, template, {**context, "hint": "内容を確かめて「還付を申請する」を押してください。"})
    try:
        fees.request_refund(payment, user=request.user, roles=roles, amount=typed["amount"], reason=typed["reason"],
                            request=request)
    except (fees.FeeError, StateError, PermissionDenied) as exc:
        return _refused(request, submission, template, context, exc)
    messages.success(request, "還付を申請しました。決裁者または所属管理者の承認を待っています。")
    return HttpResponseRedirect(_detail_url(submission))


def _refund(submission, raw) -> Refund:
    pk = _int(raw)
    found = (
        Refund.objects.filter(payment__assessment__submission=submission, pk=pk)
        .select_related("payment__assessment", "requested_by", "decided_by").first() if pk else None
    )
    if found is None:
        raise Http404("refund not found")
    return found


def _refund_outcome(request, item: Refund) -> None:
    if item.state == Refund.State.DONE:
        how = "現金で返金してください（現金還付）。" if item.payment.provider == "counter" else "決済事業者に返金を依頼しました。"
        messages.success(request, f"還付（{item.amount:,}円）を承認しました。{how}")
    elif item.state == Refund.State.FAILED:
        messages.error(request, f"還付は承認されましたが、返金できませんでした（{item.failure}）。しばらくしてから「返金をやり直す」を押してください。")
    else:
        messages.success(request, "還付を却下しました。")


@staff_required
@require_http_methods(["GET", "POST"])
def refund_decide(request, receipt_number: str):
    submission, roles = _scoped(request, receipt_number)
    source = request.POST if request.method == "POST" else request.GET
    item = _refund(submission, source.get("refund"))
    typed = {"note": (source.get("note") or "")[: fees.MAX_REASON + 1]}
    context = {"submission": submission, "kind": "refund", "item": item, "assessment": item.payment.assessment,
               "typed": typed, "own": item.requested_by_id == request.user.pk,
               "may_decide": bool(roles & fees.DECIDE_ROLES)}
    template = "backoffice/payments/decide.html"
    if request.method == "GET":
        _viewed(request, submission, "refund_decide", refund=item.pk)
        return render(request, template, context)
    decision = request.POST.get("decision")
    if decision not in {"approve", "reject"}:
        return render(request, template, {**context, "error": "「承認する」か「却下する」を押してください。"}, status=400)
    try:
        item = fees.decide_refund(item, user=request.user, roles=roles, approve=decision == "approve",
                                  note=typed["note"], request=request)
    except (fees.FeeError, StateError, PermissionDenied) as exc:
        return _refused(request, submission, template, context, exc)
    _refund_outcome(request, item)
    return HttpResponseRedirect(_detail_url(submission))


@staff_required
@require_POST
def refund_retry(request, receipt_number: str):
    submission, roles = _scoped(request, receipt_number)
    item = _refund(submission, request.POST.get("refund"))
    try:
        item = fees.retry_refund(item, user=request.user, roles=roles, request=request)
    except (fees.FeeError, StateError, PermissionDenied) as exc:
        messages.error(request, str(exc) or "この操作をする権限がありません。")
        return HttpResponseRedirect(_detail_url(submission))
    _refund_outcome(request, item)
    return HttpResponseRedirect(_detail_url(submission))


# --- 承認待ちの一覧 -------------------------------------------------------------------------

APPROVALS_LIMIT = 200


@staff_required
@require_GET
def approvals(request):
    """減免 and 還付 waiting for a decision in the sections where the user decides them, and
    refunds approved but not paid back yet (to try again)."""
    sections = selectors.section_ids(request.user, fees.DECIDE_ROLES)
    submissions = selectors.submissions_for(request.user).filter(section_id__in=sections).values("pk")
    reductions = list(
        Reduction.objects.filter(state=Decision.PENDING, assessment__submission__in=submissions)
        .select_related("assessment__submission__procedure", "requested_by").order_by("requested_at", "pk")
        [:APPROVALS_LIMIT]
    )
    refunds = list(
        Refund.objects.filter(
            Q(state__in=[Refund.State.PENDING, Refund.State.APPROVED, Refund.State.FAILED]),
            payment__assessment__submission__in=submissions,
        )
        .select_related("payment__assessment__submission__procedure", "requested_by").order_by("requested_at", "pk")
        [:APPROVALS_LIMIT]
    )
    audit("fee_approvals_view", user=request.user, target="",
          detail={"reductions": len(reductions), "refunds": len(refunds)}, request=request)
    return render(request, "backoffice/payments/approvals.html", {
        "reductions": reductions, "refunds": refunds, "decides": bool(sections), "limit": APPROVALS_LIMIT,
    })
