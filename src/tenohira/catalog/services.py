"""Writes to the catalog: importing and exporting the procedure list.

The import is all-or-nothing. Every row is validated first and every problem is
reported with its row number, column and reason; only a file with no problem is applied,
inside one transaction. Applying the same file twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from tenohira.catalog.models import Channel, Department, Identity, LifeEvent, Procedure, Section
from tenohira.core.reading import reading
from tenohira.core.tabular import Table, TableError, read_table, write_table
from tenohira.core.text import fold_width, normalize, split_terms
from tenohira.core.wareki import WarekiError, parse_date

# Column order of the import/export file (documented in docs/catalog-import.md).
COLUMNS = [
    "手続ID", "部局", "所属", "手続名", "よみ", "キーワード", "概要", "対象者", "必要なもの",
    "手数料", "根拠法令", "標準処理期間", "年間申請件数", "申請方法", "申請先URL", "窓口",
    "受付時間", "本人確認", "オンライン化日", "ライフイベント", "公開",
]
REQUIRED_COLUMNS = ["部局", "所属", "手続名"]

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")
_LIST_SEPARATOR = "、"

# Accepted spellings for the coded columns: the Japanese label, the internal code, and a
# few forms clerks commonly write.
CHANNEL_VALUES = {
    **{normalize(str(label)): value for value, label in Channel.choices},
    **{value: value for value in Channel.values},
    normalize("電子申請"): Channel.PLATFORM,
    normalize("外部"): Channel.EXTERNAL,
    normalize("窓口のみ"): Channel.COUNTER,
}
IDENTITY_VALUES = {
    **{normalize(str(label)): value for value, label in Identity.choices},
    **{value: value for value in Identity.values},
    normalize("メール"): Identity.EMAIL,
    normalize("個人番号カード"): Identity.MYNUMBER_CARD,
    normalize("公的個人認証"): Identity.MYNUMBER_CARD,
    normalize("なし"): Identity.NONE,
}
YES = {normalize(v) for v in ("はい", "公開", "yes", "true", "1")} | {"○", "◯"}
NO = {normalize(v) for v in ("いいえ", "非公開", "no", "false", "0")} | {"×"}

# Procedure fields compared to decide whether a row changes anything.
_COMPARED_FIELDS = [
    "code", "section_id", "name", "reading", "keywords", "summary", "eligibility",
    "requirements", "fee", "legal_basis", "processing_days", "annual_applications", "channel",
    "external_url", "counter_place", "counter_hours", "identity", "online_since", "is_published",
]


@dataclass
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.row}行目" if self.row else "ファイル"
        column = f"「{self.column}」" if self.column else ""
        return f"{where} {column}: {self.message}".replace("  ", " ")


class ImportRejected(Exception):
    """The file had problems; nothing was applied."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} 件の誤りがあるため、何も取り込みませんでした。")


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    departments_created: int = 0
    sections_created: int = 0
    readings_derived: int = 0
    source_format: str = ""

    def summary(self) -> str:
        return (
            f"新規 {self.created} 件、更新 {self.updated} 件、変更なし {self.unchanged} 件"
            f"（部局の追加 {self.departments_created}、所属の追加 {self.sections_created}、"
            f"よみの自動付与 {self.readings_derived}）"
        )


@dataclass
class _Row:
    number: int
    department: str
    section: str
    values: dict = field(default_factory=dict)
    life_events: list = field(default_factory=list)
    code: str = ""
    reading_derived: bool = False


def _text(row: dict, column: str) -> str:
    value = row.get(column, "")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def _integer(text: str, *, allow_days: bool = False) -> int | None:
    value = fold_width(text).replace(",", "").replace("件", "").strip()
    if allow_days:
        value = value.removesuffix("日")
    if value == "":
        return None
    if value.endswith(".0"):
        value = value[:-2]
    if not value.isdigit():
        raise ValueError
    return int(value)


def _validate_row(number: int, row: dict, life_events: dict[str, LifeEvent], errors: list[RowError]) -> _Row | None:
    before = len(errors)

    def error(column: str, message: str) -> None:
        errors.append(RowError(number, column, message))

    if row.get("__extra__"):
        error("", "見出しのない列に値があります。列がずれていないか確認してください。")

    department = _text(row, "部局")
    section = _text(row, "所属")
    name = _text(row, "手続名")
    for column, value, limit in (("部局", department, 100), ("所属", section, 100), ("手続名", name, 200)):
        if not value:
            error(column, "必須です。")
        elif len(value) > limit:
            error(column, f"{limit}文字以内にしてください（{len(value)}文字）。")

    code = fold_width(_text(row, "手続ID")).upper()
    if code and not _CODE.match(code):
        error("手続ID", f"「{code}」は使えません。英大文字・数字・ハイフンの20文字以内にしてください。")

    values: dict[str, object] = {"name": name}
    given_reading = _text(row, "よみ")
    if given_reading:
        import jaconv

        values["reading"] = jaconv.kata2hira(fold_width(given_reading))
    for column, attr in (
        ("キーワード", "keywords"), ("概要", "summary"), ("対象者", "eligibility"),
        ("必要なもの", "requirements"), ("手数料", "fee"), ("根拠法令", "legal_basis"),
        ("窓口", "counter_place"), ("受付時間", "counter_hours"),
    ):
        values[attr] = _text(row, column)
    for attr in ("keywords", "requirements"):
        values[attr] = _LIST_SEPARATOR.join(split_terms(values[attr]))

    try:
        values["processing_days"] = _integer(_text(row, "標準処理期間"), allow_days=True)
    except ValueError:
        error("標準処理期間", f"「{_text(row, '標準処理期間')}」は日数（0以上の整数）ではありません。")
    try:
        values["annual_applications"] = _integer(_text(row, "年間申請件数")) or 0
    except ValueError:
        error("年間申請件数", f"「{_text(row, '年間申請件数')}」は件数（0以上の整数）ではありません。")

    channel_text = _text(row, "申請方法")
    channel = CHANNEL_VALUES.get(normalize(channel_text)) if channel_text else Channel.COUNTER
    if channel is None:
        error("申請方法", f"「{channel_text}」は使えません。オンライン・外部サービス・窓口のいずれかです。")
    values["channel"] = channel

    url = _text(row, "申請先URL")
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            error("申請先URL", f"「{url}」は URL（http:// または https:// で始まる）ではありません。")
    values["external_url"] = url
    if channel == Channel.EXTERNAL and not url:
        error("申請先URL", "申請方法が「外部サービス」のときは必須です。")
    if channel == Channel.COUNTER and not values["counter_place"]:
        error("窓口", "申請方法が「窓口」のときは窓口の場所が必須です。")

    identity_text = _text(row, "本人確認")
    identity = IDENTITY_VALUES.get(normalize(identity_text)) if identity_text else Identity.NONE
    if identity is None:
        error("本人確認", f"「{identity_text}」は使えません。不要・メールアドレス・マイナンバーカードのいずれかです。")
    values["identity"] = identity

    raw_date = row.get("オンライン化日", "")
    if isinstance(raw_date, dt.datetime):
        values["online_since"] = raw_date.date()
    elif isinstance(raw_date, dt.date):
        values["online_since"] = raw_date
    elif _text(row, "オンライン化日"):
        try:
            values["online_since"] = parse_date(_text(row, "オンライン化日"))
        except WarekiError as exc:
            error("オンライン化日", str(exc))
    else:
        values["online_since"] = None

    published_text = _text(row, "公開")
    published = normalize(published_text) or published_text
    if published and published not in YES | NO:
        error("公開", f"「{_text(row, '公開')}」は使えません。はい・いいえのどちらかです。")
    values["is_published"] = not published or published not in NO

    events = []
    for event_name in split_terms(_text(row, "ライフイベント")):
        event = life_events.get(normalize(event_name))
        if event is None:
            known = "、".join(e.name for e in dict.fromkeys(life_events.values()))
            error("ライフイベント", f"「{event_name}」は登録されていません（登録済み: {known}）。")
        else:
            events.append(event)

    if len(errors) > before:
        return None
    parsed = _Row(number, department, section, values, events, code)
    if "reading" not in values:
        values["reading"] = reading(name)
        parsed.reading_derived = True
    return parsed


def validate_table(table: Table) -> list[_Row]:
    """Every row checked; raises ImportRejected listing every problem, or returns the rows."""
    errors: list[RowError] = []
    unknown = [h for h in table.headers if h and h not in COLUMNS]
    for header in unknown:
        errors.append(RowError(1, header, f"不明な列です。使える列: {'、'.join(COLUMNS)}"))
    for header in REQUIRED_COLUMNS:
        if header not in table.headers:
            errors.append(RowError(1, header, "必須の列がありません。"))
    duplicated = {h for h in table.headers if h and table.headers.count(h) > 1}
    for header in sorted(duplicated):
        errors.append(RowError(1, header, "同じ見出しの列が2つ以上あります。"))
    if errors:
        raise ImportRejected(errors)
    if not table.rows:
        raise ImportRejected([RowError(0, "", "データの行がありません。")])

    life_events: dict[str, LifeEvent] = {}
    for event in LifeEvent.objects.all():
        life_events[normalize(event.name)] = event
        life_events[normalize(event.slug)] = event

    rows: list[_Row] = []
    seen_codes: dict[str, int] = {}
    seen_keys: dict[tuple, int] = {}
    for number, row in table.rows:
        parsed = _validate_row(number, row, life_events, errors)
        if parsed is None:
            continue
        if parsed.code:
            if parsed.code in seen_codes:
                errors.append(RowError(number, "手続ID", f"{seen_codes[parsed.code]}行目と同じ手続ID「{parsed.code}」です。"))
                continue
            seen_codes[parsed.code] = number
        key = (parsed.department, parsed.section, parsed.values["name"])
        if key in seen_keys:
            errors.append(RowError(number, "手続名", f"{seen_keys[key]}行目と同じ部局・所属・手続名です。"))
            continue
        seen_keys[key] = number
        rows.append(parsed)
    if errors:
        raise ImportRejected(errors)
    return rows


def import_catalog(path: str | Path) -> ImportResult:
    """Validate the whole file, then apply it in one transaction (or raise ImportRejected)."""
    try:
        table = read_table(path)
    except TableError as exc:
        raise ImportRejected([RowError(0, "", str(exc))]) from exc
    rows = validate_table(table)
    result = ImportResult(source_format=table.source_format)
    with transaction.atomic():
        _apply(rows, result)
    return result


def _next_code(used: set[str]) -> str:
    number = len(used) + 1
    while f"P{number:05d}" in used:
        number += 1
    return f"P{number:05d}"


def _apply(rows: list[_Row], result: ImportResult) -> None:
    departments = {d.name: d for d in Department.objects.select_for_update()}
    sections = {(s.department.name, s.name): s for s in Section.objects.select_related("department")}
    procedures = list(Procedure.objects.select_related("section__department").prefetch_related("life_events"))
    by_code = {p.code: p for p in procedures}
    by_key = {(p.section.department.name, p.section.name, p.name): p for p in procedures}
    errors: list[RowError] = []

    dept_order = max((d.order for d in departments.values()), default=0)
    for row in rows:
        department = departments.get(row.department)
        if department is None:
            dept_order += 1
            department = Department.objects.create(name=row.department, reading=reading(row.department), order=dept_order)
            departments[row.department] = department
            result.departments_created += 1
        section = sections.get((row.department, row.section))
        if section is None:
            order = 1 + sum(1 for key in sections if key[0] == row.department)
            section = Section.objects.create(department=department, name=row.section, reading=reading(row.section), order=order)
            sections[(row.department, row.section)] = section
            result.sections_created += 1

        key = (row.department, row.section, row.values["name"])
        procedure = by_code.get(row.code) if row.code else by_key.get(key)
        holder = by_key.get(key)
        if holder is not None and procedure is not None and holder.pk != procedure.pk:
            errors.append(RowError(row.number, "手続名", f"同じ所属に同名の手続き（手続ID: {holder.code}）が既にあります。"))
            continue
        if procedure is None and holder is not None:
            errors.append(RowError(row.number, "手続ID", f"同じ所属に同名の手続きが別の手続ID「{holder.code}」で登録されています。"))
            continue

        values = dict(row.values, section_id=section.pk)
        if procedure is None:
            code = row.code or _next_code(set(by_code))
            procedure = Procedure(code=code, section=section, **{k: v for k, v in values.items() if k != "section_id"})
            procedure.save()
            procedure.life_events.set(row.life_events)
            by_code[code] = procedure
            by_key[key] = procedure
            result.created += 1
            result.readings_derived += int(row.reading_derived)
            continue
        if row.code:
            values["code"] = row.code
        changed = any(getattr(procedure, attr) != values[attr] for attr in values if attr in _COMPARED_FIELDS)
        events_changed = {e.pk for e in procedure.life_events.all()} != {e.pk for e in row.life_events}
        if not changed and not events_changed:
            result.unchanged += 1
            continue
        old_key = (procedure.section.department.name, procedure.section.name, procedure.name)
        for attr, value in values.items():
            setattr(procedure, attr, value)
        procedure.section = section
        procedure.save()
        if events_changed:
            procedure.life_events.set(row.life_events)
        by_key.pop(old_key, None)
        by_key[key] = procedure
        result.updated += 1
        result.readings_derived += int(row.reading_derived)
    if errors:
        # Conflicts with what is already stored can only be seen while applying; undo all.
        raise ImportRejected(errors)


def export_rows() -> list[list[object]]:
    rows = []
    procedures = Procedure.objects.select_related("section__department").prefetch_related("life_events")
    for p in procedures.order_by("section__department__order", "section__department_id", "section__order", "section_id", "code"):
        rows.append([
            p.code, p.section.department.name, p.section.name, p.name, p.reading, p.keywords,
            p.summary, p.eligibility, p.requirements, p.fee, p.legal_basis,
            "" if p.processing_days is None else p.processing_days, p.annual_applications,
            p.get_channel_display(), p.external_url, p.counter_place, p.counter_hours,
            p.get_identity_display(), p.online_since.isoformat() if p.online_since else "",
            _LIST_SEPARATOR.join(e.name for e in p.life_events.all()),
            "はい" if p.is_published else "いいえ",
        ])
    return rows


def export_catalog(target: str, encoding: str = "utf-8-sig") -> int:
    """Write the whole catalog in the import format; returns the number of procedures."""
    rows = export_rows()
    write_table(target, COLUMNS, rows, encoding=encoding)
    return len(rows)
