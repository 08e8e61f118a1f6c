"""Reading and writing the spreadsheets municipalities exchange: CSV and XLSX.

A clerk's file arrives as CSV in UTF-8, UTF-8 with BOM (Excel's "CSV UTF-8") or CP932
(Excel's default "CSV" on Japanese Windows), or as XLSX. The encoding is detected, never
guessed silently: a file that is none of them is refused with a message. Row numbers are
the ones the clerk sees in Excel (header = row 1).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
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


def _cell_text(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def unencodable(headers: list[str], rows: list[list[object]], encoding: str) -> list[tuple[int, str, str]]:
    """Every (row number, column, character) that `encoding` cannot hold. CP932 lacks
    many 異体字 used in names (𠮷, 﨑 ...): they must be reported, never replaced.
    Python's CP932 also writes some characters as a look-alike that reads back as another
    character (〜 WAVE DASH comes back as ～ FULLWIDTH TILDE, − as －): those count too."""
    problems = []
    for number, row in enumerate(rows, start=2):
        for header, value in zip(headers, row, strict=False):
            for char in _cell_text(value):
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
    listing each one; nothing is written then.
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
    directory = os.path.dirname(os.path.abspath(target))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tenohira-", suffix=".tmp")
    try:
        if target.lower().endswith(".xlsx"):
            os.close(fd)
            from openpyxl import Workbook

            workbook = Workbook()
            sheet = workbook.active
            sheet.append(headers)
            for row in cells:
                sheet.append(row)
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
