"""Convenience-store and Pay-easy payment through a collection agent (収納代行).

The resident gets no payment page but numbers: お客様番号 and 確認番号, which the store's
terminal (Loppi, Famiポート …) or the cashier asks for, and for Pay-easy (ペイジー) the
収納機関番号 as well, at an ATM or in online banking. They pay later, before the expiry.

The agent's API (docs/payments-providers.md) is a small JSON API:

    POST {base}/payments             {order_id, amount, expires_at} → the numbers
    GET  {base}/payments/{order_id}  → status waiting | paid | cancelled | expired
    POST {base}/payments/{order_id}/cancel

with `Authorization: Bearer <key>` and `Idempotency-Key: <order_id>`; order_id is the
Payment's idempotency key, so a retried create gets the same numbers, never a second
bill. The agent's 取引ID is the Payment's provider_ref and names the payment in the
settlement file (入金明細, CP932 CSV) that settles it. The state is learned by polling
and, at the latest, from the settlement file: the agent sends no webhook here.

Money paid at a store cannot be sent back through the agent: a refund (還付) is paid by
bank transfer from the city's account (the refund call says so).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import threading
from decimal import Decimal
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils import timezone

from tenohira.payments.registry import (
    Checkout,
    InvalidWebhook,
    Provider,
    ProviderError,
    SettlementLine,
    Snapshot,
    register,
)

logger = logging.getLogger(__name__)

TIMEOUT = (5, 15)  # (connect, read) seconds
# Stores take at most 299,999 yen in one payment (the agents' common limit).
MAX_AMOUNT = 299_999
DEFAULT_EXPIRY_DAYS = 14

STATES = {"waiting": "awaiting", "paid": "captured", "cancelled": "cancelled", "expired": "expired"}
CHANNELS = {"konbini": "konbini", "payeasy": "payeasy"}
FAILURE_REASONS = {
    "cancelled": "コンビニ・ペイジーでの支払いは取り消されました。",
    "expired": "コンビニ・ペイジーでの支払期限が過ぎました。",
}

# The settlement file (入金明細): fixed columns, in this order, under a header row.
SETTLEMENT_COLUMNS = ["収納日", "店舗/収納機関", "お客様番号", "取引ID", "金額", "手数料", "入金予定日"]
MAX_SETTLEMENT_BYTES = 20 * 1024 * 1024
MAX_SETTLEMENT_LINES = 200_000   # lines after the header
MAX_ERRORS_IN_MESSAGE = 20
_DATE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$|^(\d{4})-(\d{2})-(\d{2})$|^(\d{4})(\d{2})(\d{2})$", re.ASCII)
_YEN = re.compile(r"^\d{1,3}(,\d{3})*$|^\d+$", re.ASCII)
_CUSTOMER = re.compile(r"^[0-9-]{1,30}$")  # ASCII digits only
_TXN = re.compile(r"^[0-9A-Za-z_.:-]{1,100}$")


class SettlementFileError(ProviderError):
    """A settlement file refused as a whole: `errors` lists every bad line, in Japanese."""

    def __init__(self, errors: list[str]):
        shown = errors[:MAX_ERRORS_IN_MESSAGE]
        more = len(errors) - len(shown)
        message = "入金明細を読み込めませんでした。\n" + "\n".join(shown)
        if more:
            message += f"\nほか {more} 件"
        super().__init__(message)
        self.errors = errors


def _iso(value: dt.datetime) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds")


def _parse_time(value) -> dt.datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else timezone.make_aware(parsed)


class KonbiniProvider(Provider):
    name = "konbini"
    label = "コンビニ・ペイジー払い"
    online = True

    def __init__(self):
        self._local = threading.local()  # one HTTP session (kept connections) per thread

    def _http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    # -- the agent's API -------------------------------------------------------------------

    def _request(self, what: str, method: str, path: str, *, json_body=None, idempotency_key: str = "",
                 allow: tuple[int, ...] = ()) -> tuple[int, dict]:
        base, key = settings.PAYMENTS_KONBINI_API_BASE, settings.PAYMENTS_KONBINI_API_KEY
        if not base or not key:
            raise ProviderError("収納代行の設定がないため、コンビニ・ペイジーでは支払えません。")
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = self._http().request(method, base.rstrip("/") + path, json=json_body, headers=headers,
                                               timeout=TIMEOUT, allow_redirects=False)
        except requests.Timeout as exc:
            raise ProviderError(f"収納代行から応答がありませんでした（{what}）。", retry=True) from exc
        except requests.RequestException as exc:
            raise ProviderError(f"収納代行に接続できませんでした（{what}）。", retry=True) from exc
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        if 200 <= status < 300 or status in allow:
            if 200 <= status < 300 and not body:
                raise ProviderError(f"収納代行の応答を読めませんでした（{what}）。", retry=True)
            return status, body
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = str(error.get("code") or status)[:40]
        logger.warning("konbini %s refused: HTTP %s %s", what, status, code)
        retry = status >= 500 or status == 429
        raise ProviderError(f"収納代行が受け付けませんでした（{what}: {code}）。", retry=retry)

    # -- the interface ---------------------------------------------------------------------

    def create_checkout(self, payment, *, return_url: str, cancel_url: str) -> Checkout:
        if payment.currency != "JPY":
            raise ProviderError("コンビニ・ペイジーでは日本円だけを扱えます。")
        if not 1 <= payment.amount <= MAX_AMOUNT:
            raise ProviderError(f"コンビニ・ペイジーで支払える金額は1円から{MAX_AMOUNT:,}円までです。")
        expires_at = payment.expires_at
        if expires_at is None and payment.assessment_id:
            expires_at = payment.assessment.expires_at
        if expires_at is None:
            expires_at = timezone.now() + dt.timedelta(days=DEFAULT_EXPIRY_DAYS)
        _, body = self._request(
            "支払番号の発行", "POST", "/payments", idempotency_key=payment.idempotency_key,
            json_body={"order_id": payment.idempotency_key, "amount": int(payment.amount),
                       "expires_at": _iso(expires_at)},
        )
        txn, customer, confirmation = body.get("transaction_id"), body.get("customer_number"), \
            body.get("confirmation_number")
        if not (isinstance(txn, str) and _TXN.match(txn) and isinstance(customer, str) and _CUSTOMER.match(customer)):
            raise ProviderError("収納代行の応答に支払番号がありません。", retry=True)
        if body.get("amount") not in (None, int(payment.amount)):
            # The agent would collect another amount: never show these numbers.
            raise ProviderError("収納代行の金額が請求額と違います。")
        extra = {}
        if isinstance(confirmation, str) and confirmation:
            extra["確認番号"] = confirmation[:20]
        institution = body.get("institution_number")
        if isinstance(institution, str) and institution:
            extra["収納機関番号"] = institution[:20]  # Pay-easy
        return Checkout(provider_ref=txn, payment_number=customer, payment_extra=extra,
                        expires_at=_parse_time(body.get("expires_at")) or expires_at)

    def retrieve(self, payment) -> Snapshot:
        _, body = self._request("支払いの確認", "GET", f"/payments/{quote(payment.idempotency_key, safe='')}")
        status = body.get("status")
        state = STATES.get(status) if isinstance(status, str) else None
        if state is None:
            raise ProviderError(f"収納代行の支払い状態を読めませんでした（{str(status)[:30]}）。", retry=True)
        amount = body.get("amount")
        channel = body.get("channel")
        return Snapshot(
            provider_ref=str(body.get("transaction_id") or payment.provider_ref),
            state=state,
            amount=Decimal(amount) if isinstance(amount, int) and not isinstance(amount, bool) else None,
            currency=body.get("currency") if isinstance(body.get("currency"), str) else "JPY",
            method=CHANNELS.get(channel, "konbini") if isinstance(channel, str) else "konbini",
            paid_at=_parse_time(body.get("paid_at")) if state == "captured" else None,
            failure_reason=FAILURE_REASONS.get(state, ""),
        )

    def refund(self, payment, amount: Decimal, *, idempotency_key: str) -> str:
        raise ProviderError("コンビニ・ペイジーで支払われた手数料は収納代行から返金できません。"
                            "還付は口座振込で行ってください。")

    def cancel(self, payment) -> None:
        status, body = self._request(
            "支払番号の取消し", "POST", f"/payments/{quote(payment.idempotency_key, safe='')}/cancel",
            idempotency_key=f"cancel-{payment.idempotency_key}"[:100], allow=(404, 409),
        )
        if status == 409:
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            if error.get("code") == "already_paid":
                raise ProviderError("コンビニ・ペイジーで既に支払われているため取り消せません。")
            # already cancelled or expired: the numbers are dead, which is what was asked
        # 404: the agent never issued numbers for it; nothing can be paid.

    def parse_webhook(self, body: bytes, headers: dict[str, str]):
        raise InvalidWebhook("the collection agent sends no webhooks; its state is polled")

    # -- the settlement file ---------------------------------------------------------------

    def parse_settlement(self, data: bytes) -> list[SettlementLine]:
        """Read the agent's 入金明細 (CP932 CSV, the header row SETTLEMENT_COLUMNS).

        All or nothing: any bad line refuses the file, with every bad line named."""
        # Bounds before decoding anything. A CP932 trail byte is never 0x0A, so counting
        # newlines in the raw bytes counts the lines.
        if len(data) > MAX_SETTLEMENT_BYTES:
            raise SettlementFileError([f"ファイルが大きすぎます（{MAX_SETTLEMENT_BYTES // (1024 * 1024)}MBまで）。"])
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        if lines > MAX_SETTLEMENT_LINES + 1:
            raise SettlementFileError([f"行が多すぎます（見出しのほか{MAX_SETTLEMENT_LINES:,}行まで）。"])
        if data.startswith(b"\xef\xbb\xbf"):
            raise SettlementFileError(["文字コードがUTF-8です。CP932（Shift_JIS）のファイルを読み込んでください。"])
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise SettlementFileError([f"{line}行目: CP932（Shift_JIS）として読めない文字があります。"]) from exc

        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            raise SettlementFileError(["ファイルが空です。"])
        if [h.strip() for h in header] != SETTLEMENT_COLUMNS:
            raise SettlementFileError(["1行目: 見出しが入金明細の形式（" + "、".join(SETTLEMENT_COLUMNS) + "）と違います。"])

        errors: list[str] = []
        result: list[SettlementLine] = []
        # A file holds a few dozen dates over many lines: each is read once.
        dates: dict[str, dt.date | None] = {}
        columns = len(SETTLEMENT_COLUMNS)
        for row in reader:
            number = reader.line_num
            if len(row) != columns:
                if not any(cell.strip() for cell in row):
                    continue  # a blank line (often the last)
                errors.append(f"{number}行目: 列の数が{len(row)}です（{columns}列のはず）。")
                continue
            problems: list[str] = []
            paid_on_s, place, customer, txn, amount_s, fee_s, settled_s = [cell.strip() for cell in row]
            if not (paid_on_s or place or customer or txn or amount_s or fee_s or settled_s):
                continue  # ",,,,,,": an empty row as spreadsheets save it
            paid_on = dates[paid_on_s] if paid_on_s in dates else dates.setdefault(paid_on_s, self._date(paid_on_s))
            settled_on = dates[settled_s] if settled_s in dates else dates.setdefault(settled_s, self._date(settled_s))
            if paid_on is None:
                problems.append(f"収納日「{paid_on_s[:20]}」が日付ではありません")
            if settled_on is None:
                problems.append(f"入金予定日「{settled_s[:20]}」が日付ではありません")
            if not _TXN.match(txn):
                problems.append("取引IDがありません" if not txn else f"取引ID「{txn[:30]}」の形が違います")
            if customer and not _CUSTOMER.match(customer):
                problems.append("お客様番号の形が違います")
            if len(place) > 100:
                problems.append("店舗/収納機関が長すぎます")
            amount = self._yen(amount_s)
            fee = self._yen(fee_s)
            if amount is None or amount == 0:
                problems.append(f"金額「{amount_s[:20]}」が1円以上の整数ではありません")
            if fee is None:
                problems.append(f"手数料「{fee_s[:20]}」が0円以上の整数ではありません")
            elif amount is not None and fee > amount:
                problems.append("手数料が金額より大きくなっています")
            if paid_on and settled_on and settled_on < paid_on:
                problems.append("入金予定日が収納日より前です")
            if problems:
                errors.append(f"{number}行目: " + "、".join(problems) + "。")
                continue
            result.append(SettlementLine(
                line_number=number, transaction_id=txn, amount=Decimal(amount), fee=Decimal(fee),
                settled_on=settled_on,
                raw={"収納日": paid_on.isoformat(), "店舗/収納機関": place, "お客様番号": customer},
            ))
        if errors:
            raise SettlementFileError(errors)
        return result

    @staticmethod
    def _date(value: str) -> dt.date | None:
        match = _DATE.match(value)
        if not match:
            return None
        try:
            return dt.date(*(int(part) for part in match.groups() if part is not None))
        except ValueError:
            return None

    @staticmethod
    def _yen(value: str) -> int | None:
        if len(value) > 15:
            return None
        if value.isascii() and value.isdigit():
            return int(value)
        if not _YEN.match(value):
            return None
        return int(value.replace(",", ""))


register.register(KonbiniProvider)
