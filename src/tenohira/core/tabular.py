"""Reading and writing the spreadsheets municipalities exchange: CSV and XLSX.

A clerk's file arrives as CSV in UTF-8, UTF-8 with BOM (Excel's "CSV UTF-8") or CP932
(Excel's default "CSV" on Japanese Windows), or as XLSX. The encoding is detected, never
guessed silently: a file that is none of them is refused with a message. Row numbers are
the ones the clerk sees in Excel (header = row 1).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes


class TableError(Exception):
    """The file cannot be read as a table at all (wrong format, encoding, no header)."""


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, dict[str, object]]]  # (row number as seen in Excel, values by header)
    source_format: str  # "csv-utf-8", "csv-utf-8-sig", "csv-cp932", "xlsx"


def decode_csv_bytes(data: bytes) -> tuple[str, str]:
    """Return (text, encoding label). UTF-8 (with or without BOM) and CP932 are tried
    strictly; anything else is named by the detector and refused."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    # CP932 (and UTF-8, for ASCII) decode UTF-16 text such as Excel's 「Unicode テキスト」
    # without complaint, as garbage full of NULs; a real CSV never holds a NUL byte.
    if b"\x00" not in data:
        for encoding in ("utf-8", "cp932"):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                continue
    guess = from_bytes(data).best()
    name = guess.encoding if guess else "不明"
    raise TableError(
        f"文字コードを読み取れません（推定: {name}）。UTF-8 または Shift_JIS（CP932）で保存してください。"
    )


def _clean(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return value


def _rows_from_records(records, source_format: str) -> Table:
    records = iter(records)
    header_row = next(records, None)
    if header_row is None or not any(str(_clean(cell)) for cell in header_row):
        raise TableError("1行目に見出し（列名）がありません。")
    headers = [str(_clean(cell)).lstrip("\ufeff") for cell in header_row]
    while headers and not headers[-1]:
        headers.pop()
    rows = []
    for number, record in enumerate(records, start=2):
        values = [_clean(cell) for cell in record]
        if not any(str(value) for value in values):
            continue  # blank lines between blocks are common in hand-kept sheets
        row = {header: (values[i] if i < len(values) else "") for i, header in enumerate(headers)}
        extra = [value for value in values[len(headers):] if str(value)]
        if extra:
            row["__extra__"] = extra
        rows.append((number, row))
    return Table(headers, rows, source_format)


def read_table(path: str | Path) -> Table:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TableError(f"ファイルを開けません: {exc.strerror}") from exc
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        raise TableError("XLSX ファイルとして読み取れません。Excel で保存し直してください。")
    text, encoding = decode_csv_bytes(data)
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise TableError(f"CSV の形式が正しくありません: {exc}") from exc
    return _rows_from_records(records, f"csv-{encoding}")


def _read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise TableError(f"XLSX ファイルを読み取れません: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        return _rows_from_records(sheet.iter_rows(values_only=True), "xlsx")
    finally:
        workbook.close()


# --- CP932: the standard conversions first, then a report of what is left ---------------

#: Characters that Japanese keyboards and Macs produce (Unicode's JIS X 0208 mapping, as
#: macOS and most IMEs use it) and the character CP932 uses for the same glyph (the
#: mapping Microsoft chose). Business systems on Windows have always received the right
#: column, so the conversion changes no visible character: 〜 is the wave dash a resident
#: typed, ～ the same wave dash as Windows stores it. Every target encodes in CP932 and
#: reads back as itself (tests/core/test_tabular.py checks each pair).
CP932_FORMS: dict[str, str] = {
    "\u301c": "\uff5e",  # 〜 WAVE DASH → ～ FULLWIDTH TILDE
    "\u2212": "\uff0d",  # − MINUS SIGN → － FULLWIDTH HYPHEN-MINUS
    "\u2016": "\u2225",  # ‖ DOUBLE VERTICAL LINE → ∥ PARALLEL TO
    "\u00a2": "\uffe0",  # ¢ CENT SIGN → ￠
    "\u00a3": "\uffe1",  # £ POUND SIGN → ￡
    "\u00ac": "\uffe2",  # ¬ NOT SIGN → ￢
    "\u2014": "\u2015",  # — EM DASH → ― HORIZONTAL BAR
    "\u00a6": "\uffe4",  # ¦ BROKEN BAR → ￤ (IBM extension)
    "\u203e": "\uffe3",  # ‾ OVERLINE → ￣ FULLWIDTH MACRON
    # ¥: CP932's 0x5C is the backslash (shown as ¥ by Japanese fonts only); ￥ is a yen
    # sign in every font and every system.
    "\u00a5": "\uffe5",  # ¥ YEN SIGN → ￥ FULLWIDTH YEN SIGN
    "\u00a0": " ",  # NO-BREAK SPACE (pasted from web pages and Word)
    "\u202f": " ",  # NARROW NO-BREAK SPACE (macOS puts it in dates and times)
    "\u2011": "\u2010",  # NON-BREAKING HYPHEN → ‐ HYPHEN
    "\u2012": "\u2010",  # FIGURE DASH → ‐ HYPHEN
    "\u2013": "\u2010",  # – EN DASH (macOS's option-hyphen) → ‐ HYPHEN
}
_CP932_TABLE = str.maketrans(CP932_FORMS)


def to_cp932_forms(text: str) -> str:
    """`text` with CP932_FORMS applied: what a CP932 file holds for it."""
    return text if text.isascii() else text.translate(_CP932_TABLE)


@functools.lru_cache(maxsize=4096)
def in_cp932(char: str) -> bool:
    """True when CP932 holds the character, after the standard conversion, and gives it
    back unchanged. 𠮷 (U+20BB7) and emoji are not in CP932; 髙 (U+9AD9), 﨑 (U+FA11),
    ① and ㈱ are (NEC and IBM extensions). Python's codec also writes some characters
    outside CP932_FORMS as a look-alike that reads back as another character: those are
    not held either, or the business system would silently receive something else."""
    converted = CP932_FORMS.get(char, char)
    try:
        return converted.encode("cp932").decode("cp932") == converted
    except UnicodeError:
        return False


def cp932_missing(text: str) -> list[str]:
    """The characters of `text` that CP932 cannot hold even after the standard
    conversion (in order, repeated): what must be reported, never replaced."""
    if text.isascii():
        return []
    try:
        converted = to_cp932_forms(text)
        if converted.encode("cp932").decode("cp932") == converted:
            return []
    except UnicodeError:
        pass
    return [char for char in text if not in_cp932(char)]


def is_cp932(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "cp932"
    except LookupError:
        return False


# --- formulas in CSV meant for Excel ------------------------------------------------------

#: What makes Excel and LibreOffice read a CSV cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def neutralise_formula(text: str, *, numeric: bool = False) -> str:
    """A cell a spreadsheet will show as text: a leading ' when the value would start a
    formula (=HYPERLINK(...) typed by anyone on the internet would run on a clerk's PC).
    In a numeric column a plain number such as -3 is a number and stays as it is."""
    if not text or text[0] not in FORMULA_STARTS:
        return text
    if numeric and _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + text


def _cell_text(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def unencodable(headers: list[str], rows: list[list[object]], encoding: str) -> list[tuple[int, str, str]]:
    """Every (row number, column, character) that `encoding` cannot hold. CP932 lacks
    many 異体字 used in names (𠮷 ...): they must be reported, never replaced. For CP932
    the standard conversions (CP932_FORMS: 〜 → ～ ...) are applied first, so only what
    has no CP932 form at all is reported; row 1 is the header."""
    cp932 = is_cp932(encoding)
    problems = []
    for number, row in enumerate([headers, *rows], start=1):
        for header, value in zip(headers, row, strict=False):
            text = _cell_text(value)
            if cp932:
                problems += [(number, header, char) for char in cp932_missing(text)]
                continue
            for char in text:
                try:
                    faithful = char.encode(encoding).decode(encoding) == char
                except UnicodeError:
                    faithful = False
                if not faithful:
                    problems.append((number, header, char))
    return problems


def write_table(target: str, headers: list[str], rows: list[list[object]], encoding: str = "utf-8-sig") -> None:
    """Write CSV (UTF-8 with BOM by default, so Excel opens it correctly) or XLSX when the
    target ends in .xlsx. `-` writes CSV to standard output (UTF-8 without BOM).

    A file is written to a temporary name and renamed at the end, so a failed export never
    leaves a half-written file behind. Characters the encoding cannot hold raise TableError
    listing each one; nothing is written then. CP932 gets the standard conversions
    (CP932_FORMS) first.
    """
    cells = [[_cell_text(v) for v in row] for row in rows]
    if target == "-":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(cells)
        return
    if not target.lower().endswith(".xlsx"):
        problems = unencodable(headers, cells, encoding)
        if problems:
            listed = "、".join(f"{row}行目「{column}」の「{char}」" for row, column, char in problems[:20])
            more = f" ほか{len(problems) - 20}件" if len(problems) > 20 else ""
            raise TableError(f"{encoding} で表せない文字があります: {listed}{more}。UTF-8 で書き出してください。")
        if is_cp932(encoding):
            headers = [to_cp932_forms(h) for h in headers]
            cells = [[to_cp932_forms(c) for c in row] for row in cells]
    directory = os.path.dirname(os.path.abspath(target))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tenohira-", suffix=".tmp")
    try:
        if target.lower().endswith(".xlsx"):
            os.close(fd)
            from openpyxl import Workbook

            workbook = Workbook()
            sheet = workbook.active
            for row in [headers, *cells]:
                sheet.append(row)
                for cell in sheet[sheet.max_row]:
                    # openpyxl takes any string starting with = for a formula: data is text.
                    if cell.data_type == "f":
                        cell.data_type = "s"
            workbook.save(temporary)
        else:
            with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
                writer = csv.writer(fh, lineterminator="\r\n")
                writer.writerow(headers)
                writer.writerows(cells)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
