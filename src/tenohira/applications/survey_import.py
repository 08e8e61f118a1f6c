"""Survey responses keyed from paper (紙のアンケート), imported from CSV or XLSX.

A clerk types the paper answers into Excel, one row per response, under a header row of
the survey's question labels (or keys; the blank template from `template_headers` has
them). Every row goes through the same field types and conditions as the online form
(forms.engine.FormRun), so an imported answer is exactly what the form would have
accepted online. All or nothing: one bad row and nothing is stored, and every problem is
listed with its row (as Excel numbers it) and column.

What a cell may hold:
- a choice by its label (「満足」) or its value (satisfied);
- a multiple choice in one column separated by 「、」「,」「;」, or one column per option
  (見出し「来庁した目的：証明書の取得」) marked ○ / 1 / はい;
- numbers with full-width digits or commas; dates in 和暦 (令和6年4月1日, R6.4.1) or ISO;
- はい / いいえ (or 1 / 0, ○ / ×) for yes-no questions;
- nothing, where the question is not required. A question that the form would not show
  (its condition is not met) must be left blank: a value there is an error, not dropped.
An optional 回答日 column gives the day the paper was filled in; otherwise the import
time. Imported responses have the channel 紙 (paper).

Bounded before anything is converted: the file's size, the number of columns and rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tenohira.applications.models import (
    Channel,
    ReceiptCounter,
    Submission,
    SubmissionEvent,
    SubmissionVersion,
)
from tenohira.applications.receipts import DEFAULT_FORMAT, new_status_secret
from tenohira.core.fiscal import JST, fiscal_year
from tenohira.core.tabular import TableError, _rows_from_records, decode_csv_bytes
from tenohira.core.text import fold_width
from tenohira.core.wareki import WarekiError, parse_date
from tenohira.forms.engine import FormRun
from tenohira.forms.fields import FIELD_TYPES
from tenohira.forms.models import FormDefinition

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 500
MAX_CELL = 10_000  # longer than any input the form takes (forms.fields.MAX_INPUT_LENGTH)
MAX_PROBLEMS = 1_000  # listed; the count says how many more there were
DATE_COLUMN = "回答日"
#: Field types a paper response cannot carry (a file, repeating rows) or that hold no answer.
NOT_IMPORTED = frozenset({"file", "group", "computed", "guidance", "consent"})
_SEPARATORS = re.compile(r"[、,，;；\n]")
_MARKED = {"○", "〇", "◯", "●", "1", "true", "yes", "はい", "✓", "✔", "x", "ｘ"}
_UNMARKED = {"", "0", "×", "false", "no", "いいえ", "-", "－"}
_YES = {"はい", "yes", "1", "○", "〇", "◯", "true", "有", "あり"}
_NO = {"いいえ", "no", "0", "×", "false", "無", "なし"}
OPTION_MARK = "："  # 「来庁した目的：証明書の取得」: one column per option


class ImportRefused(Exception):
    """The file cannot be imported at all (format, size, header)."""


@dataclass
class Problem:
    row: int  # as Excel shows it (the header is row 1)
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.row}行目" + (f"「{self.column}」" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class Outcome:
    imported: int = 0
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, eq=False)
class Column:
    field: object  # forms.schema.Field
    part: str = ""  # a compound field's part (name: family, given, …)
    option: str = ""  # the choice value of a one-column-per-option multichoice


# --- the header ------------------------------------------------------------------------


def importable_fields(schema) -> list:
    return [f for step in schema.steps for f in step.fields if f.type not in NOT_IMPORTED]


def template_headers(schema) -> list[str]:
    """The header row of the blank template: each question's label (a compound question
    one column per part), then 回答日."""
    headers = []
    for fld in importable_fields(schema):
        parts = FIELD_TYPES[fld.type].parts
        headers += [f"{fld.label}（{label}）" for label in parts.values()] if parts else [fld.label]
    return [*headers, DATE_COLUMN]


def _norm(text: str) -> str:
    return fold_width(str(text)).strip().replace(" ", "").replace("\u3000", "")


def _header_names(schema) -> dict[str, Column]:
    names: dict[str, Column] = {}
    for fld in importable_fields(schema):
        parts = FIELD_TYPES[fld.type].parts
        if parts:
            for part, label in parts.items():
                for name in (f"{fld.label}（{label}）", f"{fld.label}({label})", f"{fld.key}__{part}"):
                    names.setdefault(_norm(name), Column(fld, part=part))
            continue
        names.setdefault(_norm(fld.label), Column(fld))
        names.setdefault(_norm(fld.key), Column(fld))
        if fld.type == "multichoice":
            for choice in fld.option("choices", []):
                for head in (fld.label, fld.key):
                    for tail in (choice["label"], choice["value"]):
                        for mark in (OPTION_MARK, ":", "／", "/"):
                            names.setdefault(_norm(f"{head}{mark}{tail}"), Column(fld, option=str(choice["value"])))
    return names


def map_headers(schema, headers: list[str]) -> tuple[dict[int, Column], int | None, list[Problem]]:
    """(column index → Column, index of 回答日 or None, problems of the header row)."""
    names = _header_names(schema)
    columns: dict[int, Column] = {}
    date_index = None
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str], str] = {}
    for index, header in enumerate(headers):
        if not str(header).strip():
            problems.append(Problem(1, f"{index + 1}列目", "見出しが空です。質問の見出しを入れるか、列を削除してください。"))
            continue
        if _norm(header) == _norm(DATE_COLUMN):
            date_index = index
            continue
        column = names.get(_norm(header))
        if column is None:
            problems.append(Problem(1, header, "このアンケートにない質問です。見出しを質問の文（またはキー）に合わせてください。"))
            continue
        identity = (column.field.key, column.part, column.option)
        if identity in seen:
            problems.append(Problem(1, header, f"「{seen[identity]}」と同じ質問の列です。どちらか一方にしてください。"))
            continue
        seen[identity] = header
        columns[index] = column
    kinds: dict[str, set[bool]] = {}
    for column in columns.values():
        kinds.setdefault(column.field.key, set()).add(bool(column.option))
    for key, flags in kinds.items():
        if len(flags) > 1:
            label = next(c.field.label for c in columns.values() if c.field.key == key)
            problems.append(Problem(1, label, "選択肢ごとの列と、まとめた1列の両方があります。どちらか一方にしてください。"))
    return columns, date_index, problems


# --- cells into the form's raw inputs --------------------------------------------------


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _choice_value(fld, text: str) -> str:
    """A choice typed by its label or its value (width and spaces ignored); anything else
    as typed, for the field type to refuse with its own message."""
    wanted = _norm(text)
    for choice in fld.option("choices", []):
        if wanted in (_norm(choice["label"]), _norm(choice["value"])):
            return str(choice["value"])
    return text


def _cell_inputs(column: Column, text: str) -> list[str]:
    fld = column.field
    if fld.type == "choice":
        return [_choice_value(fld, text)]
    if fld.type == "multichoice":
        return [_choice_value(fld, part.strip()) for part in _SEPARATORS.split(text) if part.strip()]
    if fld.type == "yesno":
        folded = _norm(text).lower()
        return ["yes" if folded in _YES else "no" if folded in _NO else text]
    return [text]


def _raw_of(schema, columns: dict[int, Column], values: list, row_number: int, problems: list[Problem]):
    """The raw inputs per step (as the form's pages would post them) from one row."""
    raw: dict[str, dict[str, list[str]]] = {}
    step_of = {f.key: step.key for step in schema.steps for f in step.fields}
    given: dict[str, str] = {}  # field key → header of a column with a value
    for index, column in columns.items():
        fld = column.field
        text = _text(values[index] if index < len(values) else "")
        if len(text) > MAX_CELL:
            problems.append(Problem(row_number, fld.label, f"{MAX_CELL}文字を超えています。"))
            continue
        inputs = raw.setdefault(step_of[fld.key], {})
        if column.option:
            mark = _norm(text).lower()
            if mark in _UNMARKED:
                continue
            if mark not in _MARKED:
                problems.append(Problem(row_number, fld.label, f"「{text}」は印として読み取れません。選んだ選択肢には ○ か 1 を入れてください。"))
                continue
            inputs.setdefault(fld.key, []).append(column.option)
            given.setdefault(fld.key, fld.label)
            continue
        if not text:
            continue
        name = f"{fld.key}__{column.part}" if column.part else fld.key
        inputs[name] = _cell_inputs(column, text)
        given.setdefault(fld.key, fld.label)
    return raw, given


def _problems_of(run: FormRun, given: dict[str, str], row_number: int) -> list[Problem]:
    found = []
    labels = {f.key: f.label for f in run.schema.all_fields()}
    for step in run.visible:
        for prefix, problem in run.outcomes[step.key].problems.items():
            key = prefix.split("-", 1)[0]
            found.append(Problem(row_number, labels.get(key, key), problem.message))
    # Conditions: a question the form would not have shown must stay blank on paper too.
    for key, label in given.items():
        if key not in run.answers and not any(key == p.split("-", 1)[0] for s in run.visible
                                              for p in run.outcomes[s.key].problems):
            found.append(Problem(row_number, label, "この回答では答えない質問です（条件に当てはまりません）。空欄にしてください。"))
    return found


def _answered_at(value, row_number: int, now: dt.datetime, problems: list[Problem]) -> dt.datetime:
    if value in (None, ""):
        return now
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = parse_date(str(value))
        except WarekiError as exc:
            problems.append(Problem(row_number, DATE_COLUMN, str(exc)))
            return now
    if day > timezone.localdate(now):
        problems.append(Problem(row_number, DATE_COLUMN, "未来の日付です。"))
        return now
    # Noon in Japan: the day stays the day whatever the time zone a report is read in.
    return dt.datetime.combine(day, dt.time(12, 0), tzinfo=JST)


# --- reading the file ------------------------------------------------------------------


def read_rows(data: bytes, filename: str = "") -> tuple[list[str], list[tuple[int, list]]]:
    """(headers, [(row number, cell values)]) of a CSV (UTF-8, UTF-8 with BOM, CP932) or
    XLSX file, refused with ImportRefused past MAX_BYTES, MAX_COLUMNS or MAX_ROWS."""
    if len(data) > MAX_BYTES:
        raise ImportRefused(f"ファイルが大きすぎます（{MAX_BYTES // (1024 * 1024)}MB まで）。")
    if not data.strip():
        raise ImportRefused("ファイルが空です。")
    if data[:4] == b"PK\x03\x04":
        records = _xlsx_records(data)
    elif filename.lower().endswith((".xlsx", ".xlsm")):
        raise ImportRefused("XLSX ファイルとして読み取れません。Excel で保存し直してください。")
    else:
        try:
            text, _encoding = decode_csv_bytes(data)
        except TableError as exc:
            raise ImportRefused(str(exc)) from exc
        records = csv.reader(io.StringIO(text, newline=""))
    bounded = _bounded(records)
    try:
        table = _rows_from_records(bounded, "import")
    except (TableError, csv.Error) as exc:
        raise ImportRefused(str(exc)) from exc
    if len(table.headers) > MAX_COLUMNS:
        raise ImportRefused(f"列が多すぎます（{MAX_COLUMNS}列まで）。")
    if len(table.rows) > MAX_ROWS:
        raise ImportRefused(f"行が多すぎます（回答は{MAX_ROWS:,}件まで）。ファイルを分けて取り込んでください。")
    rows = [(number, [row.get(h, "") for h in table.headers] + list(row.get("__extra__", [])))
            for number, row in table.rows]
    return table.headers, rows


def _bounded(records):
    """At most MAX_ROWS + 2 records (header and one too many, to say so), each cut at
    MAX_COLUMNS + 1 cells: the reading stops there whatever the file holds."""
    for record in itertools.islice(records, MAX_ROWS + 2):
        yield list(itertools.islice(record, MAX_COLUMNS + 1))


def _xlsx_records(data: bytes):
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file  # noqa: BLE001
        raise ImportRefused(f"XLSX ファイルを読み取れません: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        return list(_bounded(sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)))
    finally:
        workbook.close()


# --- the import ------------------------------------------------------------------------


def survey_version(procedure):
    """The survey's published version, or ImportRefused."""
    definition = getattr(procedure, "form", None)
    if definition is None or definition.kind != FormDefinition.Kind.SURVEY:
        raise ImportRefused("この手続きはアンケートではありません。")
    version = definition.published_version()
    if version is None:
        raise ImportRefused("このアンケートはまだ公開されていません。")
    return version


def import_responses(procedure, data: bytes, *, filename: str = "", dry_run: bool = False, actor=None) -> Outcome:
    """Check every row of the file against the survey and store them all, or none.

    The caller audits (the view and the command name who imported what)."""
    version = survey_version(procedure)
    schema = version.parsed()
    headers, rows = read_rows(data, filename)
    columns, date_index, problems = map_headers(schema, headers)
    outcome = Outcome(rows=len(rows), dry_run=dry_run)
    if not problems and not columns:
        problems.append(Problem(1, "", "質問の列が1つもありません。"))
    now = timezone.now()
    prepared = []
    if not problems:
        for number, values in rows:
            row_problems: list[Problem] = []
            raw, given = _raw_of(schema, columns, values, number, row_problems)
            run = FormRun(schema, raw)
            row_problems += _problems_of(run, given, number)
            at = _answered_at(values[date_index] if date_index is not None and date_index < len(values) else "",
                              number, now, row_problems)
            if len(values) > len(headers) and any(_text(v) for v in values[len(headers):]):
                row_problems.append(Problem(number, f"{len(headers) + 1}列目", "見出しのない列に値があります。"))
            problems += row_problems
            if not row_problems:
                prepared.append((run, at))
    if problems:
        outcome.problems = problems[:MAX_PROBLEMS]
        outcome.more_problems = max(0, len(problems) - MAX_PROBLEMS)
        return outcome
    if not dry_run:
        _store(procedure, version, prepared, actor)
    outcome.imported = len(prepared)
    return outcome


def _reserve(code: str, year: int, count: int) -> int:
    """Reserve `count` receipt sequences in one statement; returns the last of them."""
    table = ReceiptCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (procedure_code, fiscal_year, last) VALUES (%s, %s, %s) "  # noqa: S608 (our table)
            f"ON CONFLICT (procedure_code, fiscal_year) DO UPDATE SET last = {table}.last + %s RETURNING last",
            [code, year, count, count],
        )
        return cursor.fetchone()[0]


@transaction.atomic
def _store(procedure, version, prepared, actor) -> None:
    from tenohira.applications.services import _hash, anonymous_answers

    definition = version.definition
    template = getattr(settings, "RECEIPT_NUMBER_FORMAT", DEFAULT_FORMAT)
    by_year: dict[int, int] = {}
    for _run, at in prepared:
        year = fiscal_year(at)
        by_year[year] = by_year.get(year, 0) + 1
    next_of = {year: _reserve(procedure.code, year, count) - count + 1 for year, count in by_year.items()}
    # The status code of a paper response is never shown to anyone: a random one keeps the
    # column's meaning (a hash of a secret) without a way to look the response up.
    unknowable = _hash(new_status_secret())
    submissions, versions, events = [], [], []
    for run, at in prepared:
        year = fiscal_year(at)
        number = template.format(fiscal_year=year, code=procedure.code, sequence=next_of[year])
        next_of[year] += 1
        if definition.anonymous:
            answers, summary = anonymous_answers(run)
        else:
            answers = run.answers
            summary = [{"title": row["step"].title, "items": row["items"]} for row in run.summary()]
        submissions.append(Submission(
            receipt_number=number, procedure=procedure, section_id=procedure.section_id, form_version=version,
            answers=answers, summary=summary, channel=Channel.PAPER, status_secret_hash=unknowable,
            submitted_at=at, status_changed_at=at,
        ))
    Submission.objects.bulk_create(submissions, batch_size=1000)
    # PostgreSQL returns the new ids; SQLite (3.35+) does too through Django 5.
    for submission in submissions:
        versions.append(SubmissionVersion(submission_id=submission.pk, number=1, answers=submission.answers,
                                          summary=submission.summary, created_at=submission.submitted_at))
        events.append(SubmissionEvent(submission_id=submission.pk, at=submission.submitted_at, actor=actor,
                                      actor_label="紙の回答の取込", from_status="",
                                      to_status=Submission.Status.RECEIVED))
    SubmissionVersion.objects.bulk_create(versions, batch_size=1000)
    SubmissionEvent.objects.bulk_create(events, batch_size=1000)
