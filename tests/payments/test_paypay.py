"""The PayPay provider at its boundary: PayPay's SDK speaks to recorded answers (files under
data/, in PayPay's documented shapes) through a stubbed HTTP layer; no network."""

import datetime as dt
import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses

from tenohira.payments.contrib.paypay import PayPayHint, PayPayProvider
from tenohira.payments.models import Payment
from tenohira.payments.registry import InvalidWebhook, ProviderError, register

DATA = Path(__file__).parent / "data"
SANDBOX = "https://apigw.sandbox.paypay.ne.jp"
KEY = "pay-7f3c2a9e4b1d4c8e9a0b5d6e7f8a9b0c"  # the merchantPaymentId in the recordings
PAYPAY_PAYMENT_ID = "04589327198373744640"


def recorded(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def paypay_settings(settings):
    settings.PAYMENTS_PAYPAY_API_KEY = "a_test_api_key"
    settings.PAYMENTS_PAYPAY_API_SECRET = "dGVzdC1zZWNyZXQtbm90LXJlYWw="
    settings.PAYMENTS_PAYPAY_MERCHANT_ID = "merchant-0001"
    settings.PAYMENTS_PAYPAY_PRODUCTION = False
    settings.MUNICIPALITY_NAME = "サンプル市"
    return settings


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def provider():
    return PayPayProvider()


def payment(**kwargs) -> Payment:
    values = {"provider": "paypay", "amount": 600, "currency": "JPY", "idempotency_key": KEY, "provider_ref": KEY,
              "payment_extra": {"code_id": "04-Xq7bT2kLmN3pR8sV"}}
    values.update(kwargs)
    return Payment(**values)


def test_registered_with_its_label():
    paypay = register.get("paypay")
    assert isinstance(paypay, PayPayProvider)
    assert paypay.label == "PayPay" and paypay.online
    assert paypay in register.online()


# -- create_checkout ---------------------------------------------------------------------

def test_checkout_is_an_order_qr_with_the_payments_key_and_a_bounded_timeout(api, provider):
    api.post(f"{SANDBOX}/v2/codes", json=recorded("paypay_create_qr_code.json"), status=201)
    checkout = provider.create_checkout(
        payment(provider_ref=""), return_url="https://tetsuzuki.example.lg.jp/pay/return/9d5e/",
        cancel_url="https://tetsuzuki.example.lg.jp/pay/x/")

    assert checkout.provider_ref == KEY  # the merchantPaymentId: retrieve finds it by this
    assert checkout.redirect_url == "https://qr-stg.sandbox.paypay.ne.jp/28180104Xq7bT2kLmN3pR8sV"
    assert checkout.payment_extra == {"code_id": "04-Xq7bT2kLmN3pR8sV"}
    assert checkout.expires_at == dt.datetime.fromtimestamp(1743487500, tz=dt.UTC)
    assert checkout.payment_number == ""

    request = api.calls[0].request
    sent = json.loads(request.body)
    assert sent["merchantPaymentId"] == KEY
    assert sent["amount"] == {"amount": 600, "currency": "JPY"}
    assert sent["codeType"] == "ORDER_QR"
    assert sent["redirectType"] == "WEB_LINK"
    assert sent["redirectUrl"] == "https://tetsuzuki.example.lg.jp/pay/return/9d5e/"
    assert sent["orderDescription"] == "サンプル市 手数料"
    assert isinstance(sent["requestedAt"], int)
    assert request.headers["Authorization"].startswith("hmac OPA-Auth:a_test_api_key:")
    assert request.headers["X-ASSUME-MERCHANT"] == "merchant-0001"
    connect, read = request.req_kwargs["timeout"]
    assert 0 < connect <= 10 and 0 < read <= 30


def test_production_mode_talks_to_the_production_gateway(api, provider, paypay_settings):
    paypay_settings.PAYMENTS_PAYPAY_PRODUCTION = True
    api.post("https://apigw.paypay.ne.jp/v2/codes", json=recorded("paypay_create_qr_code.json"), status=201)
    assert provider.create_checkout(payment(), return_url="https://x.example/r", cancel_url="").redirect_url


def test_without_keys_no_call_is_made(api, provider, paypay_settings):
    paypay_settings.PAYMENTS_PAYPAY_API_KEY = ""
    with pytest.raises(ProviderError, match="設定") as caught:
        provider.create_checkout(payment(), return_url="https://x.example/r", cancel_url="")
    assert not caught.value.retry
    assert len(api.calls) == 0


def test_only_yen(api, provider):
    with pytest.raises(ProviderError, match="日本円"):
        provider.create_checkout(payment(currency="USD"), return_url="https://x.example/r", cancel_url="")


def test_a_duplicate_create_is_refused_without_retry(api, provider):
    api.post(f"{SANDBOX}/v2/codes", json=recorded("paypay_create_duplicate.json"), status=409)
    with pytest.raises(ProviderError, match="既に作成") as caught:
        provider.create_checkout(payment(), return_url="https://x.example/r", cancel_url="")
    assert not caught.value.retry


def test_rate_limited_may_be_retried_and_unauthorised_may_not(api, provider):
    api.post(f"{SANDBOX}/v2/codes", json=recorded("paypay_rate_limit.json"), status=429)
    with pytest.raises(ProviderError) as caught:
        provider.create_checkout(payment(), return_url="https://x.example/r", cancel_url="")
    assert caught.value.retry

    api.post(f"{SANDBOX}/v2/codes", json=recorded("paypay_unauthorized.json"), status=401)
    with pytest.raises(ProviderError, match="UNAUTHORIZED") as caught:
        provider.create_checkout(payment(), return_url="https://x.example/r", cancel_url="")
    assert not caught.value.retry


@pytest.mark.parametrize("failure", [
    requests.exceptions.ReadTimeout("read timed out"),
    requests.exceptions.ConnectTimeout("connect timed out"),
    requests.exceptions.ConnectionError("connection refused"),
])
def test_timeouts_and_connection_errors_may_be_retried(api, provider, failure):
    api.post(f"{SANDBOX}/v2/codes", body=failure)
    with pytest.raises(ProviderError, match="PayPay") as caught:
        provider.create_checkout(payment(), return_url="https://x.example/r", cancel_url="")
    assert caught.value.retry


def test_a_gateway_page_instead_of_json_may_be_retried(api, provider):
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", body="<html>502 Bad Gateway</html>", status=502)
    with pytest.raises(ProviderError, match="読めません") as caught:
        provider.retrieve(payment())
    assert caught.value.retry


def test_an_answer_without_a_https_link_is_not_shown(api, provider):
    answer = recorded("paypay_create_qr_code.json")
    answer["data"]["url"] = "javascript:alert(1)"
    api.post(f"{SANDBOX}/v2/codes", json=answer, status=201)
    with pytest.raises(ProviderError):
        provider.create_checkout(payment(), return_url="https://x.example/r", cancel_url="")


def test_no_key_or_secret_in_the_logs(api, provider, caplog):
    caplog.set_level(logging.DEBUG)
    api.post(f"{SANDBOX}/v2/codes", json=recorded("paypay_unauthorized.json"), status=401)
    with pytest.raises(ProviderError):
        provider.create_checkout(payment(), return_url="https://x.example/r", cancel_url="")
    assert "a_test_api_key" not in caplog.text
    assert "dGVzdC1zZWNyZXQtbm90LXJlYWw=" not in caplog.text


# -- retrieve: PayPay's status mapped --------------------------------------------------------

@pytest.mark.parametrize(("status", "state"), [
    ("CREATED", "awaiting"),
    ("AUTHORIZED", "authorised"),
    ("COMPLETED", "captured"),
    ("FAILED", "failed"),
    ("CANCELED", "cancelled"),
    ("EXPIRED", "expired"),
    ("REFUNDED", "refunded"),
])
def test_retrieve_maps_each_status(api, provider, status, state):
    answer = recorded("paypay_details_completed.json")
    answer["data"]["status"] = status
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", json=answer)
    snapshot = provider.retrieve(payment())
    assert snapshot.state == state
    assert snapshot.provider_ref == KEY
    assert snapshot.method == "paypay"
    assert (snapshot.paid_at is not None) == (state == "captured")
    assert bool(snapshot.failure_reason) == (state in {"failed", "cancelled", "expired"})


def test_retrieve_completed_reports_amount_currency_and_time(api, provider):
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", json=recorded("paypay_details_completed.json"))
    snapshot = provider.retrieve(payment())
    assert snapshot.state == "captured"
    assert snapshot.amount == Decimal(600) and snapshot.currency == "JPY"
    assert snapshot.paid_at == dt.datetime.fromtimestamp(1743487401, tz=dt.UTC)
    assert api.calls[0].request.req_kwargs["timeout"]


def test_retrieve_reports_the_amount_paypay_saw_even_when_it_differs(api, provider):
    # The core compares it with the assessment and flags the payment: never hidden here.
    answer = recorded("paypay_details_completed.json")
    answer["data"]["amount"] = {"amount": 60, "currency": "JPY"}
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", json=answer)
    assert provider.retrieve(payment()).amount == Decimal(60)


def test_retrieve_created_is_awaiting(api, provider):
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", json=recorded("paypay_details_created.json"))
    snapshot = provider.retrieve(payment())
    assert snapshot.state == "awaiting" and snapshot.paid_at is None


def test_not_found_is_awaiting_until_the_code_expires(api, provider):
    now = dt.datetime.now(dt.UTC)
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", json=recorded("paypay_details_not_found.json"), status=404)
    assert provider.retrieve(payment(expires_at=now + dt.timedelta(minutes=3))).state == "awaiting"
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", json=recorded("paypay_details_not_found.json"), status=404)
    assert provider.retrieve(payment(expires_at=now - dt.timedelta(minutes=1))).state == "expired"


def test_an_unknown_status_moves_nothing(api, provider):
    answer = recorded("paypay_details_completed.json")
    answer["data"]["status"] = "SOMETHING_NEW"
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", json=answer)
    with pytest.raises(ProviderError) as caught:
        provider.retrieve(payment())
    assert caught.value.retry


def test_retrieve_timeout_may_be_retried(api, provider):
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        provider.retrieve(payment())
    assert caught.value.retry


# -- refund and cancel -------------------------------------------------------------------

def test_refund_names_paypays_payment_id_and_our_refund_key(api, provider):
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", json=recorded("paypay_details_completed.json"))
    api.post(f"{SANDBOX}/v2/refunds/", json=recorded("paypay_refund.json"))
    assert provider.refund(payment(), Decimal(300), idempotency_key="refund-0001") == "refund-0001"
    sent = json.loads(api.calls[1].request.body)
    assert sent["merchantRefundId"] == "refund-0001"
    assert sent["paymentId"] == PAYPAY_PAYMENT_ID
    assert sent["amount"] == {"amount": 300, "currency": "JPY"}


def test_a_refund_asked_again_is_read_back_not_made_twice(api, provider):
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", json=recorded("paypay_details_completed.json"))
    api.post(f"{SANDBOX}/v2/refunds/", json={"resultInfo": {"code": "DUPLICATE_REFUND_REQUEST", "message": "",
                                                            "codeId": "x"}, "data": None}, status=409)
    api.get(f"{SANDBOX}/v2/refunds/refund-0001", json=recorded("paypay_refund.json"))
    assert provider.refund(payment(), Decimal(300), idempotency_key="refund-0001") == "refund-0001"
    assert [call.request.method for call in api.calls] == ["GET", "POST", "GET"]


def test_no_refund_of_an_unpaid_payment(api, provider):
    api.get(f"{SANDBOX}/v2/codes/payments/{KEY}", json=recorded("paypay_details_created.json"))
    with pytest.raises(ProviderError, match="完了していない"):
        provider.refund(payment(), Decimal(300), idempotency_key="refund-0001")


@pytest.mark.parametrize("amount", [Decimal(0), Decimal("10.5"), Decimal(-1)])
def test_refund_amount_is_whole_positive_yen(api, provider, amount):
    with pytest.raises(ProviderError):
        provider.refund(payment(), amount, idempotency_key="refund-0001")


def test_cancel_withdraws_the_qr_code(api, provider):
    api.delete(f"{SANDBOX}/v2/codes/04-Xq7bT2kLmN3pR8sV", json=recorded("paypay_delete_qr_code.json"))
    provider.cancel(payment())
    assert api.calls[0].request.req_kwargs["timeout"]


def test_cancel_of_a_paid_code_is_refused(api, provider):
    api.delete(f"{SANDBOX}/v2/codes/04-Xq7bT2kLmN3pR8sV", json=recorded("paypay_delete_already_paid.json"),
               status=400)
    with pytest.raises(ProviderError, match="既に支払われて"):
        provider.cancel(payment())


def test_cancel_of_a_code_gone_already_is_fine(api, provider):
    api.delete(f"{SANDBOX}/v2/codes/04-Xq7bT2kLmN3pR8sV", status=404,
               json={"resultInfo": {"code": "DYNAMIC_QR_NOT_FOUND", "message": "", "codeId": "x"}, "data": None})
    provider.cancel(payment())


def test_cancel_without_a_code_calls_nothing(api, provider):
    provider.cancel(payment(payment_extra={}))
    assert len(api.calls) == 0


# -- the notification is only a hint -----------------------------------------------------------

def test_notification_is_a_hint_naming_the_payment_never_its_state(provider):
    body = (DATA / "paypay_webhook_transaction.json").read_bytes()
    event = provider.parse_webhook(body, {"Content-Type": "application/json"})
    assert isinstance(event, PayPayHint)
    assert event.snapshot is None  # the core polls PayPay to learn the state
    assert event.provider_ref == KEY
    assert event.event_id == f"{PAYPAY_PAYMENT_ID}:COMPLETED"
    assert event.type == "transaction.completed"
    # The same notification twice has the same id (kept once by the core).
    assert provider.parse_webhook(body, {}).event_id == event.event_id


@pytest.mark.parametrize("body", [
    b"not json",
    b"\xff\xfe",
    b"[]",
    b'{"notification_type": "Transaction"}',
    json.dumps({"notification_type": "Other", "merchant_order_id": KEY, "state": "COMPLETED"}).encode(),
    json.dumps({"notification_type": "Transaction", "merchant_order_id": KEY, "state": "PAID_TWICE",
                "merchant_id": "merchant-0001"}).encode(),
    json.dumps({"notification_type": "Transaction", "merchant_order_id": "x" * 65, "state": "COMPLETED",
                "merchant_id": "merchant-0001"}).encode(),
    json.dumps({"notification_type": "Transaction", "merchant_order_id": KEY, "state": "COMPLETED",
                "merchant_id": "someone-else"}).encode(),
])
def test_malformed_or_foreign_notifications_are_refused(provider, body):
    with pytest.raises(InvalidWebhook):
        provider.parse_webhook(body, {})


# -- through the payments core: the redirect never comes, polling settles it ---------------------

@pytest.fixture
def paypay_assessment(db, submit, fee_form, fee_item):
    from tenohira.payments.models import Assessment, FeeSetting

    FeeSetting.objects.create(procedure=fee_form.definition.procedure, timing="at_submission",
                              fee_item=fee_item, providers=["paypay"])
    return Assessment.objects.get(submission=submit())


def _recorded_for(payment_row, name):
    answer = recorded(name)
    answer["data"]["merchantPaymentId"] = payment_row.idempotency_key
    return answer


def test_paid_in_the_app_and_never_back_then_polling_settles_it(api, paypay_assessment):
    from tenohira.payments import services

    api.post(f"{SANDBOX}/v2/codes", json=recorded("paypay_create_qr_code.json"), status=201)
    attempt = services.start_payment(paypay_assessment.token, "paypay")
    attempt.refresh_from_db()
    assert attempt.state == "awaiting"
    assert attempt.provider_ref == attempt.idempotency_key
    assert attempt.payment_extra["code_id"] == "04-Xq7bT2kLmN3pR8sV"
    assert json.loads(api.calls[0].request.body)["merchantPaymentId"] == attempt.idempotency_key

    # The notification alone changes nothing (a hint); asking PayPay does.
    hint = PayPayProvider().parse_webhook((DATA / "paypay_webhook_transaction.json").read_bytes(), {})
    services.handle_webhook("paypay", hint)
    attempt.refresh_from_db()
    assert attempt.state == "awaiting"

    api.get(f"{SANDBOX}/v2/codes/payments/{attempt.idempotency_key}",
            json=_recorded_for(attempt, "paypay_details_completed.json"))
    services.refresh_payment(attempt, source="poll")
    attempt.refresh_from_db()
    paypay_assessment.refresh_from_db()
    assert attempt.state == "captured" and not attempt.flagged
    assert paypay_assessment.state == "paid"


def test_an_amount_paypay_reports_differently_is_flagged_not_paid(api, paypay_assessment):
    from tenohira.payments import services

    api.post(f"{SANDBOX}/v2/codes", json=recorded("paypay_create_qr_code.json"), status=201)
    attempt = services.start_payment(paypay_assessment.token, "paypay")
    answer = _recorded_for(attempt, "paypay_details_completed.json")
    answer["data"]["amount"]["amount"] = 60
    api.get(f"{SANDBOX}/v2/codes/payments/{attempt.idempotency_key}", json=answer)
    services.refresh_payment(attempt, source="poll")
    attempt.refresh_from_db()
    paypay_assessment.refresh_from_db()
    assert attempt.flagged and attempt.state != "captured"
    assert paypay_assessment.state == "awaiting_payment"


def test_a_notification_naming_the_attempt_makes_the_core_ask_paypay_at_once(api, paypay_assessment):
    from tenohira.payments import services

    api.post(f"{SANDBOX}/v2/codes", json=recorded("paypay_create_qr_code.json"), status=201)
    attempt = services.start_payment(paypay_assessment.token, "paypay")
    body = json.loads((DATA / "paypay_webhook_transaction.json").read_bytes())
    body["merchant_order_id"] = attempt.idempotency_key
    hint = PayPayProvider().parse_webhook(json.dumps(body).encode(), {})
    assert hint.snapshot is None and hint.provider_ref == attempt.provider_ref
    api.get(f"{SANDBOX}/v2/codes/payments/{attempt.idempotency_key}",
            json=_recorded_for(attempt, "paypay_details_completed.json"))
    assert services.handle_webhook("paypay", hint) == "applied"
    attempt.refresh_from_db()
    paypay_assessment.refresh_from_db()
    assert attempt.state == "captured" and paypay_assessment.state == "paid"
    asked = len(api.calls)
    # The same notification again: the attempt is settled, so PayPay is not asked again.
    assert services.handle_webhook("paypay", hint) == "ignored"
    assert len(api.calls) == asked
