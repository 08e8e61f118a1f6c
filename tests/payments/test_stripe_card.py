"""The card provider (Stripe) at its boundary: Stripe's SDK speaks to recorded answers (files
under data/stripe_*, in Stripe's documented shapes) through a stub HTTP client put in place
of the SDK's own; no network. What is checked is what goes over the wire (paths, form
fields, Idempotency-Key, the key) and how each answer, error or timeout is read."""

import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from django.utils import timezone

from tenohira.payments.contrib.stripe_card import SettlementFileError, StripeCard
from tenohira.payments.registry import InvalidWebhook, ProviderError, register

DATA = Path(__file__).parent / "data"
SESSION_ID = "cs_test_a1B2c3D4e5F6g7H8i9J0k1L2"
INTENT = "pi_3QxYzAbCdEfGhIjKlMnOpQrS"
API_BASE = "https://api.stripe.test"
WEBHOOK_SECRET = "whsec_recorded_test_secret"


def recorded(name: str) -> bytes:
    return (DATA / name).read_bytes()


class StubHTTP(stripe.HTTPClient):
    """Answers queued in order; every request kept for the test to read."""

    name = "stub"

    def __init__(self):
        super().__init__()
        self.answers: list = []
        self.requests: list[dict] = []

    def answer(self, status: int, fixture: str | None = None, body: bytes | None = None, headers: dict | None = None):
        self.answers.append((fixture and recorded(fixture) or body or b"{}", status, headers or {}))

    def timeout(self):
        self.answers.append(stripe.APIConnectionError("Request timed out (read timeout=10)", should_retry=True))

    def request(self, method, url, headers, post_data=None):
        self.requests.append({"method": method, "url": url, "headers": dict(headers or {}),
                              "form": parse_qs(post_data or "", keep_blank_values=True)})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self):
        pass


@pytest.fixture
def http(settings):
    settings.PAYMENTS_STRIPE_API_BASE = API_BASE
    settings.PAYMENTS_STRIPE_SECRET_KEY = "sk_test_recorded"
    settings.PAYMENTS_STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    stub = StubHTTP()
    StripeCard.http_client = stub
    yield stub
    StripeCard.http_client = None
    assert not stub.answers, "an answer was queued but never asked for"


@pytest.fixture
def provider():
    return register.get("stripe_card")


def payment(**overrides):
    assessment = SimpleNamespace(number="R7-000123", expires_at=None,
                                 procedure=SimpleNamespace(name="住民票の写しの請求（郵送）"))
    values = {"public_id": uuid.UUID("3f2b8c1e-6a4d-4f7e-9b1a-2c3d4e5f6a7b"), "amount": 600,
              "idempotency_key": "0f4c3b2a19e84d7c8b6a5f4e3d2c1b0a", "provider_ref": SESSION_ID,
              "expires_at": None, "assessment": assessment}
    values.update(overrides)
    return SimpleNamespace(**values)


def test_registered_with_its_label(provider):
    assert isinstance(provider, StripeCard)
    assert provider.label == "クレジットカード" and provider.online


def test_create_checkout_sends_stripes_form_with_the_payments_idempotency_key(http, provider):
    http.answer(200, "stripe_checkout_session_open.json")
    checkout = provider.create_checkout(payment(), return_url="https://city.example.jp/pay/return/x/",
                                        cancel_url="https://city.example.jp/pay/tok/")
    assert checkout.provider_ref == SESSION_ID
    assert checkout.redirect_url == f"https://checkout.stripe.com/c/pay/{SESSION_ID}"
    assert checkout.expires_at == dt.datetime.fromtimestamp(1767229200, tz=dt.UTC)
    (sent,) = http.requests
    assert sent["method"] == "post" and sent["url"] == f"{API_BASE}/v1/checkout/sessions"
    assert sent["headers"]["Idempotency-Key"] == "0f4c3b2a19e84d7c8b6a5f4e3d2c1b0a"
    assert sent["headers"]["Authorization"] == "Bearer sk_test_recorded"
    form = {k: v[0] for k, v in sent["form"].items()}
    assert form["mode"] == "payment"
    assert form["line_items[0][price_data][currency]"] == "jpy"
    assert form["line_items[0][price_data][unit_amount]"] == "600"
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][product_data][name]"] == "住民票の写しの請求（郵送） 手数料"
    assert form["client_reference_id"] == "3f2b8c1e-6a4d-4f7e-9b1a-2c3d4e5f6a7b"
    assert form["success_url"] == "https://city.example.jp/pay/return/x/?session_id={CHECKOUT_SESSION_ID}"
    assert form["cancel_url"] == "https://city.example.jp/pay/tok/"
    assert form["metadata[assessment]"] == "R7-000123"
    # Stripe keeps a session 30 minutes to 24 hours: a 14-day deadline is cut to a day.
    expires = int(form["expires_at"])
    assert time.time() + 30 * 60 < expires <= time.time() + 24 * 3600


def test_create_checkout_keeps_a_near_deadline_but_never_under_stripes_minimum(http, provider):
    http.answer(200, "stripe_checkout_session_open.json")
    http.answer(200, "stripe_checkout_session_open.json")
    soon = timezone.now() + dt.timedelta(hours=3)
    provider.create_checkout(payment(expires_at=soon), return_url="https://x.example/r?a=1", cancel_url="https://x.example/c")
    provider.create_checkout(payment(expires_at=timezone.now() + dt.timedelta(minutes=5)),
                             return_url="https://x.example/r", cancel_url="https://x.example/c")
    first, second = ({k: v[0] for k, v in r["form"].items()} for r in http.requests)
    assert int(first["expires_at"]) == int(soon.timestamp())
    assert first["success_url"] == "https://x.example/r?a=1&session_id={CHECKOUT_SESSION_ID}"
    assert int(second["expires_at"]) >= time.time() + 30 * 60


@pytest.mark.parametrize(("status", "fixture", "retry"), [
    (400, "stripe_error_amount_too_small.json", False),
    (401, "stripe_error_invalid_api_key.json", False),
    (429, "stripe_error_rate_limit.json", True),
    (500, "stripe_error_api.json", True),
])
def test_stripe_errors_become_provider_errors_saying_whether_to_retry(http, provider, status, fixture, retry):
    http.answer(status, fixture)
    with pytest.raises(ProviderError) as caught:
        provider.create_checkout(payment(), return_url="https://x.example/r", cancel_url="https://x.example/c")
    assert caught.value.retry is retry
    assert "sk_test" not in str(caught.value)  # Stripe's message quotes the key: it is not kept


def test_a_timeout_is_a_provider_error_to_retry_and_the_sdk_does_not_retry_by_itself(http, provider):
    http.timeout()
    with pytest.raises(ProviderError) as caught:
        provider.retrieve(payment())
    assert caught.value.retry is True
    assert len(http.requests) == 1


def test_the_default_client_bounds_every_call(settings, provider):
    settings.PAYMENTS_STRIPE_SECRET_KEY = "sk_test_x"
    settings.PAYMENTS_STRIPE_TIMEOUT = 7
    provider._client()
    assert StripeCard._default_clients[7.0]._timeout == (5, 7.0)  # (connect, read) seconds


def test_no_secret_key_refuses_without_calling(settings, provider):
    settings.PAYMENTS_STRIPE_SECRET_KEY = ""
    with pytest.raises(ProviderError, match="PAYMENTS_STRIPE_SECRET_KEY"):
        provider.retrieve(payment())


@pytest.mark.parametrize(("fixture", "state", "reason"), [
    ("stripe_checkout_session_open.json", "awaiting", ""),
    ("stripe_checkout_session_complete.json", "captured", ""),
    ("stripe_checkout_session_expired.json", "expired", "有効期限"),
])
def test_retrieve_reads_the_sessions_state(http, provider, fixture, state, reason):
    http.answer(200, fixture)
    snapshot = provider.retrieve(payment())
    assert http.requests[0]["method"] == "get"
    assert http.requests[0]["url"] == f"{API_BASE}/v1/checkout/sessions/{SESSION_ID}"
    assert snapshot.provider_ref == SESSION_ID and snapshot.state == state
    assert snapshot.amount == Decimal(600) and snapshot.currency == "JPY" and snapshot.method == "card"
    assert reason in snapshot.failure_reason


def test_retrieve_of_an_unknown_session_is_not_retried(http, provider):
    http.answer(404, "stripe_error_no_such_session.json")
    with pytest.raises(ProviderError) as caught:
        provider.retrieve(payment())
    assert caught.value.retry is False and "resource_missing" in str(caught.value)


def test_refund_finds_the_payment_intent_then_refunds_with_the_refunds_key(http, provider):
    http.answer(200, "stripe_checkout_session_complete.json")
    http.answer(200, "stripe_refund.json")
    ref = provider.refund(payment(), Decimal(200), idempotency_key="refund-key-1")
    assert ref == "re_3QxYzAbCdEfGhIjK0abcdefg"
    sent = http.requests[1]
    assert sent["url"] == f"{API_BASE}/v1/refunds"
    assert sent["headers"]["Idempotency-Key"] == "refund-key-1"
    assert sent["form"] == {"payment_intent": [INTENT], "amount": ["200"]}


def test_refund_of_an_unpaid_session_calls_nothing_more(http, provider):
    http.answer(200, "stripe_checkout_session_open.json")
    with pytest.raises(ProviderError, match="never paid"):
        provider.refund(payment(), Decimal(600), idempotency_key="k")
    assert len(http.requests) == 1


def test_cancel_expires_the_session_and_a_closed_one_is_fine(http, provider):
    http.answer(200, "stripe_checkout_session_expired.json")
    http.answer(400, "stripe_error_not_open.json")
    provider.cancel(payment())
    provider.cancel(payment())
    assert [r["url"] for r in http.requests] == [f"{API_BASE}/v1/checkout/sessions/{SESSION_ID}/expire"] * 2
    assert http.requests[0]["headers"]["Idempotency-Key"] == "expire-0f4c3b2a19e84d7c8b6a5f4e3d2c1b0a"
    http.answer(500, "stripe_error_api.json")
    with pytest.raises(ProviderError):
        provider.cancel(payment())


# -- webhooks ------------------------------------------------------------------------------------


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={at},v1={digest}"}


def test_a_signed_completed_event_reads_as_captured_with_its_session(settings, provider):
    settings.PAYMENTS_STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    body = recorded("stripe_event_checkout_completed.json")
    event = provider.parse_webhook(body, {"stripe-signature": signed(body)["Stripe-Signature"]})
    assert event.event_id == "evt_1QxYzAbCdEfGhIjKlMnOpQrS" and event.type == "checkout.session.completed"
    assert event.snapshot.provider_ref == SESSION_ID and event.snapshot.state == "captured"
    assert event.snapshot.amount == Decimal(600)
    assert event.snapshot.paid_at == dt.datetime.fromtimestamp(1767226000, tz=dt.UTC)


def test_a_refund_event_is_verified_but_changes_no_attempt(settings, provider):
    settings.PAYMENTS_STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    body = recorded("stripe_event_charge_refunded.json")
    event = provider.parse_webhook(body, signed(body))
    assert event.type == "charge.refunded" and event.snapshot is None


@pytest.mark.parametrize("forgery", ["other_secret", "changed_body", "stale", "no_header", "garbage_header",
                                     "not_json", "no_secret_set"])
def test_a_forged_or_stale_webhook_is_refused(settings, provider, forgery):
    settings.PAYMENTS_STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    body = recorded("stripe_event_checkout_completed.json")
    headers = signed(body)
    if forgery == "other_secret":
        headers = signed(body, secret="whsec_someone_else")
    elif forgery == "changed_body":
        body = body.replace(b'"amount_total": 600', b'"amount_total": 6')
    elif forgery == "stale":
        headers = signed(body, at=int(time.time()) - 301)
    elif forgery == "no_header":
        headers = {}
    elif forgery == "garbage_header":
        headers = {"Stripe-Signature": "t=abc,v1=zz"}
    elif forgery == "not_json":
        body = b"not json"
        headers = signed(body)
    elif forgery == "no_secret_set":
        settings.PAYMENTS_STRIPE_WEBHOOK_SECRET = ""
    with pytest.raises(InvalidWebhook):
        provider.parse_webhook(body, headers)


def test_an_oversized_webhook_is_refused_before_it_is_read(settings, provider):
    settings.PAYMENTS_STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    body = b'{"id": "evt_x", "pad": "' + b"x" * (300 * 1024) + b'"}'
    with pytest.raises(InvalidWebhook, match="too large"):
        provider.parse_webhook(body, signed(body))


# -- settlement ----------------------------------------------------------------------------------


def test_settlement_lines_are_matched_by_the_checkout_session(provider):
    lines = provider.parse_settlement(recorded("stripe_settlement.csv"))
    assert [(line.line_number, line.transaction_id, line.amount, line.fee, line.settled_on) for line in lines] == [
        (2, SESSION_ID, Decimal(600), Decimal(20), dt.date(2026, 1, 5)),
        (3, "cs_test_z9Y8x7W6v5U4t3S2r1Q0p9O8", Decimal(2500), Decimal(81), dt.date(2026, 1, 5)),
    ]
    assert lines[0].raw["payment_intent"] == INTENT


def test_a_settlement_file_without_the_session_column_matches_by_transaction_id(provider):
    data = b"transaction_id,amount,fee,settled_on\n" + INTENT.encode() + b",600,20,2026-01-05\n"
    (line,) = provider.parse_settlement(data)
    assert line.transaction_id == INTENT


def test_every_bad_settlement_line_is_refused_with_its_number(provider):
    with pytest.raises(SettlementFileError) as caught:
        provider.parse_settlement(recorded("stripe_settlement_bad.csv"))
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("3行目: ") and "取引ID「pi_bad id」" in problems[0] and "金額「-5」" in problems[0]
    assert problems[1] == "4行目: 列の数が4です（5列のはず）。"
    assert problems[2].startswith("5行目: ") and "決済セッションIDがありません" in problems[2]
    assert "手数料が金額より大きく" in problems[2] and "入金日「2026-02-30」" in problems[2]


@pytest.mark.parametrize(("data", "message"), [
    (b"", "ファイルが空です"),
    (b"id,amount\n", "見出し"),
    (b"transaction_id,amount,fee,settled_on\n\xff\xfe,1,0,2026-01-01\n", "2行目: UTF-8"),
])
def test_an_unreadable_settlement_file_is_refused(provider, data, message):
    with pytest.raises(SettlementFileError, match=message):
        provider.parse_settlement(data)


def test_the_recorded_event_is_stripes_shape():
    event = json.loads(recorded("stripe_event_checkout_completed.json"))
    assert event["object"] == "event" and event["data"]["object"]["object"] == "checkout.session"
    assert urlsplit(event["data"]["object"]["success_url"]).query == "session_id={CHECKOUT_SESSION_ID}"
