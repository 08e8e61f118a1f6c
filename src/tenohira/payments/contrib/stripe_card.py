"""クレジットカード through Stripe Checkout, on Stripe's own SDK (`stripe`).

One Payment is one Checkout Session: the session id is the Payment's provider_ref, the
resident pays on Stripe's hosted page and comes back to the return URL, and Stripe tells
us by a signed webhook (`checkout.session.completed`) as well, so a resident who closes
the tab after paying is still counted. The settings (read at every call, so tests and a
restart pick up changes):

    PAYMENTS_STRIPE_SECRET_KEY      the API key (sk_…); without it every call is refused
    PAYMENTS_STRIPE_WEBHOOK_SECRET  the endpoint's signing secret (whsec_…)
    PAYMENTS_STRIPE_API_BASE        Stripe's address, or the demo payment service's
    PAYMENTS_STRIPE_TIMEOUT         seconds any call may take

Every call that changes something carries an idempotency key (the Payment's or the
Refund's), so a retry after a timeout never opens a second session or refunds twice. The
SDK's own retries are off: the caller decides, and no request waits on Stripe for longer
than the timeout.

Stored: the session id only. The card number never reaches Tenohira; the payment
intent (needed for a refund) is asked from Stripe when a refund is made.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal, InvalidOperation

import stripe
from django.conf import settings
from django.utils import timezone

from tenohira.payments.registry import (
    Checkout,
    InvalidWebhook,
    Provider,
    ProviderError,
    SettlementLine,
    Snapshot,
    WebhookEvent,
    register,
)

DEFAULT_API_BASE = "https://api.stripe.com"
WEBHOOK_TOLERANCE = 300                  # seconds a signed webhook stays acceptable (replays after that fail)
MAX_WEBHOOK_BYTES = 256 * 1024           # Stripe's events are a few KB; read nothing bigger
# Stripe keeps a Checkout Session open 30 minutes to 24 hours. A longer deadline (事後決済
# is asked for 14 days) is the assessment's: a new session is opened when the resident comes.
MIN_SESSION = dt.timedelta(minutes=31)
MAX_SESSION = dt.timedelta(hours=23, minutes=55)
MAX_SETTLEMENT_BYTES = 32 * 1024 * 1024
MAX_SETTLEMENT_LINES = 200_000
SETTLEMENT_COLUMNS = ["transaction_id", "amount", "fee", "settled_on"]
_REF = re.compile(r"^[A-Za-z0-9_]{1,100}$")
_YEN = re.compile(r"^\d{1,12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# What the session's own words mean for the attempt (Payment.State values).
FAILURE_REASONS = {
    "expired": "カードでのお支払いの画面の有効期限が切れました。もう一度お支払いの手続きを始めてください。",
    "failed": "カードでのお支払いが完了しませんでした。",
}


class SettlementFileError(Exception):
    """The settlement file was refused; `problems` names every bad line, in Japanese."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _header(headers, name: str) -> str:
    """A header from Django's request.headers or a plain dict, whatever its case."""
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in dict(headers).items() if k.lower() == lowered), None)
    return value or ""


def _plain(obj) -> dict:
    """The SDK's StripeObject (no dict methods in this SDK) as a plain dict."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return obj if isinstance(obj, dict) else {}


def _from_epoch(value) -> dt.datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    return None


def session_snapshot(session) -> Snapshot:
    """A Checkout Session (the SDK's object or a plain dict) in the registry's words."""
    session = _plain(session)
    status = session.get("status")
    paid = session.get("payment_status") in {"paid", "no_payment_required"}
    if status == "complete" and paid:
        state = "captured"
    elif status == "expired":
        state = "expired"
    else:
        # Open, or complete but not yet paid (a delayed method): still on its way.
        state = "awaiting"
    amount = session.get("amount_total")
    return Snapshot(
        provider_ref=str(session.get("id") or ""),
        state=state,
        amount=Decimal(amount) if isinstance(amount, int) and not isinstance(amount, bool) else None,
        currency=str(session.get("currency") or "").upper(),
        method="card",
        failure_reason=FAILURE_REASONS.get(state, ""),
    )


@register.register
class StripeCard(Provider):
    name = "stripe_card"
    label = "クレジットカード"
    online = True

    #: Tests put a stub here (stripe.HTTPClient); None: the SDK's requests client.
    http_client: stripe.HTTPClient | None = None
    _default_clients: dict = {}

    # -- the SDK client -------------------------------------------------------------------

    def _timeout(self) -> float:
        return float(getattr(settings, "PAYMENTS_STRIPE_TIMEOUT", 10) or 10)

    def _client(self) -> stripe.StripeClient:
        key = getattr(settings, "PAYMENTS_STRIPE_SECRET_KEY", "")
        if not key:
            raise ProviderError("カード決済の設定（PAYMENTS_STRIPE_SECRET_KEY）がありません。")
        base = (getattr(settings, "PAYMENTS_STRIPE_API_BASE", "") or DEFAULT_API_BASE).rstrip("/")
        http_client = self.http_client
        if http_client is None:
            timeout = self._timeout()
            # One client per timeout: its sessions (one per thread) keep their connections.
            http_client = self._default_clients.get(timeout)
            if http_client is None:
                http_client = self._default_clients[timeout] = stripe.RequestsClient(timeout=(min(timeout, 5), timeout))
        return stripe.StripeClient(key, base_addresses={"api": base}, http_client=http_client, max_network_retries=0)

    @staticmethod
    def _error(exc: stripe.StripeError, doing: str) -> ProviderError:
        """Stripe's refusal as ProviderError: `retry` when the same call may succeed later."""
        retry = isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError))
        if isinstance(exc, stripe.InvalidRequestError) and (exc.http_status or 0) >= 500:
            retry = True
        code = getattr(exc, "code", None) or type(exc).__name__
        # Stripe's message may quote a key's first characters; only the code and status are kept.
        return ProviderError(f"Stripe {doing}: {code} (HTTP {exc.http_status or '-'})", retry=retry)

    # -- the provider ---------------------------------------------------------------------

    def create_checkout(self, payment, *, return_url: str, cancel_url: str) -> Checkout:
        now = timezone.now()
        expires_at = payment.expires_at or payment.assessment.expires_at or (now + MAX_SESSION)
        expires_at = max(now + MIN_SESSION, min(expires_at, now + MAX_SESSION))
        assessment = payment.assessment
        name = f"{assessment.procedure.name} 手数料"[:200]
        separator = "&" if "?" in return_url else "?"
        params = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {"currency": "jpy", "unit_amount": int(payment.amount),
                               "product_data": {"name": name}},
            }],
            "payment_method_types": ["card"],
            "locale": "ja",
            "success_url": f"{return_url}{separator}session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": cancel_url,
            "client_reference_id": str(payment.public_id),
            "metadata": {"payment": str(payment.public_id), "assessment": assessment.number},
            "expires_at": int(expires_at.timestamp()),
        }
        try:
            session = _plain(self._client().v1.checkout.sessions.create(
                params=params, options={"idempotency_key": payment.idempotency_key}))
        except stripe.StripeError as exc:
            raise self._error(exc, "checkout") from exc
        if not session.get("id") or not session.get("url"):
            raise ProviderError("Stripe checkout: the answer has no session id or url", retry=True)
        return Checkout(provider_ref=session["id"], redirect_url=session["url"],
                        expires_at=_from_epoch(session.get("expires_at")) or expires_at)

    def _session(self, session_id: str):
        if not _REF.match(session_id or ""):
            raise ProviderError("Stripe: the payment has no checkout session")
        try:
            return _plain(self._client().v1.checkout.sessions.retrieve(session_id))
        except stripe.StripeError as exc:
            raise self._error(exc, "retrieve") from exc

    def retrieve(self, payment) -> Snapshot:
        return session_snapshot(self._session(payment.provider_ref))

    def refund(self, payment, amount: Decimal, *, idempotency_key: str) -> str:
        intent = self._session(payment.provider_ref).get("payment_intent")
        if isinstance(intent, dict):  # expanded
            intent = intent.get("id")
        if not intent:
            raise ProviderError("Stripe refund: the session was never paid")
        try:
            refund = _plain(self._client().v1.refunds.create(
                params={"payment_intent": intent, "amount": int(amount)},
                options={"idempotency_key": idempotency_key}))
        except stripe.StripeError as exc:
            raise self._error(exc, "refund") from exc
        if refund.get("status") in {"failed", "canceled"}:
            raise ProviderError(f"Stripe refund: {refund.get('status')}")
        return str(refund["id"])

    def cancel(self, payment) -> None:
        if not payment.provider_ref:
            return
        try:
            self._client().v1.checkout.sessions.expire(
                payment.provider_ref, options={"idempotency_key": f"expire-{payment.idempotency_key}"})
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 400:
                return  # no longer open (paid or expired): nothing left to stop
            raise self._error(exc, "expire") from exc
        except stripe.StripeError as exc:
            raise self._error(exc, "expire") from exc

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> WebhookEvent:
        secret = getattr(settings, "PAYMENTS_STRIPE_WEBHOOK_SECRET", "")
        if not secret:
            raise InvalidWebhook("no webhook secret is set")
        if len(body) > MAX_WEBHOOK_BYTES:
            raise InvalidWebhook("too large")
        signature = _header(headers, "Stripe-Signature")
        if not signature or len(signature) > 2000:
            raise InvalidWebhook("no signature")
        try:
            event = _plain(stripe.Webhook.construct_event(body, signature, secret, tolerance=WEBHOOK_TOLERANCE))
            event_id, event_type = str(event["id"]), str(event["type"])
            obj = event["data"]["object"]
            if not isinstance(obj, dict) or not event_id.startswith("evt_"):
                raise ValueError("not an event")
            created = _from_epoch(event.get("created"))
        except Exception as exc:  # a bad signature, a stale timestamp, malformed JSON: all the same to us
            raise InvalidWebhook(type(exc).__name__) from exc
        snapshot = None
        if event_type.startswith("checkout.session.") and obj.get("object") == "checkout.session":
            snapshot = session_snapshot(obj)
            if event_type == "checkout.session.async_payment_failed":
                snapshot.state, snapshot.failure_reason = "failed", FAILURE_REASONS["failed"]
            if snapshot.state == "captured":
                snapshot.paid_at = created
        # charge.refunded and others carry no session: refunds are confirmed by the refund
        # call's own answer, so such an event is kept as received and changes nothing.
        return WebhookEvent(event_id=event_id, type=event_type, snapshot=snapshot, received_at=timezone.now())

    def parse_settlement(self, data: bytes) -> list[SettlementLine]:
        """The settlement CSV (UTF-8, header transaction_id, amount, fee, settled_on and
        optionally checkout_session). A line is matched by the checkout session when the
        file names it (Tenohira's reference), else by transaction_id.

        All or nothing: any bad line refuses the file, with every bad line named."""
        if len(data) > MAX_SETTLEMENT_BYTES:
            raise SettlementFileError([f"ファイルが大きすぎます（{MAX_SETTLEMENT_BYTES // (1024 * 1024)}MBまで）。"])
        if data.count(b"\n") > MAX_SETTLEMENT_LINES + 1:
            raise SettlementFileError([f"行が多すぎます（見出しのほか{MAX_SETTLEMENT_LINES:,}行まで）。"])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise SettlementFileError([f"{line}行目: UTF-8として読めない文字があります。"]) from exc
        reader = csv.reader(io.StringIO(text, newline=""))
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise SettlementFileError(["ファイルが空です。"])
        missing = [c for c in SETTLEMENT_COLUMNS if c not in header]
        if missing or len(set(header)) != len(header):
            raise SettlementFileError([f"1行目: 見出しに {'、'.join(SETTLEMENT_COLUMNS)} が一度ずつ必要です"
                                       f"（足りないもの: {'、'.join(missing) or 'なし'}）。"])
        index = {name: header.index(name) for name in header}
        session_column = index.get("checkout_session")
        errors: list[str] = []
        lines: list[SettlementLine] = []
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                errors.append(f"{number}行目: 列の数が{len(row)}です（{len(header)}列のはず）。")
                continue
            cells = [cell.strip() for cell in row]
            problems = []
            intent = cells[index["transaction_id"]]
            session_id = cells[session_column] if session_column is not None else ""
            if not _REF.match(intent):
                problems.append("取引IDがありません" if not intent else f"取引ID「{intent[:30]}」の形が違います")
            if session_column is not None and not _REF.match(session_id):
                problems.append("決済セッションIDがありません" if not session_id
                                else f"決済セッションID「{session_id[:30]}」の形が違います")
            amount_s, fee_s, settled_s = (cells[index[c]] for c in ("amount", "fee", "settled_on"))
            amount = Decimal(amount_s) if _YEN.match(amount_s) else None
            fee = Decimal(fee_s) if _YEN.match(fee_s) else None
            if amount is None or amount == 0:
                problems.append(f"金額「{amount_s[:20]}」が1円以上の整数ではありません")
            if fee is None:
                problems.append(f"手数料「{fee_s[:20]}」が0円以上の整数ではありません")
            elif amount is not None and fee > amount:
                problems.append("手数料が金額より大きくなっています")
            settled_on = None
            if _DATE.match(settled_s):
                try:
                    settled_on = dt.date.fromisoformat(settled_s)
                except (ValueError, InvalidOperation):
                    settled_on = None
            if settled_on is None:
                problems.append(f"入金日「{settled_s[:20]}」が日付（YYYY-MM-DD）ではありません")
            if problems:
                errors.append(f"{number}行目: " + "、".join(problems) + "。")
                continue
            lines.append(SettlementLine(
                line_number=number, transaction_id=session_id or intent, amount=amount, fee=fee,
                settled_on=settled_on, raw={"payment_intent": intent, **({"checkout_session": session_id} if session_id else {})},
            ))
        if errors:
            raise SettlementFileError(errors)
        return lines
