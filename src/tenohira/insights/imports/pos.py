"""Importing counter payments (キャッシュレス): POS transactions or per-facility totals.

`import_file(path, year=None)` reads a CSV (UTF-8, UTF-8 with BOM, CP932) or XLSX file and
recognises its shape by the headers (see docs/insights-cashless-paperless.md):

* **POS transactions** — one row per payment: 日時 (or 日付 + 時刻), 施設, 料金項目, 金額,
  支払方法; optionally 取引番号. Stored as `PosTransaction`.
* **Facility totals** — one row per facility and year, like the city's published table
  (cashless_by_facility_2023.csv): 施設, 売上, 現金, キャッシュレス, optionally the published
  ratio, 集計区分 and 年 (else `year=` is required). Stored as `FacilityCashless`. A row
  without a cash figure (no 現金 column, or a blank or dash cell), or labelled 独自集計 (in
  its name or its 集計区分/備考), is a facility's own tally of its cashless payments: it is
  stored as cashless-only and kept out of the cashless ratio (kpi_cashless).

Both are all-or-nothing: every row is checked first, every problem is reported with its row
and column, and only a file without problems is applied, in one transaction. Importing the
same file again adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from tenohira.catalog.services import ImportRejected, RowError
from tenohira.core.fiscal import JST
from tenohira.core.tabular import Table
from tenohira.core.text import fold_width, normalize
from tenohira.core.wareki import parse_date
from tenohira.insights.imports import _cells
from tenohira.insights.models import FacilityCashless, PosTransaction
from tenohira.insights.numbers import exact_pct, round1

# Header spellings (compared after `normalize`: width, case, brackets, spaces, _ ignored).
TRANSACTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "at": ("日時", "取引日時", "決済日時", "売上日時", "timestamp", "datetime", "date_time"),
    "date": ("日付", "取引日", "売上日", "date"),
    "time": ("時刻", "取引時刻", "時間", "time"),
    "facility": ("施設", "施設名", "facility"),
    "fee_item": ("料金項目", "項目", "品目", "料金", "fee_item", "fee item", "item"),
    "amount": ("金額", "金額（円）", "金額(円)", "amount", "amount_yen"),
    "method": ("支払方法", "決済方法", "支払区分", "決済手段", "payment_method", "method", "payment"),
    "transaction_id": ("取引番号", "伝票番号", "レシート番号", "transaction_id", "receipt", "receipt_no"),
}
TOTAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "facility": ("施設", "施設名", "facility"),
    "sales": ("売上", "売上額", "売上（円）", "売上金額", "sales", "sales_yen"),
    "cash": ("現金", "現金（円）", "現金売上", "cash", "cash_yen"),
    "cashless": ("キャッシュレス", "キャッシュレス（円）", "キャッシュレス売上", "cashless", "cashless_yen"),
    "published_ratio": (
        "公表キャッシュレス比率", "キャッシュレス比率", "キャッシュレス比率（%）", "比率",
        "published_cashless_ratio_pct", "cashless_ratio_pct", "published_ratio",
    ),
    "year": ("年", "暦年", "year"),
    "kind": ("集計区分", "区分", "集計方法", "備考", "kind", "note"),
}
# The label of a facility's own tally of cashless payments (cash unknown).
OWN_TALLY = "独自集計"

# 支払方法 → cash (False) or cashless (True). Compared after `normalize`, so width, case,
# katakana/hiragana and punctuation do not matter (ＱＲ = qr, クレジット・カード = クレジットカード).
CASH_METHODS = ("現金", "cash", "現金払い", "現金払", "現金支払", "現金支払い", "げんきん")
# Whole names that are cashless: brands of e-money, transit IC, QR/barcode payment, cards.
CASHLESS_METHODS = (
    "キャッシュレス", "cashless", "IC", "QR", "iD", "QUICPay", "nanaco", "WAON", "Edy", "楽天Edy",
    "Suica", "PASMO", "ICOCA", "Kitaca", "TOICA", "manaca", "SUGOCA", "nimoca", "はやかけん",
    "PayPay", "d払い", "au PAY", "楽天ペイ", "メルペイ", "LINE Pay", "Alipay", "WeChat Pay", "銀聯",
    "UnionPay", "VISA", "Mastercard", "JCB", "AMEX", "American Express", "Diners", "J-Debit",
)
# Words that make any method cashless when they appear in it (クレジットカード（VISA）,
# QRコード決済, 交通系IC, 電子マネー(WAON) ...), unless it also names cash.
CASHLESS_WORDS = (
    "クレジット", "credit", "デビット", "debit", "電子マネー", "emoney", "e-money", "QR", "バーコード",
    "barcode", "コード決済", "交通系", "カード", "card", "pay", "ペイ", "タッチ決済", "非接触",
    "contactless", "キャッシュレス", "cashless",
)
_CASH = {normalize(m) for m in CASH_METHODS}
_CASHLESS = {normalize(m) for m in CASHLESS_METHODS}
_CASHLESS_WORDS = tuple(normalize(w) for w in CASHLESS_WORDS)


def classify_method(method: str) -> bool | None:
    """True for cashless, False for cash, None when the method is unknown or names both."""
    key = normalize(method)
    if not key:
        return None
    if key in _CASH:
        return False
    if key in _CASHLESS:
        return True
    if any(word in key for word in _CASHLESS_WORDS):
        if "現金" in key or "cash" in key.replace("cashless", ""):
            return None  # 現金・カード併用 and the like: which part was which is unknown
        return True
    return None


@dataclass
class PosImportResult(_cells.ImportCounts):
    kind: str  # "transactions" or "facility_totals"
    years: list[int] = field(default_factory=list)

    def summary(self) -> str:
        what = "POS 取引" if self.kind == "transactions" else "施設別実績"
        return f"{what}: {self.counts()}{self.notes()}"


def import_file(path: str | Path, year: int | None = None) -> PosImportResult:
    """Validate the whole file, then apply it in one transaction (or raise ImportRejected).
    `year` is the calendar year of a facility-totals file without a 年 column."""
    table = _cells.load(path)
    transactions = _cells.match_headers(table.headers, TRANSACTION_COLUMNS)
    totals = _cells.match_headers(table.headers, TOTAL_COLUMNS)
    is_totals = {"sales", "cash", "cashless"} & totals.keys()
    is_transactions = {"at", "date", "time", "method", "amount"} & transactions.keys()
    if is_totals and not is_transactions:
        return _import_totals(table, totals, year)
    if is_transactions and not is_totals:
        return _import_transactions(table, transactions)
    raise ImportRejected([RowError(1, "", (
        "POS 取引（日時・施設・料金項目・金額・支払方法）か施設別実績（施設・売上・現金・キャッシュレス）の"
        "どちらの形式か見出しから判断できません。"
    ))])


def _missing(found: dict[str, str], required: dict[str, str]) -> list[RowError]:
    return [RowError(1, label, "必須の列がありません。") for name, label in required.items() if name not in found]


def _ignored(table: Table, found: dict[str, str]) -> list[str]:
    used = set(found.values())
    return [h for h in table.headers if h and h not in used]


# --- POS transactions -----------------------------------------------------------------

_CLOCK = r"(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?|時(?:(\d{1,2})分(?:(\d{1,2})秒)?)?)"
_TIME = re.compile(_CLOCK)
_TIME_TAIL = re.compile(r"[\sT]*" + _CLOCK + "$")


def _day_of(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = fold_width(str(value)).strip()
    if not text:
        raise ValueError("必須です。")
    return parse_date(text)  # WarekiError (a ValueError) says what is wrong, in Japanese


def _clock_of(value: object) -> dt.time:
    if isinstance(value, dt.datetime):
        return value.time()
    if isinstance(value, dt.time):
        return value
    text = fold_width(str(value)).strip()
    if not text:
        raise ValueError("必須です。")
    match = _TIME.fullmatch(text)
    if not match:
        raise ValueError(f"「{value}」を時刻として読み取れません（例: 9:15、09:15:00、9時15分）。")
    hour, minute, second, jminute, jsecond = match.groups()
    try:
        return dt.time(int(hour), int(minute or jminute or 0), int(second or jsecond or 0))
    except ValueError:
        raise ValueError(f"「{value}」は存在しない時刻です。") from None


def parse_moment(value: object) -> dt.datetime:
    """A POS timestamp as an aware datetime; without an offset it is Japan time.
    Accepted: 2023-04-01 09:15[:00], 2023/4/1 9:15, 2023-04-01T09:15:00+09:00,
    令和5年4月1日 9時15分, or an XLSX date-time cell. Raises ValueError with a message."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=JST)
    if isinstance(value, dt.date):
        raise ValueError("時刻がありません（例: 2023-04-01 09:15）。")
    text = fold_width(str(value)).strip()
    if not text:
        raise ValueError("必須です。")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is not None:
        if not re.search(r"\d[T ]\d", text):
            raise ValueError(f"「{value}」に時刻がありません（例: 2023-04-01 09:15）。")
        return moment if moment.tzinfo else moment.replace(tzinfo=JST)
    match = _TIME_TAIL.search(text)
    if match is None or not text[: match.start()].strip():
        raise ValueError(f"「{value}」を日時として読み取れません（例: 2023-04-01 09:15）。")
    day = parse_date(text[: match.start()])
    return dt.datetime.combine(day, _clock_of(text[match.start():].strip(" T")), tzinfo=JST)


@dataclass
class _Payment:
    number: int
    at: dt.datetime
    facility: str
    fee_item: str
    amount: int
    method: str
    cashless: bool
    transaction_id: str
    source_key: str = ""


def _key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def _import_transactions(table: Table, columns: dict[str, str]) -> PosImportResult:
    errors = _missing(columns, {"facility": "施設", "fee_item": "料金項目", "amount": "金額", "method": "支払方法"})
    if "at" not in columns and not {"date", "time"} <= columns.keys():
        errors.append(RowError(1, "日時", "必須の列がありません（日時、または日付と時刻）。"))
    if errors:
        raise ImportRejected(errors)
    if not table.rows:
        raise ImportRejected([RowError(0, "", "データの行がありません。")])

    payments: list[_Payment] = []
    seen_ids: dict[tuple[str, str], int] = {}
    for number, row in table.rows:
        before = len(errors)

        def error(column: str, message: str, number=number) -> None:
            errors.append(RowError(number, column, message))

        if row.get("__extra__"):
            error("", "見出しのない列に値があります。列がずれていないか確認してください。")
        at = None
        if "at" in columns:
            try:
                at = parse_moment(row.get(columns["at"], ""))
            except ValueError as exc:
                error(columns["at"], str(exc))
        else:
            day = clock = None
            try:
                day = _day_of(row.get(columns["date"], ""))
            except ValueError as exc:
                error(columns["date"], str(exc))
            try:
                clock = _clock_of(row.get(columns["time"], ""))
            except ValueError as exc:
                error(columns["time"], str(exc))
            if day is not None and clock is not None:
                at = dt.datetime.combine(day, clock, tzinfo=JST)
        facility = _cells.text(row, columns["facility"])
        fee_item = _cells.text(row, columns["fee_item"])
        for name, value, limit in (("facility", facility, 100), ("fee_item", fee_item, 200)):
            if not value:
                error(columns[name], "必須です。")
            elif len(value) > limit:
                error(columns[name], f"{limit}文字以内にしてください（{len(value)}文字）。")
        amount = None
        raw_amount = row.get(columns["amount"], "")
        try:
            amount = _cells.whole_number(raw_amount)
            if amount > 2_147_483_647:
                raise ValueError
        except ValueError:
            raw = _cells.text(row, columns["amount"])
            if raw.startswith(("-", "−", "－", "△", "▲")):
                error(columns["amount"], f"「{raw}」: 返金・取消（マイナス）の行は取り込めません。元の取引の行を除いてください。")
            else:
                error(columns["amount"], _cells.not_a(raw, "金額（0以上の整数、円）"))
        method = _cells.text(row, columns["method"])
        cashless = classify_method(method)
        if len(method) > 50:
            error(columns["method"], f"50文字以内にしてください（{len(method)}文字）。")
        elif cashless is None:
            error(columns["method"], (
                f"「{method}」が現金かキャッシュレスか分かりません。"
                "現金、またはクレジット・デビット・電子マネー・交通系IC・QR/バーコード決済のいずれかにしてください。"
                if method else "必須です。"
            ))
        transaction_id = fold_width(_cells.text(row, columns.get("transaction_id")))
        if transaction_id and facility:
            first = seen_ids.setdefault((facility, transaction_id), number)
            if first != number:
                error(columns["transaction_id"], f"{first}行目と同じ施設・取引番号です。")
        if len(errors) == before:
            payments.append(_Payment(number, at, facility, fee_item, amount, method, cashless, transaction_id))
    if errors:
        raise ImportRejected(errors)

    # The identity of a payment: the POS's own transaction number when the file has one;
    # else its content plus how many identical rows came before it in this file, so two
    # equal payments in the same minute stay two, and the same file (or an export that
    # overlaps it) adds each payment once.
    occurrences: Counter = Counter()
    for payment in payments:
        if payment.transaction_id:
            payment.source_key = _key("id", payment.facility, payment.transaction_id)
        else:
            content = (payment.at.astimezone(dt.UTC).isoformat(), payment.facility, payment.fee_item,
                       payment.amount, normalize(payment.method))
            occurrences[content] += 1
            payment.source_key = _key("row", *content, occurrences[content])

    result = PosImportResult(kind="transactions", source_format=table.source_format,
                             ignored_columns=_ignored(table, columns))
    result.years = sorted({p.at.astimezone(JST).year for p in payments})
    with _cells.applying():
        existing: dict[str, PosTransaction] = {}
        keys = [p.source_key for p in payments]
        for start in range(0, len(keys), 500):
            for stored in PosTransaction.objects.select_for_update().filter(source_key__in=keys[start:start + 500]):
                existing[stored.source_key] = stored
        new = []
        for payment in payments:
            values = {"at": payment.at, "facility": payment.facility, "fee_item": payment.fee_item,
                      "amount": payment.amount, "method": payment.method, "cashless": payment.cashless}
            stored = existing.get(payment.source_key)
            if stored is None:
                new.append(PosTransaction(source_key=payment.source_key, **values))
            elif any(getattr(stored, k) != v for k, v in values.items()):
                # Only a row with a transaction number can change: a corrected re-export.
                for k, v in values.items():
                    setattr(stored, k, v)
                stored.save(update_fields=list(values))
                result.updated += 1
            else:
                result.unchanged += 1
        PosTransaction.objects.bulk_create(new, batch_size=1000)
        result.created = len(new)
    return result


# --- Facility totals ------------------------------------------------------------------

@dataclass
class _Total:
    number: int
    year: int
    facility: str
    sales: int | None
    cash: int | None
    cashless: int
    published_ratio: Decimal | None
    cashless_only: bool = False


def _year_of(text: str) -> int:
    value = fold_width(text).replace(" ", "").removesuffix("年")
    if value.isdigit() and len(value) == 4:
        return int(value)
    match = re.fullmatch(r"(令和|R|r)(元|\d{1,2})", value)
    if match:
        return 2018 + (1 if match.group(2) == "元" else int(match.group(2)))
    match = re.fullmatch(r"(平成|H|h)(元|\d{1,2})", value)
    if match:
        return 1988 + (1 if match.group(2) == "元" else int(match.group(2)))
    raise ValueError


def _import_totals(table: Table, columns: dict[str, str], year: int | None) -> PosImportResult:
    errors = _missing(columns, {"facility": "施設"})
    if not {"sales", "cashless"} & columns.keys():
        errors.append(RowError(1, "キャッシュレス", "必須の列がありません（キャッシュレス、または売上と現金）。"))
    if "year" not in columns and year is None:
        errors.append(RowError(1, "年", "年の列がありません。取り込むときに年（--year 2023 など）を指定してください。"))
    if errors:
        raise ImportRejected(errors)
    if not table.rows:
        raise ImportRejected([RowError(0, "", "データの行がありません。")])

    totals: list[_Total] = []
    seen: dict[tuple[int, str], int] = {}
    for number, row in table.rows:
        before = len(errors)

        def error(column: str, message: str, number=number) -> None:
            errors.append(RowError(number, column, message))

        if row.get("__extra__"):
            error("", "見出しのない列に値があります。列がずれていないか確認してください。")
        row_year = year
        if "year" in columns:
            raw = _cells.text(row, columns["year"])
            if raw:
                try:
                    row_year = _year_of(raw)
                except ValueError:
                    error(columns["year"], f"「{raw}」は年（2023、2023年、令和5年）ではありません。")
                    row_year = None
                if row_year is not None and year is not None and row_year != year:
                    error(columns["year"], f"{row_year}年の行です（取り込みで指定した年は {year}年）。")
            elif year is None:
                error(columns["year"], "必須です。")
        facility = _cells.text(row, columns["facility"])
        if not facility:
            error(columns["facility"], "必須です。")
        elif len(facility) > 100:
            error(columns["facility"], f"100文字以内にしてください（{len(facility)}文字）。")
        # Blank or a dash: no figure. A row with no cash figure cannot say what share of
        # its sales was cashless; a 独自集計 row tallies only its cashless payments.
        amounts: dict[str, int | None] = {}
        for name in ("sales", "cash", "cashless"):
            raw = _cells.text(row, columns.get(name))
            if not raw or _cells.is_dash(raw):
                amounts[name] = None
                continue
            try:
                amounts[name] = _cells.whole_number(row.get(columns[name], ""))
            except ValueError:
                error(columns[name], _cells.not_a(raw, "金額（0以上の整数、円）"))
        labelled = OWN_TALLY in normalize(facility) or OWN_TALLY in normalize(_cells.text(row, columns.get("kind")))
        cash_unreadable = "cash" in _unread(errors, before, columns)
        cashless_only = labelled or (amounts.get("cash") is None and not cash_unreadable)
        if cashless_only:
            if amounts.get("cashless") is None:
                # A 独自集計's sales are its cashless sales.
                amounts["cashless"] = amounts.get("sales")
            if amounts["cashless"] is None and not _unread(errors, before, columns) & {"sales", "cashless"}:
                error(columns.get("cashless") or columns.get("sales"),
                      "キャッシュレスの金額が必要です（現金の分からない独自集計の行です）。")
        else:
            for name in ("sales", "cashless"):
                if amounts.get(name) is None and name not in _unread(errors, before, columns):
                    error(columns.get(name, _TOTAL_LABELS[name]), "必須です。")
        published = None
        raw = _cells.text(row, columns.get("published_ratio"))
        if raw:
            try:
                published = _cells.decimal_value(row.get(columns["published_ratio"]), places=2)
                if published > 100:
                    raise ValueError
            except ValueError:
                error(columns["published_ratio"], f"「{raw}」は比率（0〜100、小数第2位まで）ではありません。")
        if facility and row_year is not None:
            first = seen.setdefault((row_year, facility), number)
            if first != number:
                error(columns["facility"], f"{first}行目と同じ施設・年です。")
        if len(errors) == before:
            totals.append(_Total(number, row_year, facility, amounts.get("sales"), amounts.get("cash"),
                                 amounts["cashless"], published, cashless_only))
    if errors:
        raise ImportRejected(errors)

    result = PosImportResult(kind="facility_totals", source_format=table.source_format,
                             ignored_columns=_ignored(table, columns))
    result.years = sorted({t.year for t in totals})
    own = [t for t in totals if t.cashless_only]
    if own:
        shown = "、".join(f"{t.number}行目 {t.facility}" for t in own[:10]) + (" など" if len(own) > 10 else "")
        result.warnings.append(
            f"現金の分からない {len(own)} 行（{shown}）はキャッシュレスのみの集計（独自集計）として取り込みます。"
            "キャッシュレス比率の計算には含めず、別に報告します。"
        )
    for total in totals:
        if total.cashless_only:
            continue  # its sales are not split into cash and cashless: nothing to check
        # Stored as published, and flagged in the report: the file is the city's record.
        if total.sales != total.cash + total.cashless:
            result.warnings.append(
                f"{total.number}行目 {total.facility}: 売上 {total.sales:,} 円が現金 {total.cash:,} 円と"
                f"キャッシュレス {total.cashless:,} 円の合計 {total.cash + total.cashless:,} 円と一致しません。"
            )
        if total.published_ratio is not None and total.sales:
            computed = published_precision_ratio(total.cashless, total.sales, total.published_ratio)
            if computed != total.published_ratio:
                result.warnings.append(
                    f"{total.number}行目 {total.facility}: 公表比率 {total.published_ratio}% は金額から計算すると "
                    f"{computed}% です。"
                )
    with _cells.applying():
        stored = {(t.year, t.facility): t for t in FacilityCashless.objects.select_for_update().filter(
            year__in=result.years)}
        for total in totals:
            values = {"sales": total.sales, "cash": total.cash, "cashless": total.cashless,
                      "published_ratio": total.published_ratio, "cashless_only": total.cashless_only}
            existing = stored.get((total.year, total.facility))
            if existing is None:
                FacilityCashless.objects.create(year=total.year, facility=total.facility, **values)
                result.created += 1
            elif any(getattr(existing, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(existing, k, v)
                existing.save(update_fields=list(values))
                result.updated += 1
            else:
                result.unchanged += 1
    return result


_TOTAL_LABELS = {"sales": "売上", "cash": "現金", "cashless": "キャッシュレス"}


def _unread(errors: list[RowError], since: int, columns: dict[str, str]) -> set[str]:
    """The amount columns of this row (errors after `since`) already reported unreadable."""
    headers = {columns.get(name): name for name in _TOTAL_LABELS if columns.get(name)}
    return {headers[e.column] for e in errors[since:] if e.column in headers}


def published_precision_ratio(numerator: int, denominator: int, published: Decimal) -> Decimal | None:
    """numerator ÷ denominator in percent, rounded half-up to the precision the published
    figure is written with (0.1 when it has one decimal or none, else 0.01)."""
    exact = exact_pct(numerator, denominator)
    if exact is None:
        return None
    if published == published.quantize(Decimal("0.1")):
        return round1(exact)
    return round2(exact)


def round2(value: Fraction | None) -> Decimal | None:
    """Half-up to 0.01 (the precision the overall cashless ratio is published with)."""
    if value is None:
        return None
    hundredths = abs(value) * 100
    whole, remainder = divmod(hundredths.numerator, hundredths.denominator)
    if 2 * remainder >= hundredths.denominator:
        whole += 1
    sign = -1 if value < 0 else 1
    return (Decimal(sign * whole) / 100).quantize(Decimal("0.01"))
