"""The demo payment service: a subset of Stripe's HTTP API, a hosted card page and webhooks.

What it speaks (shapes as Stripe documents them, so the real `stripe` SDK is the client):

    POST /v1/checkout/sessions                 create (form-encoded; Idempotency-Key honoured)
    GET  /v1/checkout/sessions/{id}            retrieve
    GET  /v1/checkout/sessions?payment_intent= list (find the session of a charge)
    POST /v1/checkout/sessions/{id}/expire     expire an open session
    POST /v1/refunds                           refund a paid session's payment intent
    GET  /v1/_settlements/{YYYY-MM-DD}.csv     the settlement file of that day (not Stripe's)
    GET/POST /pay/{id}                         the hosted page a resident pays on
    POST /_control                             fault injection for tests and demos (loopback only)

Errors are Stripe's shape, `{"error": {"type", "code", "message"}}` with a 4xx status, so
the SDK raises the same exceptions it raises against Stripe. Events
(`checkout.session.completed`, `checkout.session.expired`, `charge.refunded`) are POSTed to
the webhook URL from a background thread, signed as Stripe signs them
(`Stripe-Signature: t=<ts>,v1=<HMAC-SHA256(secret, "<ts>.<body>")>`), retried on failure.

It holds no card numbers: the number typed on the hosted page only chooses the outcome
(test cards below) and is dropped. Everything else lives in memory, or in a small JSON
file when one is given, so a restarted demo still knows its sessions.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import queue
import re
import secrets
import threading
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from flask import Flask, abort, jsonify, redirect, render_template, request

TOKYO = ZoneInfo("Asia/Tokyo")
API_VERSION = "2025-03-31.basil"
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"
FEE_RATE = Decimal("0.0325")          # the demo's card fee: 3.25 %, rounded half up to the yen
MIN_SESSION_SECONDS = 30 * 60         # Stripe: expires_at 30 minutes …
MAX_SESSION_SECONDS = 24 * 60 * 60    # … to 24 hours after creation
MAX_BODY = 64 * 1024
MAX_FIELDS = 200
MAX_VALUE = 5000
MAX_METADATA_KEYS = 50
MAX_AMOUNT = 99_999_999               # Stripe's upper bound for JPY amounts
WEBHOOK_ATTEMPTS = 5
WEBHOOK_TIMEOUT = 5
SESSION_ID = re.compile(r"^cs_test_[A-Za-z0-9]{24}$")
KEY_PART = re.compile(r"\[([^\[\]]*)\]")
CONTROL_NAMES = {"decline_next", "webhook_delay_seconds", "webhook_twice", "no_redirect", "webhook_amount",
                 "webhook_url", "reset"}


class ApiError(Exception):
    """An answer in Stripe's error shape."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def _id(prefix: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(24))


def nested_form(items: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (`line_items[0][price_data][currency]=jpy`) as nested dicts."""
    result: dict = {}
    for key, value in items:
        head, _, rest = key.partition("[")
        parts = [head] + KEY_PART.findall("[" + rest) if rest else [head]
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ApiError(400, f"Invalid parameter: {key}", param=key)
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise ApiError(400, f"Invalid parameter: {key}", param=key)
        node[parts[-1]] = value
    return result


def _int(params: dict, name: str, *, low: int, high: int, label: str | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        raise ApiError(400, f"Missing required param: {label or name}.", code="parameter_missing", param=label or name)
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d{1,12}", raw):
        raise ApiError(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=label or name)
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(400, f"Invalid {label or name}: must be between {low} and {high}.",
                       code="parameter_invalid_integer", param=label or name)
    return value


def _url(params: dict, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ApiError(400, f"Not a valid URL: {name}", code="url_invalid", param=name)
    return value


class Service:
    """The stand-in's state and its webhook sender; one per process."""

    def __init__(self, base_url: str, *, secret_key: str, webhook_secret: str, webhook_url: str = "",
                 state_file: Path | None = None):
        self.base_url = base_url
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.state_file = Path(state_file) if state_file else None
        self.lock = threading.RLock()
        self.sessions: dict[str, dict] = {}
        self.paid_at: dict[str, float] = {}           # session id → when it was paid
        self.refunds: dict[str, dict] = {}
        self.idempotency: dict[str, tuple[str, int, dict]] = {}
        self.deliveries: list[dict] = []               # what was sent where (for tests)
        self.controls = self._default_controls(webhook_url)
        self.generation = 0                            # a reset drops events still waiting to be sent
        self._load()
        self._outbox: queue.Queue = queue.Queue()
        self._closing = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name="webhooks", daemon=True)
        self._sender.start()

    # -- state ----------------------------------------------------------------------------

    @staticmethod
    def _default_controls(webhook_url: str) -> dict:
        return {"decline_next": False, "webhook_delay_seconds": 0, "webhook_twice": False, "no_redirect": False,
                "webhook_amount": None, "webhook_url": webhook_url}

    def _load(self) -> None:
        if self.state_file and self.state_file.exists():
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            self.sessions = data.get("sessions", {})
            self.paid_at = data.get("paid_at", {})
            self.refunds = data.get("refunds", {})

    def _save(self) -> None:
        if not self.state_file:
            return
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"sessions": self.sessions, "paid_at": self.paid_at,
                                         "refunds": self.refunds}), encoding="utf-8")
        temporary.replace(self.state_file)

    def reset(self) -> None:
        with self.lock:
            webhook_url = self.controls["webhook_url"]
            self.sessions.clear()
            self.paid_at.clear()
            self.refunds.clear()
            self.idempotency.clear()
            self.deliveries.clear()
            self.generation += 1
            self.controls = self._default_controls(webhook_url)
            self._save()

    def session(self, session_id: str) -> dict:
        with self.lock:
            session = self.sessions.get(session_id) if SESSION_ID.match(session_id or "") else None
            if session is None:
                raise ApiError(404, f"No such checkout.session: '{session_id}'", code="resource_missing", param="id")
            self._expire_if_due(session)
            return session

    def _expire_if_due(self, session: dict) -> None:
        if session["status"] == "open" and session["expires_at"] <= time.time():
            self._expire(session)

    def _expire(self, session: dict) -> None:
        session["status"] = "expired"
        session["url"] = None
        self._save()
        self.emit("checkout.session.expired", dict(session))

    def sweep(self) -> None:
        """Sessions past their expires_at expire (and say so) even if nobody asks."""
        with self.lock:
            for session in self.sessions.values():
                self._expire_if_due(session)

    # -- the API --------------------------------------------------------------------------

    def idempotent(self, key: str | None, fingerprint: str, make) -> tuple[int, dict]:
        """Stripe's rule: the same key answers the first answer again; the same key with
        other parameters is an error."""
        if not key:
            return make()
        if len(key) > 255:
            raise ApiError(400, "Idempotency-Key is too long (255 characters at most).", type_="idempotency_error")
        with self.lock:
            if key in self.idempotency:
                seen, status, body = self.idempotency[key]
                if seen != fingerprint:
                    raise ApiError(400, "Keys for idempotent requests can only be used with the same parameters "
                                        "they were first used with.", type_="idempotency_error",
                                   code="idempotency_key_in_use")
                return status, body
            status, body = make()
            self.idempotency[key] = (fingerprint, status, body)
            return status, body

    def create_session(self, params: dict) -> dict:
        if params.get("mode") != "payment":
            raise ApiError(400, "Only mode=payment is supported by this stand-in.", param="mode")
        items = params.get("line_items")
        if not isinstance(items, dict) or set(items) != {"0"} or not isinstance(items["0"], dict):
            raise ApiError(400, "Exactly one line item (line_items[0]) is supported.", param="line_items")
        item = items["0"]
        price = item.get("price_data")
        if not isinstance(price, dict):
            raise ApiError(400, "Missing required param: line_items[0][price_data].", code="parameter_missing",
                           param="line_items[0][price_data]")
        currency = price.get("currency")
        if currency != "jpy":
            raise ApiError(400, f"Invalid currency: {currency}. This stand-in takes jpy only.",
                           param="line_items[0][price_data][currency]")
        unit_amount = _int(price, "unit_amount", low=50, high=MAX_AMOUNT, label="line_items[0][price_data][unit_amount]")
        quantity = _int(item, "quantity", low=1, high=1, label="line_items[0][quantity]")
        product = price.get("product_data") if isinstance(price.get("product_data"), dict) else {}
        name = product.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "Missing required param: line_items[0][price_data][product_data][name].",
                           code="parameter_missing", param="line_items[0][price_data][product_data][name]")
        success_url, cancel_url = _url(params, "success_url"), _url(params, "cancel_url")
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict) or len(metadata) > MAX_METADATA_KEYS or any(
                not isinstance(v, str) or len(k) > 40 or len(v) > 500 for k, v in metadata.items()):
            raise ApiError(400, "Invalid metadata: at most 50 keys of 40 characters, values of 500.", param="metadata")
        reference = params.get("client_reference_id") or None
        if reference is not None and (not isinstance(reference, str) or len(reference) > 200):
            raise ApiError(400, "client_reference_id must be a string of at most 200 characters.",
                           param="client_reference_id")
        now = int(time.time())
        expires_at = now + MAX_SESSION_SECONDS
        if params.get("expires_at"):
            expires_at = _int(params, "expires_at", low=now + MIN_SESSION_SECONDS - 60, high=now + MAX_SESSION_SECONDS + 60)
        session_id = _id("cs_test_")
        session = {
            "id": session_id, "object": "checkout.session", "mode": "payment", "livemode": False,
            "amount_subtotal": unit_amount * quantity, "amount_total": unit_amount * quantity, "currency": "jpy",
            "client_reference_id": reference, "metadata": metadata, "created": now, "expires_at": expires_at,
            "success_url": success_url, "cancel_url": cancel_url, "payment_intent": None,
            "payment_status": "unpaid", "status": "open", "url": f"{self.base_url}/pay/{session_id}",
            "payment_method_types": ["card"],
            # Not Stripe's: what the hosted page shows (Stripe keeps its line items apart).
            "x_description": name.strip()[:200],
        }
        with self.lock:
            self.sessions[session_id] = session
            self._save()
        return session

    def expire_session(self, session_id: str) -> dict:
        with self.lock:
            session = self.session(session_id)
            if session["status"] != "open":
                raise ApiError(400, "Only Checkout Sessions with a status in [\"open\"] can be expired.",
                               code="checkout_session_not_open")
            self._expire(session)
            return session

    def pay(self, session_id: str) -> dict:
        with self.lock:
            session = self.session(session_id)
            if session["status"] != "open":
                raise ApiError(400, "This Checkout Session is no longer open.")
            session["status"] = "complete"
            session["payment_status"] = "paid"
            session["payment_intent"] = _id("pi_")
            session["url"] = None
            self.paid_at[session_id] = time.time()
            self._save()
            self.emit("checkout.session.completed", dict(session))
            return session

    def refund(self, params: dict) -> dict:
        intent = params.get("payment_intent")
        if not isinstance(intent, str) or not intent:
            raise ApiError(400, "Missing required param: payment_intent.", code="parameter_missing",
                           param="payment_intent")
        with self.lock:
            session = next((s for s in self.sessions.values() if s["payment_intent"] == intent), None)
            if session is None:
                raise ApiError(404, f"No such payment_intent: '{intent}'", code="resource_missing",
                               param="payment_intent")
            refunded = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent)
            remaining = session["amount_total"] - refunded
            if remaining <= 0:
                raise ApiError(400, f"Charge for payment intent {intent} has already been refunded.",
                               code="charge_already_refunded")
            amount = remaining
            if params.get("amount") is not None:
                amount = _int(params, "amount", low=1, high=MAX_AMOUNT)
            if amount > remaining:
                raise ApiError(400, f"Refund amount (¥{amount}) is greater than unrefunded amount on charge "
                                    f"(¥{remaining})", param="amount")
            refund = {"id": _id("re_"), "object": "refund", "amount": amount, "currency": "jpy",
                      "payment_intent": intent, "charge": "ch_" + intent[3:], "status": "succeeded",
                      "created": int(time.time()), "metadata": {}}
            self.refunds[refund["id"]] = refund
            self._save()
            total = refunded + amount
            self.emit("charge.refunded", {
                "id": refund["charge"], "object": "charge", "amount": session["amount_total"],
                "amount_captured": session["amount_total"], "amount_refunded": total, "currency": "jpy",
                "payment_intent": intent, "refunded": total == session["amount_total"], "paid": True,
                "status": "succeeded", "livemode": False, "metadata": {},
            })
            return refund

    def settlement_csv(self, day: dt.date) -> str:
        """The payments paid before `day` (Tokyo time), one line each, as the demo settles them."""
        start_of_day = dt.datetime.combine(day, dt.time(), TOKYO).timestamp()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["transaction_id", "checkout_session", "amount", "fee", "settled_on"])
        with self.lock:
            paid = sorted((at, sid) for sid, at in self.paid_at.items() if at < start_of_day)
            for _, session_id in paid:
                session = self.sessions[session_id]
                amount = session["amount_total"]
                fee = int((Decimal(amount) * FEE_RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP))
                writer.writerow([session["payment_intent"], session_id, amount, fee, day.isoformat()])
        return out.getvalue()

    # -- webhooks -------------------------------------------------------------------------

    def emit(self, event_type: str, obj: dict) -> None:
        """Queue one event (sent after any configured delay, twice if told to)."""
        with self.lock:
            controls = dict(self.controls)
            generation = self.generation
        if controls["webhook_amount"] is not None and "amount_total" in obj:
            obj = {**obj, "amount_total": controls["webhook_amount"], "amount_subtotal": controls["webhook_amount"]}
        obj.pop("x_description", None)
        event = {"id": _id("evt_"), "object": "event", "api_version": API_VERSION, "created": int(time.time()),
                 "type": event_type, "livemode": False, "pending_webhooks": 1,
                 "request": {"id": None, "idempotency_key": None}, "data": {"object": obj}}
        due = time.monotonic() + float(controls["webhook_delay_seconds"] or 0)
        for _ in range(2 if controls["webhook_twice"] else 1):
            self._outbox.put((due, 1, generation, event))

    def sign(self, body: bytes, timestamp: int | None = None) -> str:
        timestamp = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new(self.webhook_secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={digest}"

    def _send_loop(self) -> None:
        session = requests.Session()
        waiting: list[tuple[float, int, int, dict]] = []
        next_sweep = 0.0
        while not self._closing.is_set():
            with contextlib.suppress(queue.Empty):
                waiting.append(self._outbox.get(timeout=0.2))
            now = time.monotonic()
            if now >= next_sweep:
                self.sweep()
                next_sweep = now + 1
            due = [w for w in waiting if w[0] <= now]
            waiting = [w for w in waiting if w[0] > now]
            for _, attempt, generation, event in due:
                if generation != self.generation:
                    continue
                if not self._deliver(session, event, attempt) and attempt < WEBHOOK_ATTEMPTS:
                    # Back off 0.5, 1, 2, 4 s: a site restarting still gets the event.
                    waiting.append((time.monotonic() + 0.5 * 2 ** (attempt - 1), attempt + 1, generation, event))
        session.close()

    def _deliver(self, http: requests.Session, event: dict, attempt: int) -> bool:
        url = self.controls["webhook_url"]
        record = {"event": event["id"], "type": event["type"], "attempt": attempt, "status": None}
        if url:
            body = json.dumps(event, ensure_ascii=False).encode()
            try:
                response = http.post(url, data=body, timeout=WEBHOOK_TIMEOUT, headers={
                    "Content-Type": "application/json; charset=utf-8", "Stripe-Signature": self.sign(body),
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
                record["status"] = response.status_code
            except requests.RequestException as exc:
                record["status"] = type(exc).__name__
        with self.lock:
            self.deliveries.append(record)
            del self.deliveries[:-1000]
        return isinstance(record["status"], int) and 200 <= record["status"] < 300

    def close(self) -> None:
        self._closing.set()
        self._sender.join(timeout=2)


def build_app(base_url: str, *, secret_key: str, webhook_secret: str, webhook_url: str = "",
              state_file: Path | None = None, controls: bool = True) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["MAX_FORM_PARTS"] = MAX_FIELDS
    service = Service(base_url, secret_key=secret_key, webhook_secret=webhook_secret, webhook_url=webhook_url,
                      state_file=state_file)
    app.config["SERVICE"] = service

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return jsonify(error.body()), error.status

    @app.errorhandler(413)
    def too_large(_error):
        if request.path.startswith("/v1/"):
            return jsonify(ApiError(413, "Request too large.").body()), 413
        return render_template("payment_service/error.html", message="送信された内容が大きすぎます。"), 413

    @app.after_request
    def headers(response):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Request-Id", "req_" + secrets.token_hex(7))
        return response

    def authenticate() -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if not token:
            raise ApiError(401, "You did not provide an API key. Provide it in the Authorization header "
                                "(Authorization: Bearer YOUR_SECRET_KEY).")
        if not hmac.compare_digest(token.encode(), service.secret_key.encode()):
            raise ApiError(401, f"Invalid API Key provided: {token[:7]}********", code="api_key_invalid")

    def params() -> dict:
        form = request.form
        if any(len(value) > MAX_VALUE for value in form.values()):
            raise ApiError(400, f"A parameter is longer than {MAX_VALUE} characters.")
        return nested_form(list(form.items(multi=False)))

    def fingerprint() -> str:
        return hashlib.sha256(request.path.encode() + b"\0" + request.get_data()).hexdigest()

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.post("/v1/checkout/sessions")
    def create_session():
        authenticate()
        data = params()
        status, body = service.idempotent(request.headers.get("Idempotency-Key"), fingerprint(),
                                          lambda: (200, service.create_session(data)))
        return jsonify(_public(body)), status

    @app.get("/v1/checkout/sessions")
    def list_sessions():
        authenticate()
        intent = request.args.get("payment_intent", "")[:100]
        with service.lock:
            found = [_public(s) for s in service.sessions.values() if intent and s["payment_intent"] == intent]
        return jsonify({"object": "list", "url": "/v1/checkout/sessions", "has_more": False, "data": found[:1]})

    @app.get("/v1/checkout/sessions/<session_id>")
    def retrieve_session(session_id):
        authenticate()
        return jsonify(_public(service.session(session_id)))

    @app.post("/v1/checkout/sessions/<session_id>/expire")
    def expire_session(session_id):
        authenticate()
        status, body = service.idempotent(request.headers.get("Idempotency-Key"), fingerprint(),
                                          lambda: (200, service.expire_session(session_id)))
        return jsonify(_public(body)), status

    @app.post("/v1/refunds")
    def create_refund():
        authenticate()
        data = params()
        status, body = service.idempotent(request.headers.get("Idempotency-Key"), fingerprint(),
                                          lambda: (200, service.refund(data)))
        return jsonify(body), status

    @app.get("/v1/_settlements/<day>.csv")
    def settlement(day):
        authenticate()
        try:
            date = dt.date.fromisoformat(day) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) else None
        except ValueError:
            date = None
        if date is None:
            raise ApiError(400, "The settlement day must be YYYY-MM-DD.", param="day")
        return app.response_class(service.settlement_csv(date), mimetype="text/csv",
                                  headers={"Content-Disposition": f'attachment; filename="settlement-{day}.csv"'})

    # -- the hosted page ------------------------------------------------------------------

    def page_session(session_id: str) -> dict:
        try:
            return service.session(session_id)
        except ApiError:
            abort(404)

    @app.errorhandler(404)
    def not_found(_error):
        if request.path.startswith("/v1/"):
            return jsonify(ApiError(404, "Unrecognized request URL.").body()), 404
        return render_template("payment_service/error.html", message="お支払いの画面が見つかりません。"
                               "申請したサイトに戻って、もう一度お試しください。"), 404

    @app.route("/pay/<session_id>", methods=["GET", "POST"])
    def hosted_page(session_id):
        session = page_session(session_id)
        if session["status"] == "complete":
            return render_template("payment_service/done.html", session=session, redirect_url=None)
        if session["status"] != "open":
            return render_template("payment_service/error.html", session=session,
                                   message="このお支払いの画面は期限が切れました。申請したサイトに戻って、"
                                           "もう一度お支払いの手続きを始めてください。"), 410
        if request.method == "GET":
            return render_template("payment_service/pay.html", session=session, number="", error=None)
        # Only the digits decide the outcome; the number is never kept or logged.
        number = re.sub(r"[\s-]", "", request.form.get("card_number", ""))[:30]
        typed = request.form.get("card_number", "")[:30]
        if not re.fullmatch(r"\d{14,19}", number):
            return render_template("payment_service/pay.html", session=session, number=typed,
                                   error="カード番号を数字14〜19桁で入力してください。"), 400
        with service.lock:
            decline = service.controls["decline_next"] or number == CARD_DECLINED
            service.controls["decline_next"] = False
        if decline:
            return render_template("payment_service/declined.html", session=session), 402
        if number != CARD_OK:
            return render_template("payment_service/pay.html", session=session, number=typed,
                                   error="このデモではテスト用のカード番号だけが使えます。"), 400
        try:
            session = service.pay(session_id)
        except ApiError:
            return render_template("payment_service/error.html", session=session,
                                   message="このお支払いは、すでに終わっているか期限が切れています。"), 409
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        if service.controls["no_redirect"]:
            return render_template("payment_service/done.html", session=session, redirect_url=None)
        return redirect(target, code=303)

    @app.get("/pay/<session_id>/cancel")
    def cancel(session_id):
        session = page_session(session_id)
        return redirect(session["cancel_url"], code=303)

    # -- test controls --------------------------------------------------------------------

    @app.route("/_control", methods=["GET", "POST"])
    def control():
        if not controls:
            abort(404)
        if request.method == "GET":
            with service.lock:
                return jsonify(controls=service.controls, deliveries=list(service.deliveries))
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not set(data) <= CONTROL_NAMES:
            return jsonify(error=f"a JSON object with keys among {sorted(CONTROL_NAMES)}"), 400
        if data.get("reset"):
            service.reset()
        with service.lock:
            for name in ("decline_next", "webhook_twice", "no_redirect"):
                if name in data:
                    service.controls[name] = bool(data[name])
            if "webhook_delay_seconds" in data:
                service.controls["webhook_delay_seconds"] = max(0.0, min(float(data["webhook_delay_seconds"]), 600.0))
            if "webhook_amount" in data:
                amount = data["webhook_amount"]
                service.controls["webhook_amount"] = None if amount is None else int(amount)
            if "webhook_url" in data:
                service.controls["webhook_url"] = str(data["webhook_url"] or "")
            return jsonify(controls=service.controls)

    @app.get("/")
    def index():
        return render_template("payment_service/index.html", base_url=base_url, card_ok=CARD_OK,
                               card_declined=CARD_DECLINED, controls=controls)

    return app


def _public(session: dict) -> dict:
    """The session as the API shows it (without the hosted page's own description)."""
    return {k: v for k, v in session.items() if not k.startswith("x_")}
