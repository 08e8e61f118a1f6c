"""The online payment flow: 調定 on submission, paying, what providers report, expiry,
requests after review, and the resident's panels and receipt."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import re
import time

import pytest
from django.utils import timezone
from pypdf import PdfReader

from tenohira.applications import extensions
from tenohira.audit.models import AuditRecord
from tenohira.core.models import OutboxMessage
from tenohira.payments import services
from tenohira.payments.models import Assessment, FeeSetting, Payment, PaymentEvent

pytestmark = pytest.mark.django_db

A = Assessment.State
P = Payment.State


def _payload(payment, *, event_id="evt_1", state="captured", amount=None, currency="JPY"):
    return {"id": event_id, "type": "payment.updated", "ref": payment.provider_ref, "state": state,
            "amount": payment.amount if amount is None else amount, "currency": currency}


def _signed(payload, *, secret=b"whsec_test_only", stamp=None):
    """A body signed as the fake provider of conftest.py signs it (test modules cannot
    import the conftest under --import-mode=importlib)."""
    body = json.dumps(payload).encode()
    stamp = int(time.time()) if stamp is None else stamp
    digest = hmac.new(secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"HTTP_X_FAKE_SIGNATURE": f"t={stamp},v1={digest}"}


def _post_webhook(client, body, headers):
    return client.post("/api/v1/payments/webhooks/fakepay", data=body, content_type="application/json", **headers)


def _started(submission, fake_provider) -> Payment:
    assessment = submission.assessments.get()
    return services.start_payment(assessment.token, "fakepay")


# --- 調定 on submission -------------------------------------------------------------------------


def test_assessment_amount_is_recomputed_on_the_server(fee_setting, submit):
    fee_setting()
    # A browser can post a "fee" input; the engine never reads one for a computed field.
    raw = {"about": {"full_name__family": ["山田"], "full_name__given": ["花子"], "full_name__family_kana": ["ヤマダ"],
                     "full_name__given_kana": ["ハナコ"], "email": ["hanako@example.jp"], "wants_copy": ["yes"]},
           "copy": {"copies": ["3"], "fee": ["1"]}}
    submission = submit(raw)
    assessment = submission.assessments.get()
    assert assessment.amount_assessed == assessment.amount_due == 900
    # And from stored answers with a tampered figure the engine still computes 900.
    setting = FeeSetting.objects.get()
    tampered = {**submission.answers, "fee": 1}
    assert services.fee_of_answers(submission.form_version.parsed(), tampered, setting) == 900
    assert re.fullmatch(r"\d{4}-\d{7}", assessment.number)
    assert len(assessment.token) >= 32


def test_at_submission_asks_at_once_with_an_expiry(fee_setting, submit):
    fee_setting(expiry_days=7)
    before = timezone.now()
    assessment = submit().assessments.get()
    assert assessment.state == A.AWAITING
    assert assessment.timing == "at_submission"
    assert before + dt.timedelta(days=7) <= assessment.expires_at <= timezone.now() + dt.timedelta(days=7)
    assert list(assessment.events.values_list("kind", "to_state")) == [("assessed", ""), ("request", A.AWAITING)]


def test_after_review_is_assessed_and_not_asked_yet(fee_setting, submit):
    fee_setting(timing="after_review")
    assessment = submit().assessments.get()
    assert assessment.state == A.ASSESSED
    assert assessment.expires_at is None and assessment.requested_at is None


def test_no_assessment_for_a_fee_of_zero_or_a_procedure_without_setting(fee_setting, submit):
    no_copy = {"about": {"full_name__family": ["山田"], "full_name__given": ["花子"], "full_name__family_kana": ["ヤマダ"],
                     "full_name__given_kana": ["ハナコ"], "email": ["hanako@example.jp"], "wants_copy": ["no"]}}
    assert not submit(no_copy).assessments.exists()  # no setting at all
    fee_setting()
    assert not submit(no_copy).assessments.exists()  # fee 0 (the page with the fee is skipped)
    assert submit().assessments.exists()


def test_assessment_numbers_follow_each_other(fee_setting, submit):
    fee_setting()
    first, second = submit().assessments.get().number, submit().assessments.get().number
    assert int(second.split("-")[1]) == int(first.split("-")[1]) + 1
    assert first.split("-")[0] == second.split("-")[0]


def test_no_assessment_for_a_survey(fee_setting, submit, fee_form):
    fee_setting()
    definition = fee_form.definition
    definition.kind = "survey"
    definition.save(update_fields=["kind"])
    assert not submit().assessments.exists()


# --- Paying through the pages ---------------------------------------------------------------------


def test_pay_page_starts_an_attempt_and_the_return_asks_the_provider(fee_setting, submit, client, fake_provider):
    fee_setting()
    assessment = submit().assessments.get()
    page = client.get(f"/pay/{assessment.token}/")
    html = page.content.decode()
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    for text in ("600円", "住民票等交付手数料", assessment.submission.receipt_number, "テスト払いで支払う",
                 "お支払いの期限"):
        assert text in html
    response = client.post(f"/pay/{assessment.token}/", {"provider": "fakepay"})
    payment = assessment.payments.get()
    assert response.status_code == 302
    assert response["Location"] == f"https://pay.example.test/checkout/{payment.provider_ref}"
    assert payment.state == P.AWAITING and payment.amount == 600 and payment.idempotency_key
    # A return with a forged query string is not believed: the provider says "awaiting".
    page = client.get(f"/pay/return/{payment.public_id}/?status=paid&redirect_status=succeeded")
    assert "お支払いの確認中です" in page.content.decode()
    assessment.refresh_from_db()
    assert assessment.state == A.AWAITING
    fake_provider.pay(payment.provider_ref)
    page = client.get(f"/pay/return/{payment.public_id}/")
    assert "お支払いが済みました" in page.content.decode() and "no-store" in page["Cache-Control"]
    assessment.refresh_from_db()
    payment.refresh_from_db()
    assert assessment.state == A.PAID and payment.state == P.CAPTURED and payment.method == "card"
    # Paid: the pay page no longer offers a button, and a POST starts nothing.
    response = client.post(f"/pay/{assessment.token}/", {"provider": "fakepay"})
    assert response.status_code == 400 and "お支払い済み" in response.content.decode()
    assert assessment.payments.count() == 1


def test_declined_then_paid_on_retry_and_one_open_attempt_at_a_time(fee_setting, submit, client, fake_provider):
    fee_setting()
    assessment = submit().assessments.get()
    client.post(f"/pay/{assessment.token}/", {"provider": "fakepay"})
    first = assessment.payments.get()
    fake_provider.decline(first.provider_ref)
    page = client.get(f"/pay/return/{first.public_id}/").content.decode()
    assert "お支払いが完了しませんでした" in page and "カードが使えませんでした" in page and "もう一度支払う" in page
    first.refresh_from_db()
    assert first.state == P.FAILED
    client.post(f"/pay/{assessment.token}/", {"provider": "fakepay"})
    second = assessment.payments.exclude(pk=first.pk).get()
    # A third tap while the second is open cancels the second at the provider first.
    client.post(f"/pay/{assessment.token}/", {"provider": "fakepay"})
    third = assessment.payments.exclude(pk__in=[first.pk, second.pk]).get()
    second.refresh_from_db()
    assert second.state == P.CANCELLED and second.provider_ref in fake_provider.cancelled
    assert assessment.payments.filter(state__in=[P.CREATED, P.AWAITING]).count() == 1
    fake_provider.pay(third.provider_ref)
    client.get(f"/pay/return/{third.public_id}/")
    assessment.refresh_from_db()
    assert assessment.state == A.PAID


def test_an_unknown_provider_or_token_is_refused_plainly(fee_setting, submit, client):
    fee_setting()
    assessment = submit().assessments.get()
    response = client.post(f"/pay/{assessment.token}/", {"provider": "nosuch"})
    assert response.status_code == 400 and "選んだ支払い方法は" in response.content.decode()
    assert client.get("/pay/not-a-token/").status_code == 404


# --- Webhooks ----------------------------------------------------------------------------------


def test_forged_webhook_is_refused_and_audited(fee_setting, submit, client, fake_provider):
    fee_setting()
    payment = _started(submit(), fake_provider)
    body, headers = _signed(_payload(payment), secret=b"not-the-secret")
    response = _post_webhook(client, body, headers)
    assert response.status_code == 400
    record = AuditRecord.objects.get(action="payments.webhook_refused")
    assert record.target == "fakepay" and "bad signature" in record.detail["reason"]
    assert payment.provider_ref not in str(record.detail)  # nothing of the body is kept
    stale_body, stale_headers = _signed(_payload(payment), stamp=1_000_000_000)
    assert _post_webhook(client, stale_body, stale_headers).status_code == 400
    payment.refresh_from_db()
    assert payment.state == P.AWAITING and payment.assessment.state == A.AWAITING


def test_duplicate_webhook_moves_the_payment_once(fee_setting, submit, client, fake_provider):
    fee_setting()
    payment = _started(submit(), fake_provider)
    body, headers = _signed(_payload(payment, event_id="evt_dup"))
    first = _post_webhook(client, body, headers)
    second = _post_webhook(client, body, headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["outcome"] == "applied" and second.json()["outcome"] == "replay"
    assert PaymentEvent.objects.filter(payment=payment, to_state=P.CAPTURED).count() == 1
    assert PaymentEvent.objects.filter(provider_event_id="evt_dup").count() == 1
    payment.refresh_from_db()
    assert payment.state == P.CAPTURED and payment.assessment.state == A.PAID
    # Another event about the same (already captured) payment changes nothing either.
    body, headers = _signed(_payload(payment, event_id="evt_other"))
    assert _post_webhook(client, body, headers).json()["outcome"] == "applied"
    assert PaymentEvent.objects.filter(payment=payment, to_state=P.CAPTURED).count() == 1


def test_amount_mismatch_is_flagged_and_never_paid(fee_setting, submit, client, fake_provider):
    fee_setting()
    payment = _started(submit(), fake_provider)
    body, headers = _signed(_payload(payment, amount=60))
    assert _post_webhook(client, body, headers).status_code == 200
    payment.refresh_from_db()
    assessment = payment.assessment
    assert payment.flagged and "金額が違います" in payment.flag_reason
    assert payment.state == P.AWAITING and assessment.state == A.AWAITING
    # The currency too, and the return page (asking the provider) says so without "paid".
    other = _started(submit(), fake_provider)
    fake_provider.pay(other.provider_ref)
    fake_provider.attempts[other.provider_ref]["currency"] = "USD"
    page = client.get(f"/pay/return/{other.public_id}/").content.decode()
    other.refresh_from_db()
    assert other.flagged and "通貨が違います" in other.flag_reason and other.assessment.state == A.AWAITING
    assert "担当課で確認します" in page
    # A flagged assessment takes no new attempt (no second charge) and is not expired.
    assert client.post(f"/pay/{assessment.token}/", {"provider": "fakepay"}).status_code == 400
    assert services.expire_due(now=timezone.now() + dt.timedelta(days=30)) == 0


def test_webhook_body_is_bounded_before_parsing(fee_setting, submit, client, fake_provider):
    body = b"{" + b" " * (64 * 1024 + 10) + b"}"
    response = client.post("/api/v1/payments/webhooks/fakepay", data=body, content_type="application/json")
    assert response.status_code == 413
    assert client.post("/api/v1/payments/webhooks/nosuch", data=b"{}", content_type="application/json").status_code == 404


# --- Polling and expiry ----------------------------------------------------------------------


def test_polling_settles_a_closed_browsers_payment(fee_setting, submit, fake_provider):
    fee_setting()
    payment = _started(submit(), fake_provider)
    fake_provider.pay(payment.provider_ref)  # paid, and the browser was closed: no return
    assert services.poll_open_payments(now=timezone.now()) == 0  # too young to poll
    later = timezone.now() + dt.timedelta(minutes=2)
    assert services.poll_open_payments(now=later) == 1
    payment.refresh_from_db()
    assert payment.state == P.CAPTURED and payment.assessment.state == A.PAID
    assert payment.events.filter(kind="poll", to_state=P.CAPTURED).exists()


def test_polling_backs_off(fee_setting, submit, fake_provider):
    fee_setting()
    payment = _started(submit(), fake_provider)
    start = payment.created_at
    assert services.poll_open_payments(now=start + dt.timedelta(seconds=61)) == 1
    assert services.poll_open_payments(now=start + dt.timedelta(seconds=100)) == 0  # waits ≥ 60 s again
    assert services.poll_open_payments(now=start + dt.timedelta(seconds=125)) == 1
    # Waited 125 s at that poll: the next one comes 125 s later, not before.
    assert services.poll_open_payments(now=start + dt.timedelta(seconds=200)) == 0
    assert services.poll_open_payments(now=start + dt.timedelta(seconds=251)) == 1


def test_expiry_cancels_the_attempt_and_tells_the_resident(fee_setting, submit, client, fake_provider):
    fee_setting(expiry_days=3)
    submission = submit()
    payment = _started(submission, fake_provider)
    assessment = payment.assessment
    assert services.expire_due() == 0
    assert services.expire_due(now=timezone.now() + dt.timedelta(days=4)) == 1
    assessment.refresh_from_db()
    payment.refresh_from_db()
    assert assessment.state == A.EXPIRED and payment.state == P.EXPIRED
    assert payment.provider_ref in fake_provider.cancelled
    mail = OutboxMessage.objects.get(kind="payment_expired")
    assert mail.to == "hanako@example.jp" and submission.receipt_number in mail.subject
    assert "期限を過ぎたため" in mail.body and "担当課へご連絡ください" in mail.body and "600円" in mail.body
    panel = extensions.submission_panels(submission, audience="status")[0]
    assert "期限" in " ".join(panel.lines) and not panel.action_url
    page = client.get(f"/pay/{assessment.token}/").content.decode()
    assert "期限が過ぎた" in page and "テスト払いで支払う" not in page


def test_expiry_finds_a_last_minute_payment_paid(fee_setting, submit, fake_provider):
    fee_setting(expiry_days=1)
    payment = _started(submit(), fake_provider)
    fake_provider.pay(payment.provider_ref)
    assert services.expire_due(now=timezone.now() + dt.timedelta(days=2)) == 0
    payment.refresh_from_db()
    assert payment.assessment.state == A.PAID and not OutboxMessage.objects.filter(kind="payment_expired").exists()


# --- After review, panels, receipt ----------------------------------------------------------------


def test_request_after_review_mails_the_link_and_is_audited(fee_setting, submit, django_user_model):
    fee_setting(timing="after_review", expiry_days=10)
    submission = submit()
    assessment = submission.assessments.get()
    clerk = django_user_model.objects.create_user("clerk", password="x")
    services.open_assessment_request(assessment, user=clerk)
    assessment.refresh_from_db()
    assert assessment.state == A.AWAITING and assessment.requested_at and assessment.expires_at
    mail = OutboxMessage.objects.get(kind="payment_request")
    assert f"/pay/{assessment.token}/" in mail.body and "600円" in mail.body and "お支払いの期限" in mail.body
    assert AuditRecord.objects.filter(action="payments.request", target=assessment.number, actor="clerk").exists()
    with pytest.raises(services.StateError):
        services.open_assessment_request(assessment, user=clerk)


def test_check_notice_and_panels(fee_setting, submit, fake_provider, fee_form):
    from tenohira.applications import services as app_services

    fee_setting()
    draft, _secret = app_services.start_draft(fee_form)
    draft.raw = {"about": {"full_name__family": ["山田"], "email": ["a@example.jp"], "wants_copy": ["yes"]},
                 "copy": {"copies": ["2"]}}
    notices = extensions.check_notices(draft, app_services.run_of(draft))
    assert notices == ["手数料 600円は、送信の後にこの画面からお支払いいただきます（テスト払い）。"]
    FeeSetting.objects.update(timing="after_review")
    assert extensions.check_notices(draft, app_services.run_of(draft)) == [
        "手数料 600円は、審査の後にお支払いのご案内をお送りします（テスト払い）。"]
    FeeSetting.objects.update(timing="at_submission")
    submission = submit()
    panel = extensions.submission_panels(submission, audience="done")[0]
    assessment = submission.assessments.get()
    assert panel.action_label == "お支払いへ進む" and panel.action_url == f"/pay/{assessment.token}/"
    assert "手数料 600円（住民票等交付手数料）" in panel.lines
    payment = services.start_payment(assessment.token, "fakepay")
    fake_provider.decline(payment.provider_ref)
    services.refresh_payment(payment, source="return")
    assert extensions.submission_panels(submission, audience="mypage")[0].action_label == "もう一度支払う"


def test_receipt_pdf_only_once_paid(fee_setting, submit, client, fake_provider):
    fee_setting()
    submission = submit()
    payment = _started(submission, fake_provider)
    assessment = payment.assessment
    assert client.get(f"/pay/{assessment.token}/receipt.pdf").status_code == 404
    fake_provider.pay(payment.provider_ref)
    services.refresh_payment(payment, source="return")
    panel = extensions.submission_panels(submission, audience="status")[0]
    assert panel.action_label == "領収書（PDF）"
    response = client.get(panel.action_url)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for expected in ("領収書", "山田 花子", "600円", "住民票等交付手数料", assessment.number,
                     submission.receipt_number, "テスト払い", "サンプル市"):
        assert expected in text, expected


def test_admin_edits_settings_and_lists_assessments_read_only(fee_setting, submit, client, django_user_model):
    fee_setting()
    submit()
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    admin_user = django_user_model.objects.create_superuser("root", "root@example.jp", "x")
    device = TOTPDevice.objects.create(user=admin_user, name="phone", confirmed=True)
    client.force_login(admin_user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id  # the admin asks for the second factor
    session.save()
    for url in ("/admin/payments/feeitem/", "/admin/payments/feesetting/", "/admin/payments/assessment/",
                "/admin/payments/payment/"):
        assert client.get(url).status_code == 200, url
    assert client.get("/admin/payments/assessment/add/").status_code == 403
