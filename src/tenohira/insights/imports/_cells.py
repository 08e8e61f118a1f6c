"""What the importers share: reading the cells of the files (POS, printouts, inventory,
savings) and the counts every import reports.

Clerks' spreadsheets write the same number as 1,234 / １２３４ / 1234円 / 1234.0 (an
XLSX number cell) and the same header as 金額 / 金額（円） / amount_yen. These helpers
accept those forms and nothing looser: a value they cannot read is an error for that
row, never a guess.
"""

from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import IntegrityError, transaction

from tenohira.catalog.services import ImportRejected, RowError
from tenohira.core.tabular import Table, TableError, read_table
from tenohira.core.text import fold_width, normalize


@dataclass(kw_only=True)
class ImportCounts:
    """Rows created, updated and unchanged, the format read, and anything to tell the
    clerk (columns not used, warnings)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    source_format: str = ""
    ignored_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> str:
        return f"新規 {self.created} 件、更新 {self.updated} 件、変更なし {self.unchanged} 件"

    def notes(self) -> str:
        text = f"（使わなかった列: {'、'.join(self.ignored_columns)}）" if self.ignored_columns else ""
        return text + "".join(f"\n注意: {warning}" for warning in self.warnings)


def load(path: str | Path) -> Table:
    try:
        table = read_table(path)
    except TableError as exc:
        raise ImportRejected([RowError(0, "", str(exc))]) from exc
    duplicated = sorted({h for h in table.headers if h and table.headers.count(h) > 1})
    if duplicated:
        raise ImportRejected([RowError(1, h, "同じ見出しの列が2つ以上あります。") for h in duplicated])
    return table


def header_key(header: str) -> str:
    """The comparison form of a header: width-folded, lower case, no spaces, brackets or
    underscores (金額（円） → 金額円, Sales_Yen → salesyen)."""
    return normalize(header)


def match_headers(headers: list[str], aliases: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """{field: the header in the file} for every field whose alias is a header."""
    by_key = {header_key(h): h for h in headers if h}
    found = {}
    for name, spellings in aliases.items():
        for spelling in spellings:
            header = by_key.get(header_key(spelling))
            if header is not None:
                found[name] = header
                break
    return found


def text(row: dict, header: str | None) -> str:
    if header is None:
        return ""
    value = row.get(header, "")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


_NUMBER_NOISE = re.compile(r"[,\s円¥￥枚件人]")


def whole_number(value: object) -> int:
    """A non-negative whole number: 1,234 / １２３４ / 1234円 / 1234.0. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        if value < 0:
            raise ValueError
        return value
    if isinstance(value, float):
        if not value.is_integer() or value < 0:
            raise ValueError
        return int(value)
    cleaned = _NUMBER_NOISE.sub("", fold_width(str(value)))
    if cleaned.endswith(".0"):
        cleaned = cleaned[:-2]
    if not cleaned.isdigit():
        raise ValueError
    return int(cleaned)


def decimal_value(value: object, *, places: int) -> Decimal:
    """A non-negative decimal with at most `places` decimals: 45.3 / 45.3% / ４５．３."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        # An XLSX cell holds a binary float: 45.3 is 45.29999…; its shortest repr is what
        # the clerk typed.
        cleaned = repr(float(value))
    else:
        cleaned = fold_width(str(value)).replace("%", "").replace(",", "").strip()
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError from None
    if not number.is_finite() or number < 0:
        raise ValueError
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise ValueError
    return number


# What a printed table writes in a cell that has no number: a department without
# procedures, a rate with nothing to divide. Hyphen, full-width hyphen-minus, horizontal
# bar, hyphen, en/em dash, minus sign, and the long-vowel mark typed in their place.
DASHES = frozenset({"-", "－", "―", "‐", "‑", "–", "—", "−", "ー", "ｰ"})


def is_dash(value: object) -> bool:
    """True for a cell holding only a dash (see DASHES)."""
    return isinstance(value, str) and value.strip() in DASHES


def not_a(raw: str, what: str) -> str:
    """The message for a value that is not `what` (or is missing)."""
    return f"「{raw}」は{what}ではありません。" if raw else "必須です。"


@contextmanager
def applying():
    """The transaction an import is applied in. Two imports of overlapping files at the
    same moment can both find a row missing and both insert it; the unique constraint
    stops the second, which then applies nothing and says so (running it again is safe)."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        raise ImportRejected([RowError(0, "", (
            "同じデータを取り込む別の処理と重なったため、何も取り込みませんでした。もう一度取り込んでください。"
        ))]) from exc
