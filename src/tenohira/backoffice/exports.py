"""Bulk export of a staff queue for business systems: CSV (UTF-8 with BOM, or CP932), XLSX,
and the attachments as a ZIP. docs/exports.md is the user-facing description.

Columns are derived from the form version's schema alone, never from the data: a business
system's import definition written for 手続 HKC 第2版 keeps working whatever the residents
typed. A queue that holds several form versions is exported as one file per version (a ZIP
of CSVs, or one XLSX sheet per version), so each file keeps exactly its version's columns.

Memory stays bounded whatever the row count: rows are read with .iterator() in chunks of
CHUNK_ROWS (only the columns an export needs), written out and forgotten. CSV in UTF-8 and
the attachment ZIP stream straight to the response; CP932 and XLSX are written to an
anonymous temporary file first (CP932 because the whole export must be checked before a
single byte is handed out, XLSX because a workbook is a ZIP whose directory comes last).

Every function takes a queryset that already went through backoffice.selectors (queue()
with the acting user): this module never widens what a staff member may see.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any

from django.db.models import Count, QuerySet

from tenohira.applications import attachments as stored_files
from tenohira.applications.models import Attachment, Channel, Submission
from tenohira.backoffice.models import label_of as identity_label
from tenohira.core.fiscal import local
from tenohira.core.tabular import cp932_missing, is_cp932, neutralise_formula, to_cp932_forms
from tenohira.forms.fields import FIELD_TYPES
from tenohira.forms.models import FormVersion
from tenohira.forms.schema import Field, FormSchema

CHUNK_ROWS = 2000
FLUSH_BYTES = 256 * 1024  # hand a CSV piece to the response once this much is buffered

# 本人確認書類 came last so that the columns before it kept their places: it names the
# identity document a clerk checked at the counter, empty for an online application.
FIXED_COLUMNS = ["受付番号", "手続ID", "手続名", "申請日時", "申請経路", "状態", "版", "本人確認書類"]
# Columns holding numbers: a plain negative number there (-3) is a number, not a formula.
_FIXED_NUMERIC = [name == "版" for name in FIXED_COLUMNS]
_NUMERIC_TYPES = {"number", "computed"}

FORMATS = {
    "csv-utf8": "CSV（UTF-8 BOM付き）",
    "csv-cp932": "CSV（Shift_JIS / CP932）",
    "xlsx": "Excel（XLSX）",
    "attachments": "添付ファイル（ZIP）",
}

# The parts of compound answers, with the column suffix (the field type's own labels).
_NAME_PARTS = FIELD_TYPES["name"].parts
_ADDRESS_PARTS = FIELD_TYPES["address"].parts

Files = dict[str, str]  # attachment token → original file name
Getter = Callable[[dict, Files], str]


# --- columns of a form version --------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str  # the header, e.g. お子さん1_氏名_姓
    path: str  # where the value lives, e.g. children.1.child_name.family (for docs/tests)
    get: Getter = field(compare=False, repr=False)
    numeric: bool = False  # number and computed fields: see neutralise_formula


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    return str(value)


def _value_getter(fld: Field) -> Callable[[Any, Files], str]:
    """How one stored answer of this field is written in a cell (see docs/exports.md)."""
    kind = fld.type
    if kind in {"choice", "multichoice"}:
        labels = FIELD_TYPES[kind].labels(fld)
        if kind == "choice":
            return lambda v, files: "" if v in (None, "") else labels.get(str(v), str(v))
        return lambda v, files: "、".join(labels.get(str(x), str(x)) for x in v or [])
    if kind == "yesno":
        return lambda v, files: "" if v is None else ("はい" if v else "いいえ")
    if kind == "consent":
        return lambda v, files: "" if v is None else ("同意する" if v else "同意しない")
    if kind == "file":
        return lambda v, files: "、".join(files.get(token, token) for token in v or [])
    return lambda v, files: _text(v)


def _leaf_columns(fld: Field, name: str, path: str, fetch: Callable[[dict], Any]) -> list[Column]:
    """Columns of a non-group field whose stored value `fetch(answers)` returns."""
    if fld.type in {"name", "address"}:
        parts = dict(_NAME_PARTS if fld.type == "name" else _ADDRESS_PARTS)
        if fld.type == "name" and not fld.option("kana", True):
            parts.pop("family_kana"), parts.pop("given_kana")
        columns = []
        for part, label in parts.items():
            def get(answers, files, part=part):
                value = fetch(answers)
                return _text(value.get(part)) if isinstance(value, dict) else ""
            columns.append(Column(f"{name}_{label}", f"{path}.{part}", get))
        return columns
    cell = _value_getter(fld)
    return [Column(name, path, lambda answers, files: cell(fetch(answers), files), fld.type in _NUMERIC_TYPES)]


def _top(key: str) -> Callable[[dict], Any]:
    return lambda answers: answers.get(key)


def _in_row(group_key: str, index: int, key: str) -> Callable[[dict], Any]:
    def fetch(answers):
        rows = answers.get(group_key)
        if isinstance(rows, list) and index < len(rows) and isinstance(rows[index], dict):
            return rows[index].get(key)
        return None
    return fetch


def field_columns(schema: FormSchema) -> list[Column]:
    """One column per answer path in schema order; the same for every export of a version."""
    columns: list[Column] = []
    for fld in schema.all_fields():
        if not FIELD_TYPES[fld.type].has_value:
            continue  # guidance
        if fld.type == "group":
            row_label = fld.option("row_label") or fld.label
            for number in range(1, int(fld.option("max", 10)) + 1):
                for child in fld.children:
                    if not FIELD_TYPES[child.type].has_value:
                        continue
                    columns += _leaf_columns(
                        child, f"{row_label}{number}_{child.label}", f"{fld.key}.{number}.{child.key}",
                        _in_row(fld.key, number - 1, child.key),
                    )
        else:
            columns += _leaf_columns(fld, fld.label, fld.key, _top(fld.key))
    return _unique_names(columns)


def _unique_names(columns: list[Column]) -> list[Column]:
    """Two fields may share a label (氏名 of the applicant and of the child outside a group),
    or a label may be a fixed column's name: such columns get their answer path appended,
    氏名（applicant.family）, which depends on the schema only, so names stay stable."""
    seen: dict[str, int] = {name: 1 for name in FIXED_COLUMNS}
    for column in columns:
        seen[column.name] = seen.get(column.name, 0) + 1
    return [
        Column(f"{c.name}（{c.path}）", c.path, c.get, c.numeric) if seen[c.name] > 1 else c for c in columns
    ]


def header_for(version: FormVersion) -> list[str]:
    return FIXED_COLUMNS + [c.name for c in field_columns(version.parsed())]


# --- what an export holds ---------------------------------------------------------------


@dataclass
class Part:
    """The rows of one form version in an export: one CSV file or one XLSX sheet."""

    version: FormVersion
    rows: int
    columns: list[Column] = field(default_factory=list)
    with_files: bool = False  # has file fields: their cells need the attachments' names

    @property
    def procedure(self):
        return self.version.definition.procedure

    @property
    def header(self) -> list[str]:
        return FIXED_COLUMNS + [c.name for c in self.columns]

    @property
    def numeric(self) -> list[bool]:
        """Per column of `header`: does it hold numbers (版, number and computed fields)."""
        return _FIXED_NUMERIC + [c.numeric for c in self.columns]

    def base_name(self) -> str:
        return safe_file_name(f"{self.procedure.code}_{self.procedure.name}_第{self.version.number}版")


def plan(items: QuerySet[Submission]) -> list[Part]:
    """The form versions in a (scoped, filtered) queue with their row counts, ordered by
    procedure code then version number: the order of files in a ZIP and sheets in XLSX."""
    counts = dict(
        items.order_by().values_list("form_version_id").annotate(n=Count("id")).values_list("form_version_id", "n")
    )
    versions = FormVersion.objects.filter(pk__in=counts).select_related("definition__procedure")
    parts = [Part(v, counts[v.pk], field_columns(v.parsed()), _has_files(v.parsed())) for v in versions]
    parts.sort(key=lambda p: (p.procedure.code, p.version.number))
    return parts


def _has_files(schema: FormSchema) -> bool:
    return any(f.type == "file" or any(c.type == "file" for c in f.children) for f in schema.all_fields())


def rows(items: QuerySet[Submission], part: Part) -> Iterator[tuple[str, list[str]]]:
    """(受付番号, cells) of one part, oldest first, read in chunks with only what is needed."""
    procedure = part.procedure
    fixed_tail = (procedure.code, procedure.name)
    version_number = str(part.version.number)
    columns = part.columns
    with_files = part.with_files
    # Labels resolved once per export (they are lazy translations), not once per row.
    channels = {value: str(label) for value, label in Channel.choices}
    statuses = {value: str(label) for value, label in Submission.Status.choices}
    query = (
        items.filter(form_version_id=part.version.pk)
        .order_by("submitted_at", "pk")
        .values_list("pk", "receipt_number", "submitted_at", "channel", "status", "answers",
                     "identity_check__document", "identity_check__note")
    )
    records = query.iterator(chunk_size=CHUNK_ROWS)
    while batch := list(islice(records, CHUNK_ROWS)):
        files: Files = {}
        if with_files:
            files = dict(
                Attachment.objects.filter(submission_id__in=[r[0] for r in batch]).values_list("token", "original_name")
            )
        for _pk, receipt, submitted_at, channel, status, answers, document, note in batch:
            answers = answers if isinstance(answers, dict) else {}
            cells = [
                receipt, *fixed_tail, local(submitted_at).strftime("%Y-%m-%d %H:%M"),
                channels.get(channel, channel), statuses.get(status, status), version_number,
                identity_label(document or "", note or ""),
            ]
            cells += [column.get(answers, files) for column in columns]
            yield receipt, cells


# --- CP932: report every character it cannot hold --------------------------------------
#
# What CP932 cannot hold is decided in one place, core.tabular (cp932_missing), after the
# standard conversions (〜 → ～, − → － ...) that every CP932 writer of the platform applies.


@dataclass(frozen=True)
class Unencodable:
    receipt_number: str  # "" for a column header
    column: str
    char: str

    @property
    def code(self) -> str:
        return f"U+{ord(self.char):04X}"


def _problems_in(receipt: str, header: list[str], cells: list[str]) -> list[Unencodable]:
    if not cp932_missing("\t".join(cells)):  # the whole row at once: the common case
        return []
    found = []
    for name, cell in zip(header, cells, strict=True):
        for char in cp932_missing(cell):
            found.append(Unencodable(receipt, name, char))
    return found


def cp932_report(items: QuerySet[Submission], parts: list[Part] | None = None) -> Iterator[Unencodable]:
    """Every character of the export CP932 cannot hold: headers first, then by row."""
    parts = plan(items) if parts is None else parts
    for part in parts:
        header = part.header
        yield from _problems_in("", header, header)
        for receipt, cells in rows(items, part):
            yield from _problems_in(receipt, header, cells)


def report_csv(problems: Iterable[Unencodable]) -> Iterator[bytes]:
    """The CP932 report as a CSV (UTF-8 with BOM: it must hold the characters it reports)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["受付番号", "列", "文字", "符号位置"])
    first = True
    for problem in problems:
        # Opened in Excel by a person: a column label never runs as a formula.
        writer.writerow([problem.receipt_number or "（見出し）", neutralise_formula(problem.column), problem.char,
                         problem.code])
        if buffer.tell() > FLUSH_BYTES:
            yield _take(buffer, "utf-8", bom=first)
            first = False
    yield _take(buffer, "utf-8", bom=first)


# --- CSV ------------------------------------------------------------------------------


def _take(buffer: io.StringIO, encoding: str, *, bom: bool = False) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    data = text.encode(encoding)
    return b"\xef\xbb\xbf" + data if bom else data


def for_excel(cells: list[str], numeric: list[bool]) -> list[str]:
    """The cells with every would-be formula made text (see neutralise_formula)."""
    return [neutralise_formula(cell, numeric=number) for cell, number in zip(cells, numeric, strict=True)]


def csv_pieces(items: QuerySet[Submission], part: Part, encoding: str = "utf-8",
               check: CP932Check | None = None, *, raw: bool = False) -> Iterator[bytes]:
    """One version's CSV as byte pieces: CRLF line ends, BOM first when UTF-8.

    Cells that would start a formula get a leading ' unless `raw` (for imports into
    business systems, which read the value as it is). CP932 gets the standard conversions
    (core.tabular.CP932_FORMS: 〜 → ～ ...). With `check` (CP932), a row holding a
    character CP932 cannot hold is recorded there and left out; the caller throws the
    output away once check.problems is set."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    bom = encoding == "utf-8"
    cp932 = is_cp932(encoding)
    header = part.header
    numbers = part.numeric

    def prepared(cells: list[str], numeric: list[bool]) -> list[str]:
        if cp932:
            cells = [to_cp932_forms(cell) for cell in cells]
        return cells if raw else for_excel(cells, numeric)

    if check is None or not check.add(_problems_in("", header, header)):
        writer.writerow(prepared(header, [False] * len(header)))
    for receipt, cells in rows(items, part):
        if check is not None and check.add(_problems_in(receipt, header, cells)):
            continue
        writer.writerow(prepared(cells, numbers))
        if buffer.tell() > FLUSH_BYTES:
            yield _take(buffer, encoding, bom=bom)
            bom = False
    yield _take(buffer, encoding, bom=bom)


@dataclass
class CP932Check:
    """Collects the report while a CP932 export is written (the first `keep` in memory,
    all of them counted; the full list is streamed again by cp932_report on request)."""

    keep: int = 500
    shown: list[Unencodable] = field(default_factory=list)
    total: int = 0

    def add(self, problems: list[Unencodable]) -> bool:
        if not problems:
            return False
        self.total += len(problems)
        room = self.keep - len(self.shown)
        if room > 0:
            self.shown += problems[:room]
        return True

    @property
    def problems(self) -> bool:
        return self.total > 0


class _Pipe(io.RawIOBase):
    """A write-only, unseekable file whose bytes a generator takes away (zipfile then
    writes data descriptors and never seeks back, so a ZIP can stream)."""

    def __init__(self):
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def csv_export(items: QuerySet[Submission], parts: list[Part], encoding: str = "utf-8",
               check: CP932Check | None = None, *, raw: bool = False) -> Iterator[bytes]:
    """The CSV export: one CSV when the queue holds one form version, else a ZIP with one
    CSV per version (named by procedure and version), streamed."""
    if len(parts) == 1:
        yield from csv_pieces(items, parts[0], encoding, check, raw=raw)
        return
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for part in parts:
            with archive.open(_entry(f"{part.base_name()}.csv"), "w", force_zip64=True) as member:
                for piece in csv_pieces(items, part, encoding, check, raw=raw):
                    member.write(piece)
                    if data := pipe.take():
                        yield data
    yield pipe.take()


def cp932_to_file(items: QuerySet[Submission], parts: list[Part], target: IO[bytes], *,
                  raw: bool = False) -> CP932Check:
    """Write the CP932 export to `target` while checking every cell; when anything cannot
    be held the file is incomplete and must not be served (check.problems is then set)."""
    check = CP932Check()
    for piece in csv_export(items, parts, "cp932", check, raw=raw):
        if not check.problems:
            target.write(piece)
    target.flush()
    return check


# --- XLSX -----------------------------------------------------------------------------

_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_text(text: str) -> str:
    # XML 1.0 cannot hold these control characters; they are shown, not dropped.
    return _XLSX_ILLEGAL.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def xlsx_to_file(items: QuerySet[Submission], parts: list[Part], target: IO[bytes]) -> None:
    """One sheet per form version, header row first, every value a text cell: a value that
    starts with = stays text (never a formula), 0123 keeps its leading zero. openpyxl's
    write-only mode keeps rows on disk and writes inline strings: memory stays flat."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    used: set[str] = set()
    for part in parts:
        sheet = workbook.create_sheet(_sheet_title(part, used))
        sheet.freeze_panes = "B2"
        sheet.append(_xlsx_row(sheet, part.header))
        for _receipt, values in rows(items, part):
            sheet.append(_xlsx_row(sheet, values))
    if not parts:
        workbook.create_sheet("申請")
    workbook.save(target)


def _xlsx_row(sheet, values: list[str]) -> list:
    """Plain strings (openpyxl reuses one cell for them), None for an empty cell (no XML at
    all), and an explicit text cell only where openpyxl would guess a formula or where XML
    cannot hold a control character (shown as [U+0007], not dropped)."""
    from openpyxl.cell import WriteOnlyCell

    out: list = []
    for value in values:
        if not value:
            out.append(None)
        elif value[0] == "=" or _XLSX_ILLEGAL.search(value):
            cell = WriteOnlyCell(sheet)
            cell._value = _xlsx_text(value)  # set directly: the value setter would make =… a formula
            cell.data_type = "s"
            out.append(cell)
        else:
            out.append(value)
    return out


def _sheet_title(part: Part, used: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", "_", f"{part.procedure.code}_第{part.version.number}版")[:31]
    candidate, n = title, 2
    while candidate in used:
        candidate = f"{title[:28]}_{n}"
        n += 1
    used.add(candidate)
    return candidate


# --- attachments ZIP ------------------------------------------------------------------


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def safe_file_name(name: str, *, limit: int = 120) -> str:
    """A file name any unzip tool and Windows accept: no folders (../), no control or
    reserved characters, no reserved device names, at most `limit` characters."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().rstrip(". ").lstrip(".")
    if not name:
        name = "file"
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    ext = ext[:20]
    stem = stem[: max(1, limit - len(ext) - 1)]
    return f"{stem}.{ext}" if ext else stem


def _entry(name: str, moment: dt.datetime | None = None) -> zipfile.ZipInfo:
    """A ZIP member dated in Japan time (ZIP has no time zone), readable once unpacked by
    whoever unpacks it, and by no one else (0600: residents' data)."""
    moment = local(moment or dt.datetime.now(dt.UTC))
    entry = zipfile.ZipInfo(
        name, (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second)
    )
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = 0o600 << 16
    return entry


MANIFEST_NAME = "添付ファイル一覧.csv"


def attachments_zip(items: QuerySet[Submission], *, raw: bool = False) -> Iterator[bytes]:
    """A ZIP streamed piece by piece: 受付番号/元のファイル名 for every attachment of the
    queue, and 添付ファイル一覧.csv listing each file with its size, SHA-256 and whether it
    was found intact. Files are read in 1 MiB pieces; the list waits in a temporary file.
    The list's text cells are neutralised like the CSV export's unless `raw` (a resident
    names the files: =HYPERLINK(…).pdf is a valid file name)."""
    pipe = _Pipe()
    attachments = (
        Attachment.objects.filter(submission__in=items.order_by().values("pk"))
        .order_by("submission__submitted_at", "submission_id", "pk")
        .values_list("submission__receipt_number", "field_path", "original_name", "stored_name", "size",
                     "sha256", "created_at")
    )
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="", prefix="tenohira-export-") as manifest, \
            zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        writer = _ManifestWriter(csv.writer(manifest, lineterminator="\r\n"), raw)
        writer.writerow(["受付番号", "項目", "ZIP内のファイル名", "元のファイル名", "サイズ（バイト）", "SHA-256", "状態"])
        current, taken = None, set()
        for receipt, field_path, original, stored, size, sha256, created in attachments.iterator(chunk_size=CHUNK_ROWS):
            if receipt != current:  # one folder after another: only the current one's names matter
                current, taken = receipt, set()
            arcname = f"{receipt}/{_unique_in(taken, safe_file_name(original))}"
            try:
                source = stored_files.open_stored(stored)
            except FileNotFoundError:
                writer.writerow([receipt, field_path, "", original, size, sha256, "ファイルが見つかりません"])
                continue
            digest = hashlib.sha256()
            with source, archive.open(_entry(arcname, created), "w", force_zip64=size > 2**30) as member:
                while chunk := source.read(1024 * 1024):
                    digest.update(chunk)
                    member.write(chunk)
                    yield pipe.take()
            state = "正常" if digest.hexdigest() == sha256 else "内容が登録時と一致しません"
            writer.writerow([receipt, field_path, arcname, original, size, sha256, state])
            yield pipe.take()
        manifest.seek(0)
        with archive.open(_entry(MANIFEST_NAME), "w") as member:
            member.write(b"\xef\xbb\xbf")
            while text := manifest.read(64 * 1024):
                member.write(text.encode("utf-8"))
                yield pipe.take()
    yield pipe.take()


class _ManifestWriter:
    """The manifest's csv writer, neutralising text cells (size is the one number)."""

    NUMERIC = [False, False, False, False, True, False, False]

    def __init__(self, writer, raw: bool):
        self.writer = writer
        self.raw = raw

    def writerow(self, cells: list) -> None:
        cells = [str(cell) for cell in cells]
        self.writer.writerow(cells if self.raw else for_excel(cells, self.NUMERIC))


def _unique_in(taken: set[str], name: str) -> str:
    candidate, n = name, 2
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    while candidate.lower() in taken:
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        n += 1
    taken.add(candidate.lower())
    return candidate


def temporary_file() -> IO[bytes]:
    """An anonymous file (already unlinked where the OS allows): personal data never stays
    on disk after the download, also when the process dies."""
    return tempfile.TemporaryFile(prefix="tenohira-export-")
