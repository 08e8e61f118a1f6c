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

from tenohira.catalog.models import (
    CHANNEL_EASE,
    Channel,
    Department,
    Identity,
    LifeEvent,
    Procedure,
    ProcedureChannel,
    Section,
)
from tenohira.core.reading import reading
from tenohira.core.tabular import Table, TableError, read_table, write_table
from tenohira.core.text import fold_width, normalize, split_terms
from tenohira.core.wareki import WarekiError, parse_date, parse_fiscal_year

# Column order of the import/export file (documented in docs/catalog-import.md).
COLUMNS = [
    "手続ID", "部局", "所属", "手続名", "よみ", "キーワード", "概要", "対象者", "必要なもの",
    "手数料", "根拠法令", "標準処理期間", "年間申請件数", "申請方法", "外部サービス名", "申請先URL",
    "郵送先", "窓口", "受付時間", "本人確認", "オンライン化日", "オンライン化予定年度",
    "ライフイベント", "公開", "文書分類", "保存年限",
]
REQUIRED_COLUMNS = ["部局", "所属", "手続名"]

# Headers as municipalities' own inventories spell them, read as the columns above.
HEADER_ALIASES = {
    "部局名": "部局", "部名": "部局", "所属名": "所属", "課名": "所属", "担当課": "所属", "所管課": "所属",
    "手続き名": "手続名", "手続名称": "手続名", "手続きの名称": "手続名", "手続": "手続名", "手続き": "手続名",
    "年間件数": "年間申請件数", "申請件数": "年間申請件数", "申請件数（年間）": "年間申請件数",
    "年間申請件数（件）": "年間申請件数", "件数": "年間申請件数", "オンライン化予定": "オンライン化予定年度",
    "よみがな": "よみ", "ふりがな": "よみ", "フリガナ": "よみ",
}
# Row numbers some inventories carry in their first column: nothing to import.
IGNORED_HEADERS = {"No", "No.", "NO", "NO.", "番号", "通番", "連番", "#"}
# Several counters or external services in one cell: one per line (Alt+Enter in Excel).
_LINES = re.compile(r"\r\n|\r|\n")

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")
_LIST_SEPARATOR = "、"

# Accepted spellings for the coded columns: the Japanese label, the internal code, and a
# few forms clerks commonly write.
CHANNEL_VALUES = {
    **{normalize(str(label)): value for value, label in Channel.choices},
    **{value: value for value in Channel.values},
    normalize("電子申請"): Channel.PLATFORM,
    normalize("オンライン申請"): Channel.PLATFORM,
    normalize("外部"): Channel.EXTERNAL,
    normalize("外部サービスで申請"): Channel.EXTERNAL,
    normalize("郵便"): Channel.POST,
    normalize("窓口のみ"): Channel.COUNTER,
    normalize("来庁"): Channel.COUNTER,
}
IDENTITY_VALUES = {
    **{normalize(str(label)): value for value, label in Identity.choices},
    # Values too (card_signature), compared like everything else: normalised.
    **{normalize(value): value for value in Identity.values},
    normalize("メール"): Identity.EMAIL,
    normalize("メールアドレス"): Identity.EMAIL,
    # Earlier files said only マイナンバーカード: a sign-in with the card.
    normalize("マイナンバーカード"): Identity.CARD_SIGNIN,
    normalize("mynumber_card"): Identity.CARD_SIGNIN,
    normalize("個人番号カード"): Identity.CARD_SIGNIN,
    normalize("公的個人認証"): Identity.CARD_SIGNIN,
    normalize("電子署名"): Identity.CARD_SIGNATURE,
    normalize("GビズID"): Identity.BUSINESS,
    normalize("なし"): Identity.NONE,
}
# What an import error lists: the labels the export writes (which import back as they are).
IDENTITY_CHOICES_TEXT = "・".join(str(label) for _value, label in Identity.choices)
YES = {normalize(v) for v in ("はい", "公開", "yes", "true", "1")} | {"○", "◯"}
NO = {normalize(v) for v in ("いいえ", "非公開", "no", "false", "0")} | {"×"}

# Procedure fields compared to decide whether a row changes anything.
_COMPARED_FIELDS = [
    "code", "section_id", "name", "reading", "keywords", "summary", "eligibility",
    "requirements", "fee", "legal_basis", "processing_days", "annual_applications",
    "identity", "online_since", "planned_online_fiscal_year", "is_published",
    "document_class", "retention_years", "retention_permanent",
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
    # (kind, service_name, url, place, hours) in the order the page shows them
    channels: list = field(default_factory=list)


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

    channels = _channels(row, error)

    identity_text = _text(row, "本人確認")
    identity = IDENTITY_VALUES.get(normalize(identity_text)) if identity_text else Identity.NONE
    if identity is None:
        error("本人確認", f"「{identity_text}」は使えません。{IDENTITY_CHOICES_TEXT}のいずれかです。")
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

    planned = _text(row, "オンライン化予定年度")
    values["planned_online_fiscal_year"] = None
    if planned:
        try:
            values["planned_online_fiscal_year"] = parse_fiscal_year(planned)
        except WarekiError as exc:
            error("オンライン化予定年度", str(exc))

    published_text = _text(row, "公開")
    published = normalize(published_text) or published_text
    if published and published not in YES | NO:
        error("公開", f"「{_text(row, '公開')}」は使えません。はい・いいえのどちらかです。")
    values["is_published"] = not published or published not in NO

    # 保存年限 and 文書分類 only when the file has the column: an inventory without them
    # leaves the periods set in the admin as they are.
    if "文書分類" in row:
        values["document_class"] = _text(row, "文書分類")[:100]
    if "保存年限" in row:
        _retention(_text(row, "保存年限"), values, error)

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
    parsed = _Row(number, department, section, values, events, code, channels=channels)
    if "reading" not in values:
        values["reading"] = reading(name)
        parsed.reading_derived = True
    return parsed


PERMANENT_WORDS = {normalize(v) for v in ("永年", "永久", "永年保存", "常用")}


def _retention(text: str, values: dict, error) -> None:
    """保存年限: `5`, `5年`, `５年` → 5 years; `永年` → never disposed of; empty → site default."""
    if normalize(text) in PERMANENT_WORDS:
        values["retention_years"], values["retention_permanent"] = None, True
        return
    try:
        years = _integer(fold_width(text).removesuffix("年").removesuffix("間"))
    except ValueError:
        years = 0
    if years is not None and not 1 <= years <= 100:
        error("保存年限", f"「{text}」は使えません。1〜100の年数（例: 5、5年）か「永年」にしてください（空欄はサイトの既定）。")
        return
    values["retention_years"], values["retention_permanent"] = years, False


def _lines(text: str) -> list[str]:
    return [line.strip() for line in _LINES.split(text) if line.strip()]


def _channels(row: dict, error) -> list[tuple]:
    """The ways to apply a row names. 申請方法 lists them (オンライン、郵送、窓口 ...); a filled
    申請先URL, 郵送先 or 窓口 adds its way even when 申請方法 is silent. A row that names no
    way at all is a counter procedure at its section: a names-only inventory is the usual
    first catalog, never an error."""
    kinds: list[str] = []
    for term in split_terms(_text(row, "申請方法").replace("・", "、").replace("/", "、").replace("／", "、")):
        kind = CHANNEL_VALUES.get(normalize(term))
        if kind is None:
            error("申請方法", f"「{term}」は使えません。オンライン・外部サービス・郵送・窓口から選び、「、」で区切ってください。")
        elif kind not in kinds:
            kinds.append(kind)
    urls = _lines(_text(row, "申請先URL"))
    names = _lines(_text(row, "外部サービス名"))
    post = _text(row, "郵送先")
    places = _lines(_text(row, "窓口"))
    hours = _lines(_text(row, "受付時間"))
    for url in urls:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            error("申請先URL", f"「{url}」は URL（http:// または https:// で始まる）ではありません。")
    if Channel.EXTERNAL in kinds and not urls:
        error("申請先URL", "申請方法が「外部サービス」のときは必須です。")
    if len(names) > max(len(urls), 1):
        error("外部サービス名", "サービス名の数が申請先URLの数より多くなっています（1行に1つずつ書いてください）。")
    if len(places) > 1 and len(hours) not in (0, 1, len(places)):
        error("受付時間", f"窓口が{len(places)}か所あります。受付時間は1つ（全窓口共通）か、窓口と同じ数だけ行を分けて書いてください。")

    found = []
    if Channel.PLATFORM in kinds:
        found.append((Channel.PLATFORM, "", "", "", ""))
    for index, url in enumerate(urls):
        found.append((Channel.EXTERNAL, names[index] if index < len(names) else "", url, "", ""))
    if Channel.POST in kinds or post:
        found.append((Channel.POST, "", "", post, ""))
    if Channel.COUNTER in kinds or places or hours:
        for index, place in enumerate(places or [""]):
            hour = hours[index] if len(hours) > 1 else (hours[0] if hours else "")
            found.append((Channel.COUNTER, "", "", place, hour))
    return sorted(found, key=lambda c: CHANNEL_EASE[c[0]])


def _canonical_header(header: str) -> str:
    cleaned = fold_width(header).replace(" ", "").replace("\u3000", "").strip()
    if cleaned in COLUMNS or header in COLUMNS:
        return cleaned if cleaned in COLUMNS else header
    return HEADER_ALIASES.get(cleaned, header)


def _with_canonical_headers(table: Table) -> Table:
    """The same table with the headers clerks write (部局名, 手続き名, 年間件数 …) read as
    ours, and row-number columns dropped."""
    mapping = {h: _canonical_header(h) for h in table.headers if h}
    ignored = {h for h in table.headers if fold_width(h).strip() in IGNORED_HEADERS}
    headers = [mapping.get(h, h) for h in table.headers if h not in ignored]
    rows = []
    for number, row in table.rows:
        rows.append((number, {mapping.get(k, k): v for k, v in row.items() if k not in ignored}))
    return Table(headers, rows, table.source_format)


def validate_table(table: Table) -> list[_Row]:
    """Every row checked; raises ImportRejected listing every problem, or returns the rows."""
    errors: list[RowError] = []
    table = _with_canonical_headers(table)
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
    procedures = list(
        Procedure.objects.select_related("section__department").prefetch_related("life_events", "channels")
    )
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
            _set_channels(procedure, row.channels, [])
            by_code[code] = procedure
            by_key[key] = procedure
            result.created += 1
            result.readings_derived += int(row.reading_derived)
            continue
        if row.code:
            values["code"] = row.code
        changed = any(getattr(procedure, attr) != values[attr] for attr in values if attr in _COMPARED_FIELDS)
        events_changed = {e.pk for e in procedure.life_events.all()} != {e.pk for e in row.life_events}
        existing_channels = list(procedure.channels.all())
        channels_changed = [_channel_key(c) for c in existing_channels] != row.channels
        if not changed and not events_changed and not channels_changed:
            result.unchanged += 1
            continue
        old_key = (procedure.section.department.name, procedure.section.name, procedure.name)
        for attr, value in values.items():
            setattr(procedure, attr, value)
        procedure.section = section
        procedure.save()
        if events_changed:
            procedure.life_events.set(row.life_events)
        if channels_changed:
            _set_channels(procedure, row.channels, existing_channels)
        by_key.pop(old_key, None)
        by_key[key] = procedure
        result.updated += 1
        result.readings_derived += int(row.reading_derived)
    if errors:
        # Conflicts with what is already stored can only be seen while applying; undo all.
        raise ImportRejected(errors)


def _channel_key(channel: ProcedureChannel) -> tuple:
    """What the file says of a way to apply (the admin's 持ち物 and 補足 are not in it)."""
    return (channel.kind, channel.service_name, channel.url, channel.place, channel.hours)


def _set_channels(procedure: Procedure, wanted: list[tuple], existing: list[ProcedureChannel]) -> None:
    """Replace the procedure's ways to apply with the file's, keeping what only the
    admin holds (持ち物, 補足) on a way that is still there."""
    kept = {(c.kind, c.place or c.url): c for c in existing}
    ProcedureChannel.objects.filter(procedure=procedure).delete()
    rows = []
    for order, (kind, service_name, url, place, hours) in enumerate(wanted):
        before = kept.get((kind, place or url))
        rows.append(ProcedureChannel(
            procedure=procedure, kind=kind, service_name=service_name, url=url, place=place, hours=hours,
            bring=before.bring if before else "", note=before.note if before else "", order=order,
        ))
    ProcedureChannel.objects.bulk_create(rows)


def export_rows() -> list[list[object]]:
    rows = []
    procedures = Procedure.objects.select_related("section__department").prefetch_related("life_events", "channels")
    for p in procedures.order_by("section__department__order", "section__department_id", "section__order", "section_id", "code"):
        channels = list(p.channels.all())
        kinds = list(dict.fromkeys(c.kind for c in channels))
        external = [c for c in channels if c.kind == Channel.EXTERNAL]
        counters = [c for c in channels if c.kind == Channel.COUNTER]
        post = next((c.place for c in channels if c.kind == Channel.POST), "")
        hours = [c.hours for c in counters]
        rows.append([
            p.code, p.section.department.name, p.section.name, p.name, p.reading, p.keywords,
            p.summary, p.eligibility, p.requirements, p.fee, p.legal_basis,
            "" if p.processing_days is None else p.processing_days, p.annual_applications,
            _LIST_SEPARATOR.join(str(Channel(kind).label) for kind in kinds),
            "\n".join(c.service_name for c in external) if any(c.service_name for c in external) else "",
            "\n".join(c.url for c in external),
            post,
            "\n".join(c.place for c in counters) if any(c.place for c in counters) else "",
            hours[0] if len(set(hours)) == 1 else "\n".join(hours),
            p.get_identity_display(), p.online_since.isoformat() if p.online_since else "",
            p.planned_online_fiscal_year or "",
            _LIST_SEPARATOR.join(e.name for e in p.life_events.all()),
            "はい" if p.is_published else "いいえ",
            p.document_class,
            "永年" if p.retention_permanent else (f"{p.retention_years}年" if p.retention_years else ""),
        ])
    return rows


def export_catalog(target: str, encoding: str = "utf-8-sig") -> int:
    """Write the whole catalog in the import format; returns the number of procedures."""
    rows = export_rows()
    write_table(target, COLUMNS, rows, encoding=encoding)
    return len(rows)
