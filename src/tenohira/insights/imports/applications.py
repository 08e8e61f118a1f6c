"""Application logs exported from other e-application systems (`tenohira insights
import-applications FILE`), so that online counts and the outside-office-hours share also
cover procedures run elsewhere (ぴったりサービス, かんたん電子申請, a vendor's system).

Columns (Japanese or English header; CSV in UTF-8/UTF-8 with BOM/CP932, or XLSX):

    手続名 / procedure       required; matched to a catalog procedure by normalised name
    申請日時 / submitted_at  required; 2023-11-06 17:20, 2023/11/6 17:20:00,
                             2023-11-06T17:20:00+09:00, 令和5年11月6日 17:20, an XLSX date
                             cell; without an offset the time is Japan time
    申請方法 / channel       required; オンライン/online, 窓口/counter, 郵送/mail, FAX/fax,
                             電話/phone, その他/other
    部局 / department        optional; the department of a procedure not in the catalog
                             (and the tie-break when two catalog procedures share a name)
    受付番号 / reference     optional; the other system's id of the application

Other columns are ignored (and named in the result). The import is all-or-nothing: every
row is checked and every problem reported with its row and column (ImportRejected), or
everything is applied in one transaction. Importing a file again adds nothing: each row is
stored with source_key = sha256 of its normalised values (the moment in UTC, so
"2023/11/6 17:20" and "2023-11-06T17:20+09:00" are the same row); identical rows of one
file (two applications in the same minute) are told apart by their order of occurrence.
New rows are added to the daily counts (insights.aggregates) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from tenohira.catalog.services import ImportRejected, RowError
from tenohira.core import calendar
from tenohira.core.fiscal import JST
from tenohira.core.tabular import TableError, read_table
from tenohira.core.text import fold_width, normalize
from tenohira.core.wareki import WarekiError, parse_date
from tenohira.insights import aggregates
from tenohira.insights.models import ExternalApplication

COLUMNS = {
    "procedure": ("手続名", "手続き名", "procedure"),
    "submitted_at": ("申請日時", "submitted_at"),
    "channel": ("申請方法", "申請経路", "channel"),
    "department": ("部局", "department"),
    "reference": ("受付番号", "reference"),
}
REQUIRED = ("procedure", "submitted_at", "channel")

CHANNELS = {
    "online": ("オンライン", "online", "電子申請", "電子", "インターネット", "ネット", "web", "ウェブ"),
    "counter": ("窓口", "counter", "来庁", "窓口申請"),
    "mail": ("郵送", "mail", "郵便", "post"),
    "fax": ("FAX", "ファクス", "ファックス", "ファクシミリ"),
    "phone": ("電話", "phone"),
    "other": ("その他", "other"),
}
_CHANNEL_OF = {normalize(spelling): code for code, spellings in CHANNELS.items() for spelling in spellings}
CHANNEL_HELP = "オンライン・窓口・郵送・FAX・電話・その他（online, counter, mail, fax, phone, other）"

_TIME = re.compile(
    r"(?:[T\s]+|(?<=日))(?P<h>\d{1,2})(?::|時)(?P<m>\d{1,2})(?:(?::|分)(?P<s>\d{1,2})(?:\.(?P<f>\d{1,6}))?秒?)?分?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)
# Clocks of two systems may disagree by a little; a log from further in the future is a typo.
FUTURE_TOLERANCE = dt.timedelta(minutes=10)


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    already_imported: int = 0
    matched: int = 0  # rows whose procedure is in the catalog
    unmatched_names: list[str] = field(default_factory=list)
    ambiguous_names: list[str] = field(default_factory=list)  # several catalog procedures, no 部局 to choose
    ignored_columns: list[str] = field(default_factory=list)
    source_format: str = ""

    def summary(self) -> str:
        text = (
            f"{self.rows} 行のうち新規 {self.created} 件、取込済み {self.already_imported} 件"
            f"（カタログの手続きに一致 {self.matched} 行）"
        )
        if self.unmatched_names:
            text += f"。カタログにない手続名: {'、'.join(self.unmatched_names[:20])}"
            if len(self.unmatched_names) > 20:
                text += f" ほか{len(self.unmatched_names) - 20}件"
        if self.ambiguous_names:
            text += f"。同名の手続きが複数あり部局で選べないもの: {'、'.join(self.ambiguous_names)}"
        if self.ignored_columns:
            text += f"。読まなかった列: {'、'.join(self.ignored_columns)}"
        return text


@dataclass
class _Row:
    number: int
    name: str
    submitted_at: dt.datetime
    channel: str
    department: str
    reference: str


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(fold_width(str(value)).split())


def parse_moment(value: object) -> dt.datetime:
    """An aware datetime from a cell; naive values are Japan time. Raises ValueError with
    the message for the clerk."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=JST) if value.tzinfo is None else value
    if isinstance(value, dt.date):
        raise ValueError(f"「{value.isoformat()}」には時刻がありません。時間外の判定には時刻が必要です。")
    raw = str(value).strip()
    text = fold_width(raw).strip()
    if not text:
        raise ValueError("必須です。")
    match = _TIME.search(text)
    if match is None:
        try:
            parse_date(text)
        except WarekiError:
            pass
        else:
            raise ValueError(f"「{raw}」には時刻がありません。時間外の判定には時刻が必要です。")
        raise ValueError(f"「{raw}」を日時として読み取れません（例: 2023-11-06 17:20、2023/11/6 17:20:00、2023-11-06T17:20:00+09:00）。")
    try:
        day = parse_date(text[: match.start()].strip())
    except WarekiError as exc:
        raise ValueError(str(exc)) from None
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"「{raw}」の時刻が正しくありません。")
    micro = int((match["f"] or "0").ljust(6, "0"))
    zone = JST
    if match["tz"]:
        if match["tz"] == "Z":
            zone = dt.UTC
        else:
            sign = -1 if match["tz"][0] == "-" else 1
            digits = match["tz"][1:].replace(":", "")
            offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            if offset > dt.timedelta(hours=14):
                raise ValueError(f"「{raw}」の時差が正しくありません。")
            zone = dt.timezone(sign * offset)
    return dt.datetime.combine(day, dt.time(hour, minute, second, micro), tzinfo=zone)


def _headers(headers: list[str], errors: list[RowError]) -> tuple[dict[str, str], list[str]]:
    """{field: header in the file}, and the headers that are not read."""
    known = {normalize(spelling): name for name, spellings in COLUMNS.items() for spelling in spellings}
    found: dict[str, str] = {}
    ignored = []
    for header in headers:
        if not header:
            continue
        name = known.get(normalize(header))
        if name is None:
            ignored.append(header)
        elif name in found:
            errors.append(RowError(1, header, f"「{found[name]}」と同じ項目の列です。どちらか一つにしてください。"))
        else:
            found[name] = header
    for name in REQUIRED:
        if name not in found:
            spelled = "」または「".join(COLUMNS[name])
            errors.append(RowError(1, COLUMNS[name][0], f"必須の列がありません（見出し「{spelled}」）。"))
    return found, ignored


def validate(path: str | Path) -> tuple[list[_Row], ImportResult]:
    """Every row checked; raises ImportRejected with every problem, or returns the rows."""
    try:
        table = read_table(path)
    except TableError as exc:
        raise ImportRejected([RowError(0, "", str(exc))]) from exc
    errors: list[RowError] = []
    duplicated = sorted({h for h in table.headers if h and table.headers.count(h) > 1})
    for header in duplicated:
        errors.append(RowError(1, header, "同じ見出しの列が2つ以上あります。"))
    columns, ignored = _headers(table.headers, errors)
    if errors:
        raise ImportRejected(errors)
    if not table.rows:
        raise ImportRejected([RowError(0, "", "データの行がありません。")])
    latest = timezone.now() + FUTURE_TOLERANCE
    rows: list[_Row] = []
    for number, values in table.rows:
        before = len(errors)
        if values.get("__extra__"):
            errors.append(RowError(number, "", "見出しのない列に値があります。列がずれていないか確認してください。"))

        def cell(name: str, values=values) -> str:
            return _cell_text(values.get(columns[name], "")) if name in columns else ""

        name = cell("procedure")
        if not name:
            errors.append(RowError(number, columns["procedure"], "必須です。"))
        elif len(name) > 300:
            errors.append(RowError(number, columns["procedure"], f"300文字以内にしてください（{len(name)}文字）。"))
        moment = None
        try:
            moment = parse_moment(values.get(columns["submitted_at"], ""))
        except ValueError as exc:
            errors.append(RowError(number, columns["submitted_at"], str(exc)))
        if moment is not None and moment > latest:
            errors.append(RowError(number, columns["submitted_at"], f"「{cell('submitted_at')}」は未来の日時です。"))
        channel_text = cell("channel")
        channel = _CHANNEL_OF.get(normalize(channel_text)) if channel_text else None
        if channel is None:
            message = f"「{channel_text}」は使えません。{CHANNEL_HELP}のいずれかです。" if channel_text else "必須です。"
            errors.append(RowError(number, columns["channel"], message))
        department = cell("department")
        if len(department) > 100:
            errors.append(RowError(number, columns["department"], f"100文字以内にしてください（{len(department)}文字）。"))
        reference = cell("reference")
        if len(reference) > 100:
            errors.append(RowError(number, columns["reference"], f"100文字以内にしてください（{len(reference)}文字）。"))
        if len(errors) == before:
            rows.append(_Row(number, name, moment, channel, department, reference))
    if errors:
        raise ImportRejected(errors)
    return rows, ImportResult(rows=len(rows), ignored_columns=ignored, source_format=table.source_format)


def source_keys(rows: list[_Row]) -> list[str]:
    """sha256 of each row's normalised values and its occurrence among identical rows."""
    seen: Counter = Counter()
    keys = []
    for row in rows:
        moment = row.submitted_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
        parts = (normalize(row.name), moment, row.channel, normalize(row.department), row.reference)
        seen[parts] += 1
        text = "\x1f".join((*parts, str(seen[parts])))
        keys.append(hashlib.sha256(text.encode()).hexdigest())
    return keys


def _catalog():
    """normalised name → [(procedure id, name, department name)]."""
    from tenohira.catalog.models import Procedure

    found = defaultdict(list)
    for pk, name, department in Procedure.objects.values_list("pk", "name", "section__department__name"):
        found[normalize(name)].append((pk, name, department))
    return found


def import_file(path: str | Path) -> ImportResult:
    """Validate the whole file, then store its new rows and count them, in one transaction
    (or raise ImportRejected and change nothing)."""
    rows, result = validate(path)
    keys = source_keys(rows)
    catalog = _catalog()
    unmatched: set[str] = set()
    ambiguous: set[str] = set()
    source = Path(path).name[:200]
    with transaction.atomic():
        existing: set[str] = set()
        for first in range(0, len(keys), 1000):
            existing.update(
                ExternalApplication.objects.filter(source_key__in=keys[first:first + 1000]).values_list("source_key", flat=True)
            )
        cal = calendar.current()
        new: list[ExternalApplication] = []
        deltas: dict[aggregates.Key, int] = defaultdict(int)
        names: dict[aggregates.Key, tuple[str, str]] = {}
        for row, key in zip(rows, keys, strict=True):
            candidates = catalog.get(normalize(row.name), [])
            if len(candidates) > 1 and row.department:
                candidates = [c for c in candidates if normalize(c[2]) == normalize(row.department)]
            match = candidates[0] if len(candidates) == 1 else None
            if match:
                result.matched += 1
            elif candidates:
                ambiguous.add(row.name)
            else:
                unmatched.add(row.name)
            if key in existing:
                result.already_imported += 1
                continue
            existing.add(key)
            new.append(ExternalApplication(
                procedure_name=row.name, procedure_id=match[0] if match else None, submitted_at=row.submitted_at,
                channel=row.channel, department=row.department, source=source, source_key=key,
            ))
            daily = aggregates.Key(
                day=row.submitted_at.astimezone(JST).date(), procedure_id=match[0] if match else None,
                procedure_name="" if match else row.name, department="" if match else row.department,
                channel=row.channel, outside_hours=cal.is_outside_office_hours(row.submitted_at),
            )
            deltas[daily] += 1
            if match:
                names[daily] = (match[1], match[2])
        ExternalApplication.objects.bulk_create(new, batch_size=1000)
        aggregates.add_counts(deltas, names)
    result.created = len(new)
    result.unmatched_names = sorted(unmatched)
    result.ambiguous_names = sorted(ambiguous)
    return result
