"""PayPay: the resident pays by scanning or opening a dynamic QR code (ORDER_QR, WEB_LINK).

Built on PayPay's own SDK (`paypayopa`). What makes PayPay different from a card gateway:

- The redirect back to the site after paying may never come (the resident's PayPay app
  opens, pays, and the browser tab is gone). So the state is learned by polling
  `retrieve` — the core's sweep does it for open attempts — and the return page polls once.
- The merchantPaymentId we give PayPay is the Payment's idempotency key: a retried create
  with the same key is refused by PayPay as a duplicate, never a second charge, and the
  payment can always be looked up by it (it is also the Payment's provider_ref).
- PayPay's transaction notification is not signed the way Stripe's webhooks are, so it is
  only a hint: its shape is checked and the core polls PayPay to learn the real state
  (`PayPayHint.snapshot` is always None). A forged notification can make us ask PayPay
  once more, nothing else.

Stored: the merchantPaymentId (provider_ref) and the QR code's id (payment_extra
["code_id"], needed to withdraw the code). Never the resident's PayPay account or anything
PayPay says about them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass
from decimal import Decimal

import requests
from django.conf import settings
from django.utils import timezone

from tenohira.payments.registry import (
    Checkout,
    InvalidWebhook,
    Provider,
    ProviderError,
    Snapshot,
    WebhookEvent,
    register,
)

logger = logging.getLogger(__name__)

# (connect, read) seconds: a request waiting on PayPay never holds a worker longer than this.
TIMEOUT = (5, 15)

# PayPay's payment status → Payment.State. REFUNDED is reported only after a refund; the
# core decides what it means for the assessment.
STATES = {
    "CREATED": "awaiting",
    "AUTHORIZED": "authorised",
    "REAUTHORIZING": "authorised",
    "COMPLETED": "captured",
    "CAPTURED": "captured",
    "REFUNDED": "refunded",
    "FAILED": "failed",
    "CANCELED": "cancelled",
    "EXPIRED": "expired",
}
FAILURE_REASONS = {
    "failed": "PayPayでの支払いが完了しませんでした。",
    "cancelled": "PayPayでの支払いは取り消されました。",
    "expired": "PayPayの支払い画面の有効期限が切れました。",
}
# resultInfo codes that mean "PayPay could not answer now": the same call may be retried.
RETRY_CODES = {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "RATE_LIMIT", "TOO_MANY_REQUESTS",
               "UNKNOWN", "TRANSACTION_IN_PROCESS", "REQUEST_TIMEOUT"}
MAX_REF = 64  # PayPay's limit for merchantPaymentId / merchantRefundId


@dataclass
class PayPayHint(WebhookEvent):
    """A PayPay notification: which payment to poll, never its state (the payment's
    reference is WebhookEvent.provider_ref)."""


def _from_epoch(value) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    try:
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


class PayPayProvider(Provider):
    name = "paypay"
    label = "PayPay"
    online = True

    def __init__(self):
        self._local = threading.local()  # one SDK client (and HTTP session) per thread

    # -- the SDK ---------------------------------------------------------------------------

    def _client(self):
        key, secret = settings.PAYMENTS_PAYPAY_API_KEY, settings.PAYMENTS_PAYPAY_API_SECRET
        if not key or not secret:
            raise ProviderError("PayPayの設定（APIキー）がないため、PayPayでは支払えません。")
        config = (key, secret, settings.PAYMENTS_PAYPAY_MERCHANT_ID, bool(settings.PAYMENTS_PAYPAY_PRODUCTION))
        cached = getattr(self._local, "client", None)
        if cached is None or cached[0] != config:
            import paypayopa  # imported here: the site starts even if the SDK is broken

            client = paypayopa.Client(auth=(key, secret), production_mode=config[3])
            client.set_assume_merchant(config[2])
            cached = (config, client)
            self._local.client = cached
        return cached[1]

    def _call(self, what: str, fn, *args) -> tuple[str, dict]:
        """Call the SDK with a bounded timeout; (resultInfo.code, data) or ProviderError."""
        try:
            body = fn(*args, timeout=TIMEOUT)
        except requests.Timeout as exc:
            raise ProviderError(f"PayPayから応答がありませんでした（{what}）。", retry=True) from exc
        except (requests.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            # Not JSON (a gateway's HTML error page), or an error without resultInfo.
            # (requests' JSONDecodeError is also a RequestException: caught first.)
            raise ProviderError(f"PayPayの応答を読めませんでした（{what}）。", retry=True) from exc
        except requests.RequestException as exc:
            raise ProviderError(f"PayPayに接続できませんでした（{what}）。", retry=True) from exc
        info = body.get("resultInfo") if isinstance(body, dict) else None
        if not isinstance(info, dict) or not isinstance(info.get("code"), str):
            raise ProviderError(f"PayPayの応答を読めませんでした（{what}）。", retry=True)
        data = body.get("data")
        return info["code"], data if isinstance(data, dict) else {}

    def _refused(self, what: str, code: str) -> ProviderError:
        logger.warning("paypay %s refused: %s", what, code)
        return ProviderError(f"PayPayが受け付けませんでした（{what}: {code}）。", retry=code in RETRY_CODES)

    # -- the interface ---------------------------------------------------------------------

    def create_checkout(self, payment, *, return_url: str, cancel_url: str) -> Checkout:
        if payment.currency != "JPY":
            raise ProviderError("PayPayでは日本円だけを扱えます。")
        merchant_payment_id = payment.idempotency_key
        if not merchant_payment_id or len(merchant_payment_id) > MAX_REF:
            raise ProviderError("支払いの番号がPayPayの決まりに合いません。")
        client = self._client()
        data = {
            "merchantPaymentId": merchant_payment_id,
            "amount": {"amount": int(payment.amount), "currency": "JPY"},
            "codeType": "ORDER_QR",
            "orderDescription": f"{settings.MUNICIPALITY_NAME} 手数料"[:255],
            "isAuthorization": False,
            # After paying, PayPay's page (or app) sends the resident back here — or not;
            # see the module's docstring. PayPay has no separate cancel address.
            "redirectUrl": return_url,
            "redirectType": "WEB_LINK",
        }
        code, body = self._call("支払いの作成", client.Code.create_qr_code, data)
        if code == "DUPLICATE_DYNAMIC_QR_REQUEST":
            # Our earlier call with this key reached PayPay but its answer was lost; its link
            # cannot be read back, so this attempt cannot be shown: start a new one.
            raise ProviderError("この支払いはPayPayで既に作成されています。もう一度最初からお試しください。")
        if code != "SUCCESS":
            raise self._refused("支払いの作成", code)
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise ProviderError("PayPayの応答に支払い画面のアドレスがありません。", retry=True)
        return Checkout(
            provider_ref=merchant_payment_id,
            redirect_url=url,
            payment_extra={"code_id": str(body.get("codeId") or "")[:100]},
            expires_at=_from_epoch(body.get("expiryDate")),
        )

    def _details(self, payment) -> tuple[str, dict]:
        ref = payment.provider_ref or payment.idempotency_key
        client = self._client()
        return self._call("支払いの確認", client.Code.get_payment_details, ref)

    def retrieve(self, payment) -> Snapshot:
        ref = payment.provider_ref or payment.idempotency_key
        code, data = self._details(payment)
        if "NOT_FOUND" in code:
            # PayPay knows no payment for the code yet: nobody has paid. Once the code's
            # expiry has passed nobody can, so the attempt is over.
            expired = payment.expires_at is not None and payment.expires_at <= timezone.now()
            return Snapshot(provider_ref=ref, state="expired" if expired else "awaiting", method="paypay",
                            failure_reason=FAILURE_REASONS["expired"] if expired else "")
        if code != "SUCCESS":
            raise self._refused("支払いの確認", code)
        status = data.get("status")
        state = STATES.get(status) if isinstance(status, str) else None
        if state is None:
            # A status we do not know must not move the payment anywhere.
            raise ProviderError(f"PayPayの支払い状態を読めませんでした（{str(status)[:30]}）。", retry=True)
        amount = currency = None
        money = data.get("amount")
        if isinstance(money, dict):
            amount, currency = money.get("amount"), money.get("currency")
        return Snapshot(
            provider_ref=ref,
            state=state,
            amount=Decimal(amount) if isinstance(amount, int) and not isinstance(amount, bool) else None,
            currency=currency if isinstance(currency, str) else "",
            method="paypay",
            paid_at=_from_epoch(data.get("acceptedAt")) if state == "captured" else None,
            failure_reason=FAILURE_REASONS.get(state, ""),
        )

    def refund(self, payment, amount: Decimal, *, idempotency_key: str) -> str:
        if amount != int(amount) or amount <= 0:
            raise ProviderError("返金額は1円以上の整数で指定してください。")
        if not idempotency_key or len(idempotency_key) > MAX_REF:
            raise ProviderError("返金の番号がPayPayの決まりに合いません。")
        # A refund names PayPay's own paymentId, learned from the payment's details (it is
        # not stored: the merchantPaymentId finds it).
        code, data = self._details(payment)
        if code != "SUCCESS":
            raise self._refused("返金前の確認", code)
        payment_id = data.get("paymentId")
        if not isinstance(payment_id, str) or not payment_id or data.get("status") not in ("COMPLETED", "REFUNDED"):
            raise ProviderError("PayPayで支払いが完了していないため返金できません。")
        client = self._client()
        request = {
            "merchantRefundId": idempotency_key,
            "paymentId": payment_id,
            "amount": {"amount": int(amount), "currency": "JPY"},
            "reason": "手数料の還付",
        }
        code, body = self._call("返金", client.Payment.refund_payment, request)
        if code.startswith("DUPLICATE"):
            # The same refund asked again (its first answer was lost): PayPay keeps one.
            code, body = self._call("返金の確認", client.Payment.refund_details, idempotency_key)
        if code not in ("SUCCESS", "REQUEST_ACCEPTED"):
            raise self._refused("返金", code)
        if body.get("status") == "FAILED":
            raise ProviderError("PayPayで返金できませんでした。")
        return str(body.get("merchantRefundId") or idempotency_key)

    def cancel(self, payment) -> None:
        code_id = (payment.payment_extra or {}).get("code_id")
        if not code_id:
            # No code to withdraw (its creation never answered): nothing can be paid with it.
            return
        client = self._client()
        code, _ = self._call("支払いの取消し", client.Code.delete_qr_code, code_id)
        if code == "DYNAMIC_QR_ALREADY_PAID":
            raise ProviderError("PayPayで既に支払われているため取り消せません。")
        if code != "SUCCESS" and "NOT_FOUND" not in code:
            raise self._refused("支払いの取消し", code)

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> WebhookEvent:
        """PayPay's transaction notification, read as a hint (see the module's docstring)."""
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidWebhook("not JSON") from exc
        if not isinstance(event, dict) or event.get("notification_type") != "Transaction":
            raise InvalidWebhook("not a PayPay transaction notification")
        ref, order_id, state = event.get("merchant_order_id"), event.get("order_id"), event.get("state")
        if not isinstance(ref, str) or not ref or len(ref) > MAX_REF:
            raise InvalidWebhook("merchant_order_id missing")
        if not isinstance(state, str) or state not in STATES:
            raise InvalidWebhook("unknown state")
        if order_id is not None and (not isinstance(order_id, str) or len(order_id) > 64):
            raise InvalidWebhook("bad order_id")
        merchant = settings.PAYMENTS_PAYPAY_MERCHANT_ID
        if merchant and event.get("merchant_id") != merchant:
            raise InvalidWebhook("another merchant")
        # PayPay sends no event id: one notification per payment and state is kept once.
        return PayPayHint(
            event_id=f"{order_id or ref}:{state}"[:100],
            type=f"transaction.{state.lower()}",
            snapshot=None,
            received_at=timezone.now(),
            provider_ref=ref,
        )

    # No parse_settlement: PayPay's statements are read in its merchant portal for now.


register.register(PayPayProvider)
