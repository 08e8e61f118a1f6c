"""The demo payment service as a real process, driven through the card provider (Stripe's
SDK): create, pay on the hosted page by a plain HTTP POST, retrieve, webhooks received by a
local receiver and verified by parse_webhook, decline, expiry, refunds, the settlement file,
and each of the control API's faults."""

import datetime as dt
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import requests

from tenohira.payments.contrib.stripe_card import StripeCard
from tenohira.payments.registry import InvalidWebhook, ProviderError
from tests.support.payment_service import CARD_DECLINED, payment_service, payment_service_process  # noqa: F401

RETURN = "http://site.example/pay/return/abc/"
CANCEL = "http://site.example/pay/tok/"


class Receiver:
    """A webhook endpoint on loopback keeping every body and its headers."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append((body, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/stripe_card/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, seconds: float = 10) -> list:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)


@pytest.fixture
def receiver(payment_service):  # noqa: F811
    endpoint = Receiver()
    payment_service.control(webhook_url=endpoint.url)
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


@pytest.fixture
def card():
    return StripeCard()


def new_payment(amount=600):
    assessment = SimpleNamespace(number="R7-000001", expires_at=None, procedure=SimpleNamespace(name="粗大ごみの収集"))
    return SimpleNamespace(public_id=uuid.uuid4(), amount=amount, idempotency_key=uuid.uuid4().hex, provider_ref="",
                           expires_at=None, assessment=assessment)


def checkout(card, payment):
    result = card.create_checkout(payment, return_url=RETURN, cancel_url=CANCEL)
    payment.provider_ref = result.provider_ref
    return result


def test_pay_on_the_hosted_page_then_retrieve_and_a_signed_webhook(payment_service, receiver, card):  # noqa: F811
    payment = new_payment()
    result = checkout(card, payment)
    assert result.provider_ref.startswith("cs_test_") and result.redirect_url.startswith(payment_service.url + "/pay/")
    assert card.retrieve(payment).state == "awaiting"

    page = requests.get(result.redirect_url, timeout=10)
    assert "デモ用の決済サービス（本物ではありません）" in page.text
    assert "粗大ごみの収集 手数料" in page.text and "600円" in page.text
    paid = payment_service.pay(result.redirect_url)
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"{RETURN}?session_id={result.provider_ref}"

    snapshot = card.retrieve(payment)
    assert (snapshot.state, snapshot.amount, snapshot.currency) == ("captured", Decimal(600), "JPY")

    ((body, headers),) = receiver.wait(1)
    event = card.parse_webhook(body, headers)
    assert event.event_id.startswith("evt_") and event.type == "checkout.session.completed"
    assert event.snapshot.provider_ref == result.provider_ref and event.snapshot.state == "captured"
    # The same body with the signature of another key, or a changed body, is refused.
    forged = dict(headers, **{"Stripe-Signature": headers["Stripe-Signature"].replace("v1=", "v1=0")})
    with pytest.raises(InvalidWebhook):
        card.parse_webhook(body, forged)
    with pytest.raises(InvalidWebhook):
        card.parse_webhook(body.replace(b'"amount_total": 600', b'"amount_total": 60'), headers)


def test_the_same_idempotency_key_opens_the_same_session(payment_service, card):  # noqa: F811
    payment = new_payment()
    first = checkout(card, payment)
    again = card.create_checkout(payment, return_url=RETURN, cancel_url=CANCEL)
    assert again.provider_ref == first.provider_ref


def test_a_declined_card_then_a_good_one(payment_service, card):  # noqa: F811
    payment = new_payment()
    result = checkout(card, payment)
    declined = payment_service.pay(result.redirect_url, CARD_DECLINED)
    assert declined.status_code == 402 and "カードが使えませんでした" in declined.text
    assert f'href="/pay/{result.provider_ref}"' in declined.text          # try again
    assert f'href="/pay/{result.provider_ref}/cancel"' in declined.text   # back to the site
    assert card.retrieve(payment).state == "awaiting"
    cancel = requests.get(f"{payment_service.url}/pay/{result.provider_ref}/cancel", allow_redirects=False, timeout=10)
    assert cancel.headers["Location"] == CANCEL

    payment_service.control(decline_next=True)  # even the good card, once
    assert payment_service.pay(result.redirect_url).status_code == 402
    assert payment_service.pay(result.redirect_url).status_code == 303
    assert card.retrieve(payment).state == "captured"


def test_a_wrong_card_number_keeps_what_was_typed(payment_service, card):  # noqa: F811
    result = checkout(card, new_payment())
    answer = payment_service.pay(result.redirect_url, "1234")
    assert answer.status_code == 400 and 'value="1234"' in answer.text and "14〜19桁" in answer.text


def test_expire_then_the_page_and_the_session_say_so(payment_service, receiver, card):  # noqa: F811
    payment = new_payment()
    result = checkout(card, payment)
    card.cancel(payment)
    card.cancel(payment)  # no longer open: nothing to do, no error
    assert card.retrieve(payment).state == "expired"
    assert requests.get(result.redirect_url, timeout=10).status_code == 410
    assert payment_service.pay(result.redirect_url).status_code == 410
    ((body, headers),) = receiver.wait(1)
    event = card.parse_webhook(body, headers)
    assert event.type == "checkout.session.expired" and event.snapshot.state == "expired"


def test_refunds_partial_then_the_rest_then_nothing_left(payment_service, receiver, card):  # noqa: F811
    payment = new_payment(2500)
    result = checkout(card, payment)
    payment_service.pay(result.redirect_url)
    first = card.refund(payment, Decimal(1000), idempotency_key="refund-1")
    assert first.startswith("re_")
    assert card.refund(payment, Decimal(1000), idempotency_key="refund-1") == first  # a retry: same refund
    card.refund(payment, Decimal(1500), idempotency_key="refund-2")
    with pytest.raises(ProviderError) as caught:
        card.refund(payment, Decimal(1), idempotency_key="refund-3")
    assert caught.value.retry is False and "charge_already_refunded" in str(caught.value)
    kinds = [card.parse_webhook(body, headers).type for body, headers in receiver.wait(3)]
    assert kinds == ["checkout.session.completed", "charge.refunded", "charge.refunded"]


def test_refund_of_an_unpaid_session_is_refused(payment_service, card):  # noqa: F811
    payment = new_payment()
    checkout(card, payment)
    with pytest.raises(ProviderError, match="never paid"):
        card.refund(payment, Decimal(600), idempotency_key="r")


def test_the_settlement_file_lists_what_was_paid_before_the_day(payment_service, card):  # noqa: F811
    paid, unpaid = new_payment(600), new_payment(1000)
    paid_checkout = checkout(card, paid)
    checkout(card, unpaid)
    payment_service.pay(paid_checkout.redirect_url)
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    lines = card.parse_settlement(payment_service.settlement(tomorrow))
    assert [(line.transaction_id, line.amount, line.fee, line.settled_on) for line in lines] == [
        (paid.provider_ref, Decimal(600), Decimal(20), tomorrow)]  # 600 × 3.25 % = 19.5 → 20
    assert lines[0].raw["payment_intent"].startswith("pi_")
    assert card.parse_settlement(payment_service.settlement(dt.date(2020, 1, 1))) == []


def test_control_twice_and_another_amount(payment_service, receiver, card):  # noqa: F811
    payment_service.control(webhook_twice=True, webhook_amount=60)
    payment = new_payment()
    payment_service.pay(checkout(card, payment).redirect_url)
    events = [card.parse_webhook(body, headers) for body, headers in receiver.wait(2)]
    assert len(events) == 2 and events[0].event_id == events[1].event_id
    assert events[0].snapshot.amount == Decimal(60)      # the mismatch the core must flag
    assert card.retrieve(payment).amount == Decimal(600)  # the session itself is unchanged


def test_control_delay_and_no_redirect(payment_service, receiver, card):  # noqa: F811
    payment_service.control(webhook_delay_seconds=1, no_redirect=True)
    result = checkout(card, new_payment())
    started = time.monotonic()
    answer = payment_service.pay(result.redirect_url)
    assert answer.status_code == 200 and "お支払いが完了しました" in answer.text and RETURN not in answer.text
    assert receiver.received == []
    receiver.wait(1)
    assert len(receiver.received) == 1 and time.monotonic() - started >= 0.9


def test_failed_webhooks_are_retried(payment_service, card):  # noqa: F811
    payment_service.control(webhook_url="http://127.0.0.1:9/nowhere")  # nothing listens on the discard port
    payment_service.pay(checkout(card, new_payment()).redirect_url)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(payment_service.deliveries()) < 2:
        time.sleep(0.05)
    attempts = payment_service.deliveries()
    assert [a["attempt"] for a in attempts[:2]] == [1, 2] and attempts[0]["event"] == attempts[1]["event"]


def test_a_wrong_api_key_is_refused(payment_service, card, settings):  # noqa: F811
    settings.PAYMENTS_STRIPE_SECRET_KEY = "sk_test_wrong"
    with pytest.raises(ProviderError) as caught:
        card.create_checkout(new_payment(), return_url=RETURN, cancel_url=CANCEL)
    assert caught.value.retry is False and "401" in str(caught.value)


def test_bad_input_answers_in_stripes_error_shape(payment_service):  # noqa: F811
    answer = requests.post(f"{payment_service.url}/v1/checkout/sessions", timeout=10,
                           headers={"Authorization": f"Bearer {payment_service.secret_key}"},
                           data={"mode": "payment", "line_items[0][price_data][currency]": "usd"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and "currency" in error["message"]
    unknown = requests.get(f"{payment_service.url}/v1/checkout/sessions/cs_test_nope", timeout=10,
                           headers={"Authorization": f"Bearer {payment_service.secret_key}"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "resource_missing"
