"""Fees on the staff side: 減免 and 還付 decided by a second person, payments taken at the
counter, the request to pay after review, the panel on the application's page, the queue's
filter by the fee's state, the list of approvals, and approval that waits for the fee.

Assessments are made here directly (the resident side's own assessment on submission is
tested with the payments app); refunds go to a stub provider registered for the test."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from tenohira.audit.models import AuditRecord
from tenohira.backoffice import services as backoffice_services
from tenohira.backoffice.models import Role
from tenohira.payments import staff_services as fees
from tenohira.payments.models import (
    Assessment,
    FeeItem,
    FeeSetting,
    Payment,
    PaymentEvent,
    Reduction,
    Refund,
)
from tenohira.payments.registry import Provider, ProviderError, register

pytestmark = pytest.mark.django_db

A = Assessment.State
P = Payment.State
SECTION = {Role.HANDLER.value, Role.APPROVER.value}  # what a view hands over for a handler+approver


class StubPay(Provider):
    """An online provider that remembers every call; `fail` makes refunds fail."""

    name = "stubpay"
    label = "テスト決済"
    calls: list = []
    fail = False

    def refund(self, payment, amount: Decimal, *, idempotency_key: str) -> str:
        StubPay.calls.append(("refund", payment.provider_ref, amount, idempotency_key))
        if StubPay.fail:
            raise ProviderError("決済事業者に接続できませんでした。", retry=True)
        return f"re_{len(StubPay.calls)}"

    def cancel(self, payment) -> None:
        StubPay.calls.append(("cancel", payment.provider_ref))


@pytest.fixture
def stubpay():
    previous = register.get("stubpay")
    register.register(StubPay)
    StubPay.calls, StubPay.fail = [], False
    yield StubPay
    register._providers.pop("stubpay", None)
    if previous is not None:
        register._providers["stubpay"] = previous


@pytest.fixture
def fee(staff):
    """fee(submission, amount=600, state=assessed, require=True) -> the application's
    assessment (the one the payments side made on submission, if it did)."""
    item, _ = FeeItem.objects.get_or_create(code="F001", defaults={"name": "証明手数料"})
    counter = iter(range(1, 1000))

    def make(submission, *, amount=600, state=A.ASSESSED, require=True, timing="after_review"):
        FeeSetting.objects.update_or_create(
            procedure=submission.procedure,
            defaults={"timing": timing, "fee_item": item, "require_before_approval": require},
        )
        assessment = Assessment.objects.filter(submission=submission).first()
        if assessment is None:
            assessment = Assessment.objects.create(
                number=f"T-{submission.pk}-{next(counter)}", submission=submission, procedure=submission.procedure,
                fee_item=item, timing=timing, amount_assessed=amount, amount_due=amount,
            )
        Assessment.objects.filter(pk=assessment.pk).update(
            amount_assessed=amount, amount_due=amount, reduction=0, state=state,
        )
        assessment.refresh_from_db()
        return assessment

    return make


def captured(assessment, *, provider="stubpay", amount=None, method="card", ref="pi_1"):
    payment = Payment.objects.create(
        assessment=assessment, provider=provider, method=method, provider_ref=ref if provider != "counter" else "",
        idempotency_key=f"k-{assessment.pk}-{ref}", amount=amount or assessment.amount_due, state=P.CAPTURED,
    )
    Assessment.objects.filter(pk=assessment.pk).update(state=A.PAID)
    assessment.refresh_from_db()
    return payment


def test_role_names_are_backoffice_roles():
    assert fees.HANDLER == Role.HANDLER and fees.APPROVER == Role.APPROVER
    assert fees.SECTION_ADMIN == Role.SECTION_ADMIN


def test_counter_methods_are_labels():
    methods = fees.counter_methods()
    assert methods["cash"] == "現金" and set(methods) >= {"cash", "card", "qr", "emoney"}


@pytest.mark.parametrize("raw,value", [("600", 600), ("1,200", 1200), ("１２００円", 1200), (" 0 ", 0)])
def test_amounts_from_what_a_clerk_typed(raw, value):
    assert fees.parse_amount(raw) == value


@pytest.mark.parametrize("raw", ["", "-5", "12.5", "abc", "1" * 30, "999999999999"])
def test_amounts_refused(raw):
    with pytest.raises(fees.FeeError):
        fees.parse_amount(raw)


# --- 減免 ------------------------------------------------------------------------------


def test_reduction_needs_reason_amount_and_a_section_role(staff, make_submission, fee):
    a = fee(make_submission())
    with pytest.raises(fees.FeeError, match="理由"):
        fees.request_reduction(a, user=staff.handler, roles={"handler"}, amount="100", exempt=False, reason=" ")
    with pytest.raises(fees.FeeError, match="請求額（600円）以下"):
        fees.request_reduction(a, user=staff.handler, roles={"handler"}, amount="700", exempt=False, reason="x")
    with pytest.raises(fees.FeeError, match="1円以上"):
        fees.request_reduction(a, user=staff.handler, roles={"handler"}, amount="0", exempt=False, reason="x")
    with pytest.raises(PermissionDenied):
        fees.request_reduction(a, user=staff.other_handler, roles=set(), amount="100", exempt=False, reason="x")
    assert not Reduction.objects.exists()
    r = fees.request_reduction(a, user=staff.handler, roles={"handler"}, amount="200", exempt=False, reason="生活保護")
    assert (r.amount, r.exempt, r.state) == (200, False, "pending")
    with pytest.raises(fees.FeeError, match="承認待ちの減免"):
        fees.request_reduction(a, user=staff.handler, roles={"handler"}, amount="100", exempt=False, reason="x")
    a.refresh_from_db()
    assert a.amount_due == 600  # nothing changes before approval
    assert AuditRecord.objects.filter(action="fee_reduction_request").count() == 1


def test_reduction_four_eyes(staff, make_submission, fee):
    a = fee(make_submission())
    r = fees.request_reduction(a, user=staff.approver, roles={"approver"}, amount="100", exempt=False, reason="x")
    with pytest.raises(PermissionDenied, match="自分で申請した"):
        fees.decide_reduction(r, user=staff.approver, roles={"approver"}, approve=True)
    with pytest.raises(PermissionDenied, match="決裁者または所属管理者"):
        fees.decide_reduction(r, user=staff.handler, roles={"handler"}, approve=True)
    with pytest.raises(fees.FeeError, match="却下するときは理由"):
        fees.decide_reduction(r, user=staff.section_admin, roles={"section_admin"}, approve=False, note="")
    r.refresh_from_db()
    assert r.state == "pending"
    fees.decide_reduction(r, user=staff.section_admin, roles={"section_admin"}, approve=False, note="根拠がない")
    r.refresh_from_db()
    a.refresh_from_db()
    assert (r.state, r.decided_by, r.decision_note, a.amount_due) == ("rejected", staff.section_admin, "根拠がない", 600)
    with pytest.raises(fees.FeeError, match="承認待ちではありません"):
        fees.decide_reduction(r, user=staff.section_admin, roles={"section_admin"}, approve=True)


def test_approved_reduction_lowers_the_amount_and_cancels_an_open_attempt(staff, make_submission, fee, stubpay):
    a = fee(make_submission(), state=A.AWAITING)
    attempt = Payment.objects.create(assessment=a, provider="stubpay", provider_ref="cs_open", idempotency_key="k1",
                                     amount=600, state=P.AWAITING)
    r = fees.request_reduction(a, user=staff.handler, roles={"handler"}, amount="200", exempt=False, reason="x")
    fees.decide_reduction(r, user=staff.approver, roles={"approver"}, approve=True, note="")
    a.refresh_from_db()
    attempt.refresh_from_db()
    assert (a.amount_due, a.reduction, a.state) == (400, 200, A.AWAITING)
    assert attempt.state == P.CANCELLED
    assert ("cancel", "cs_open") in stubpay.calls
    assert AuditRecord.objects.filter(action="fee_reduction_approve", target=a.submission.receipt_number).exists()


def test_exemption(staff, make_submission, fee):
    a = fee(make_submission())
    r = fees.request_reduction(a, user=staff.handler, roles={"handler"}, amount="", exempt=True, reason="災害")
    assert (r.amount, r.exempt) == (600, True)
    fees.decide_reduction(r, user=staff.approver, roles={"approver"}, approve=True)
    a.refresh_from_db()
    assert (a.state, a.amount_due) == (A.EXEMPT, 0)
    assert PaymentEvent.objects.filter(assessment=a, to_state=A.EXEMPT, actor=staff.approver).exists()


def test_no_reduction_once_paid(staff, make_submission, fee):
    a = fee(make_submission(), state=A.PAID)
    with pytest.raises(fees.FeeError, match="支払い済み"):
        fees.request_reduction(a, user=staff.handler, roles={"handler"}, amount="100", exempt=False, reason="x")


# --- 還付 ------------------------------------------------------------------------------


def test_refund_partial_then_the_rest(staff, make_submission, fee, stubpay):
    a = fee(make_submission())
    payment = captured(a)
    with pytest.raises(fees.FeeError, match="600円まで"):
        fees.request_refund(payment, user=staff.handler, roles={"handler"}, amount="601", reason="x")
    first = fees.request_refund(payment, user=staff.handler, roles={"handler"}, amount="200", reason="過払い")
    with pytest.raises(fees.FeeError, match="400円まで"):
        fees.request_refund(payment, user=staff.handler, roles={"handler"}, amount="500", reason="x")
    with pytest.raises(PermissionDenied):
        fees.decide_refund(first, user=staff.handler, roles={"handler", "approver"}, approve=True)
    done = fees.decide_refund(first, user=staff.approver, roles={"approver"}, approve=True)
    assert done.state == Refund.State.DONE and done.provider_ref == "re_1"
    assert stubpay.calls == [("refund", "pi_1", Decimal(200), first.idempotency_key)]
    payment.refresh_from_db()
    a.refresh_from_db()
    assert (payment.state, a.state) == (P.PARTIALLY_REFUNDED, A.PARTIALLY_REFUNDED)
    rest = fees.request_refund(payment, user=staff.handler, roles={"handler"}, amount="400", reason="取下げ")
    fees.decide_refund(rest, user=staff.section_admin, roles={"section_admin"}, approve=True)
    payment.refresh_from_db()
    a.refresh_from_db()
    assert (payment.state, a.state) == (P.REFUNDED, A.REFUNDED)
    assert fees.refundable_amount(payment) == 0


def test_refund_provider_error_keeps_it_approved_and_retryable(staff, make_submission, fee, stubpay):
    a = fee(make_submission())
    payment = captured(a)
    refund = fees.request_refund(payment, user=staff.handler, roles={"handler"}, amount="600", reason="x")
    stubpay.fail = True
    failed = fees.decide_refund(refund, user=staff.approver, roles={"approver"}, approve=True)
    assert failed.state == Refund.State.FAILED and "接続できません" in failed.failure
    assert failed.decided_by == staff.approver
    payment.refresh_from_db()
    assert payment.state == P.CAPTURED  # no money went back
    assert fees.refundable_amount(payment) == 0  # still held by the failed refund
    with pytest.raises(PermissionDenied):
        fees.retry_refund(failed, user=staff.handler, roles={"handler"})
    stubpay.fail = False
    done = fees.retry_refund(failed, user=staff.approver, roles={"approver"})
    assert done.state == Refund.State.DONE and done.failure == ""
    keys = {call[3] for call in stubpay.calls if call[0] == "refund"}
    assert keys == {refund.idempotency_key}  # the same key both times: never refunded twice
    payment.refresh_from_db()
    assert payment.state == P.REFUNDED
    assert PaymentEvent.objects.filter(assessment=a, kind="refund_failed").count() == 1
    with pytest.raises(fees.FeeError):
        fees.retry_refund(done, user=staff.approver, roles={"approver"})


def test_refund_of_a_counter_payment_is_cash_without_a_provider(staff, make_submission, fee, stubpay):
    a = fee(make_submission())
    payment = captured(a, provider="counter", method="cash")
    refund = fees.request_refund(payment, user=staff.handler, roles={"handler"}, amount="600", reason="x")
    done = fees.decide_refund(refund, user=staff.approver, roles={"approver"}, approve=True)
    assert done.state == Refund.State.DONE and stubpay.calls == []
    event = PaymentEvent.objects.filter(payment=payment, from_state=P.CAPTURED, to_state=P.REFUNDED).get()
    assert event.detail["method"] == "現金還付"


def test_refused_refund_gives_the_amount_back(staff, make_submission, fee, stubpay):
    a = fee(make_submission())
    payment = captured(a)
    refund = fees.request_refund(payment, user=staff.handler, roles={"handler"}, amount="600", reason="x")
    with pytest.raises(fees.FeeError, match="却下するときは理由"):
        fees.decide_refund(refund, user=staff.approver, roles={"approver"}, approve=False)
    fees.decide_refund(refund, user=staff.approver, roles={"approver"}, approve=False, note="対象外")
    refund.refresh_from_db()
    assert refund.state == Refund.State.REJECTED and stubpay.calls == []
    assert fees.refundable_amount(payment) == 600


# --- 窓口 -------------------------------------------------------------------------------


def test_counter_payment(staff, make_submission, fee):
    a = fee(make_submission(), state=A.AWAITING)
    kwargs = {"user": staff.handler, "roles": {"handler"}, "method": "card", "facility": "本庁1階"}
    with pytest.raises(fees.FeeError, match="一致しません"):
        fees.record_counter_payment(a, amount="500", **kwargs)
    with pytest.raises(fees.FeeError, match="支払い手段"):
        fees.record_counter_payment(a, amount="600", **{**kwargs, "method": "bitcoin"})
    with pytest.raises(PermissionDenied):
        fees.record_counter_payment(a, amount="600", **{**kwargs, "roles": {"section_admin"}})
    payment = fees.record_counter_payment(a, amount="600", **kwargs)
    a.refresh_from_db()
    assert (payment.provider, payment.method, payment.state, payment.facility) == ("counter", "card", P.CAPTURED, "本庁1階")
    assert payment.recorded_by == staff.handler and payment.captured_at is not None
    assert a.state == A.PAID and a.paid_at is not None
    with pytest.raises(fees.FeeError, match="支払い済み"):
        fees.record_counter_payment(a, amount="600", **kwargs)
    assert Payment.objects.filter(assessment=a).count() == 1
    assert AuditRecord.objects.filter(action="fee_counter_payment").count() == 1


def test_counter_payment_after_expiry(staff, make_submission, fee):
    a = fee(make_submission(), state=A.EXPIRED)
    fees.record_counter_payment(a, user=staff.approver, roles={"approver"}, method="cash", facility="支所", amount="600")
    a.refresh_from_db()
    assert a.state == A.PAID
    assert list(PaymentEvent.objects.filter(assessment=a, payment__isnull=True).exclude(to_state="")
                .values_list("to_state", flat=True)) == [A.AWAITING]


# --- approval waits for the fee -----------------------------------------------------------


def _review(staff, submission):
    backoffice_services.transition(staff.handler, submission.receipt_number, "under_review")


def test_approval_waits_for_payment(staff, make_submission, fee):
    submission = make_submission()
    a = fee(submission, state=A.AWAITING)
    _review(staff, submission)
    with pytest.raises(backoffice_services.WorkflowError, match="手数料のお支払いが済んでいないため承認できません（調定番号"):
        backoffice_services.transition(staff.approver, submission.receipt_number, "approved")
    submission.refresh_from_db()
    assert submission.status == "under_review"
    fees.record_counter_payment(a, user=staff.handler, roles={"handler"}, method="cash", facility="本庁", amount="600")
    backoffice_services.transition(staff.approver, submission.receipt_number, "approved")
    submission.refresh_from_db()
    assert submission.status == "approved"


def test_approval_after_exemption_and_when_not_required(staff, make_submission, fee):
    exempted = make_submission()
    fee(exempted, state=A.EXEMPT)
    _review(staff, exempted)
    backoffice_services.transition(staff.approver, exempted.receipt_number, "approved")
    free = make_submission(family="佐藤")
    fee(free, state=A.AWAITING, require=False)
    _review(staff, free)
    backoffice_services.transition(staff.approver, free.receipt_number, "approved")


def test_approval_refused_when_a_fee_was_computed_but_never_assessed(staff, make_submission, fee):
    submission = make_submission(copies=2)  # the form computes 600円
    fee(submission)
    Assessment.objects.filter(submission=submission).delete()
    _review(staff, submission)
    with pytest.raises(backoffice_services.WorkflowError, match="600円の調定がありません"):
        backoffice_services.transition(staff.approver, submission.receipt_number, "approved")


def test_approval_refusal_shown_on_the_page(staff, staff_client, make_submission, fee):
    submission = make_submission()
    fee(submission, state=A.AWAITING)
    _review(staff, submission)
    client = staff_client(staff.approver)
    response = client.post(f"/staff/submissions/{submission.receipt_number}/transition/",
                           {"to": "approved", "comment": "確認しました"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "手数料のお支払いが済んでいないため承認できません" in text
    assert "確認しました" in text  # what was typed is kept


# --- pages --------------------------------------------------------------------------------


def test_detail_shows_the_fee_panel(staff, staff_client, make_submission, fee, stubpay):
    submission = make_submission()
    a = fee(submission, state=A.AWAITING)
    Payment.objects.create(assessment=a, provider="stubpay", provider_ref="pi_x", idempotency_key="kx", amount=500,
                           state=P.CAPTURED, flagged=True, flag_reason="金額が調定と違います（500円）")
    response = staff_client(staff.handler).get(f"/staff/submissions/{submission.receipt_number}/")
    text = response.content.decode()
    assert response.status_code == 200
    assert 'id="fee"' in text and a.number in text and "要確認" in text and "金額が調定と違います" in text
    assert "窓口で支払いを受けた" in text and "減免を申請" in text and "還付を申請" in text
    assert "no-store" in response["Cache-Control"]
    assert AuditRecord.objects.filter(action="submission_view", target=submission.receipt_number).exists()


def test_no_panel_without_a_fee(staff, staff_client, make_submission):
    submission = make_submission()
    text = staff_client(staff.handler).get(f"/staff/submissions/{submission.receipt_number}/").content.decode()
    assert 'id="fee"' not in text


def test_counter_page_enter_records_nothing_and_errors_keep_input(staff, staff_client, make_submission, fee):
    submission = make_submission()
    a = fee(submission, state=A.AWAITING)
    client = staff_client(staff.handler)
    url = f"/staff/payments/{submission.receipt_number}/counter/"
    page = client.get(url, {"assessment": a.pk})
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert AuditRecord.objects.filter(action="fee_view", target=submission.receipt_number).exists()
    typed = {"assessment": a.pk, "method": "qr", "facility": "北支所", "amount": "550"}
    # Enter in a text field submits the hidden default button first: nothing is recorded.
    check = client.post(url, {**typed, "action": "check"})
    assert check.status_code == 200 and not Payment.objects.exists()
    wrong = client.post(url, {**typed, "action": "record"})
    text = wrong.content.decode()
    assert wrong.status_code == 400 and "請求額（600円）と一致しません" in text
    assert 'value="550"' in text and 'value="北支所"' in text and 'value="qr" checked' in text
    assert not Payment.objects.exists()
    ok = client.post(url, {**typed, "amount": "600", "action": "record"})
    assert ok.status_code == 302 and ok["Location"].endswith(f"/staff/submissions/{submission.receipt_number}/#fee")
    a.refresh_from_db()
    assert a.state == A.PAID and Payment.objects.get().method == "qr"


def test_reduction_pages_four_eyes(staff, staff_client, make_submission, fee):
    submission = make_submission()
    a = fee(submission)
    handler = staff_client(staff.handler)
    url = f"/staff/payments/{submission.receipt_number}/reduction/"
    missing = handler.post(url, {"assessment": a.pk, "amount": "100", "reason": "", "action": "request"})
    assert missing.status_code == 400 and "減免の理由を入力してください" in missing.content.decode()
    assert 'value="100"' in missing.content.decode()
    handler.post(url, {"assessment": a.pk, "amount": "100", "reason": "ひとり親", "action": "request"})
    reduction = Reduction.objects.get()
    # The requester sees it waiting; an approver sees the decision buttons.
    assert "別の方の承認を待っています" in handler.get(f"/staff/submissions/{submission.receipt_number}/").content.decode()
    approver = staff_client(staff.approver)
    detail = approver.get(f"/staff/submissions/{submission.receipt_number}/").content.decode()
    assert "減免を承認" in detail and "減免を却下" in detail
    decide = f"/staff/payments/{submission.receipt_number}/reduction/decide/"
    refused = approver.post(decide, {"reduction": reduction.pk, "decision": "reject", "note": ""})
    assert refused.status_code == 400 and "却下するときは理由" in refused.content.decode()
    own = handler.post(decide, {"reduction": reduction.pk, "decision": "approve", "note": ""})
    assert own.status_code == 403
    done = approver.post(decide, {"reduction": reduction.pk, "decision": "approve", "note": "確認済み"})
    assert done.status_code == 302
    a.refresh_from_db()
    assert a.amount_due == 500


def test_refund_pages(staff, staff_client, make_submission, fee, stubpay):
    submission = make_submission()
    a = fee(submission)
    payment = captured(a)
    handler = staff_client(staff.handler)
    url = f"/staff/payments/{submission.receipt_number}/refund/"
    page = handler.get(url, {"payment": str(payment.public_id)})
    assert page.status_code == 200 and 'value="600"' in page.content.decode()
    assert handler.get(url, {"payment": "not-a-uuid"}).status_code == 404
    too_much = handler.post(url, {"payment": str(payment.public_id), "amount": "900", "reason": "過誤納",
                                  "action": "request"})
    assert too_much.status_code == 400 and "過誤納" in too_much.content.decode()
    handler.post(url, {"payment": str(payment.public_id), "amount": "600", "reason": "過誤納", "action": "request"})
    refund = Refund.objects.get()
    stubpay.fail = True
    approver = staff_client(staff.approver)
    response = approver.post(f"/staff/payments/{submission.receipt_number}/refund/decide/",
                             {"refund": refund.pk, "decision": "approve", "note": ""}, follow=True)
    text = response.content.decode()
    assert "返金できませんでした" in text and "返金をやり直す" in text
    stubpay.fail = False
    approver.post(f"/staff/payments/{submission.receipt_number}/refund/retry/", {"refund": refund.pk})
    refund.refresh_from_db()
    assert refund.state == Refund.State.DONE


def test_request_payment_button(staff, staff_client, make_submission, fee, monkeypatch):
    from tenohira.backoffice import views_payments

    submission = make_submission()
    a = fee(submission)
    asked = []

    def fake_open(assessment, *, user, request=None):
        asked.append((assessment.pk, user))
        Assessment.objects.filter(pk=assessment.pk).update(state=A.AWAITING)
        return assessment

    monkeypatch.setattr(views_payments, "open_request_function", lambda: fake_open)
    page = staff_client(staff.handler).get(f"/staff/submissions/{submission.receipt_number}/").content.decode()
    assert "支払いを依頼する" in page
    url = f"/staff/payments/{submission.receipt_number}/request/"
    # A section administrator (no counter role) may not ask.
    refused = staff_client(staff.section_admin).post(url, {"assessment": a.pk}, follow=True)
    assert "担当または決裁者" in refused.content.decode() and asked == []
    staff_client(staff.handler).post(url, {"assessment": a.pk})
    assert asked == [(a.pk, staff.handler)]
    monkeypatch.setattr(views_payments, "open_request_function", lambda: None)
    a.refresh_from_db()
    Assessment.objects.filter(pk=a.pk).update(state=A.ASSESSED)
    unavailable = staff_client(staff.handler).post(url, {"assessment": a.pk}, follow=True)
    assert "まだ使えません" in unavailable.content.decode()


def test_queue_filter_by_payment_state(staff, staff_client, make_submission, fee):
    waiting = make_submission(family="待田", family_kana="マチダ")
    fee(waiting, state=A.AWAITING)
    paid = make_submission(family="済田", family_kana="スミダ")
    fee(paid, state=A.PAID)
    plain = make_submission(family="無田", family_kana="ムダ")
    client = staff_client(staff.handler)

    def names(**query):
        return client.get("/staff/", {"section": staff.section.pk, **query}).content.decode()

    text = names(payment="awaiting")
    assert waiting.receipt_number in text and paid.receipt_number not in text and plain.receipt_number not in text
    text = names(payment="paid")
    assert paid.receipt_number in text and waiting.receipt_number not in text
    text = names(payment="nonsense")  # an unknown value is ignored
    assert plain.receipt_number in text and paid.receipt_number in text
    fees.request_reduction(Assessment.objects.get(submission=waiting), user=staff.handler, roles={"handler"},
                           amount="100", exempt=False, reason="x")
    text = names(payment="reduction_pending")
    assert waiting.receipt_number in text and paid.receipt_number not in text


def test_approvals_list_is_scoped(staff, staff_client, make_submission, fee, stubpay):
    mine = make_submission(family="本課")
    a = fee(mine)
    fees.request_reduction(a, user=staff.handler, roles={"handler"}, amount="100", exempt=False, reason="理由A")
    other = make_submission(staff.other_procedure, family="他課")
    b = fee(other)
    fees.request_reduction(b, user=staff.other_handler, roles={"handler"}, amount="100", exempt=False, reason="理由B")
    text = staff_client(staff.approver).get("/staff/payments/").content.decode()
    assert mine.receipt_number in text and "理由A" in text
    assert other.receipt_number not in text and "理由B" not in text
    assert AuditRecord.objects.filter(action="fee_approvals_view", actor_id=staff.approver.pk).exists()
    handler_view = staff_client(staff.handler).get("/staff/payments/").content.decode()
    assert "決裁者または所属管理者" in handler_view and mine.receipt_number not in handler_view


def test_another_sections_staff_reach_no_fee_page(staff, staff_client, make_submission, fee, stubpay):
    submission = make_submission()
    a = fee(submission)
    payment = captured(a)
    reduction = Reduction.objects.create(assessment=a, amount=1, reason="x", requested_by=staff.handler,
                                         requested_at=a.created_at)
    outsider = staff_client(staff.other_approver)
    base = f"/staff/payments/{submission.receipt_number}"
    for url, data in [
        (f"{base}/counter/", {"assessment": a.pk}), (f"{base}/reduction/", {"assessment": a.pk}),
        (f"{base}/reduction/decide/", {"reduction": reduction.pk}), (f"{base}/refund/", {"payment": payment.public_id}),
        (f"{base}/request/", {"assessment": a.pk}), (f"{base}/refund/retry/", {"refund": 1}),
    ]:
        assert outsider.post(url, {**data, "action": "record", "decision": "approve"}).status_code == 404, url
    reduction.refresh_from_db()
    assert reduction.state == "pending" and Payment.objects.count() == 1
    # An object of another application is not found under this one either.
    own = make_submission(staff.other_procedure)
    assert staff_client(staff.other_handler).get(
        f"/staff/payments/{own.receipt_number}/counter/", {"assessment": a.pk}
    ).status_code == 404


def test_assess_by_staff(staff, staff_client, make_submission):
    submission = make_submission(copies=2)  # no fee setting yet: no assessment
    item = FeeItem.objects.create(code="F009", name="証明手数料")
    FeeSetting.objects.create(procedure=submission.procedure, timing="after_review", fee_item=item)
    assert not Assessment.objects.filter(submission=submission).exists()
    page = staff_client(staff.handler).get(f"/staff/submissions/{submission.receipt_number}/").content.decode()
    assert "調定する" in page
    url = f"/staff/payments/{submission.receipt_number}/assess/"
    refused = staff_client(staff.section_admin).post(url, follow=True)
    assert "担当または決裁者" in refused.content.decode()
    staff_client(staff.handler).post(url)
    staff_client(staff.handler).post(url)  # a second click makes no second assessment
    assessment = Assessment.objects.get(submission=submission)
    assert (assessment.amount_due, assessment.state) == (600, A.ASSESSED)
    assert AuditRecord.objects.filter(action="fee_assess").count() == 1
