"""手続棚卸: importing the yearly procedure inventory (`tenohira insights import-inventory`).

Two shapes are accepted, told apart by their headers (English or Japanese, any order):

- **department totals** (部局計), like tests/insights/data/online_by_department_fy2023.csv: 部局,
  手続数, オンライン化手続数, 年間申請件数, オンライン化手続の申請件数, optionally the previous
  survey's four counts (前回手続数 …) and the published rates (公表オンライン化率, 公表カバー率).
  The fiscal year is given by the caller (`--fy`); the previous columns are stored as the
  year before. Published rates are kept only to be checked against the counts.
- **procedures** (手続ごと): 部局, 所属, 手続名, オンライン化, 年間申請件数, optionally
  オンライン申請件数, 窓口申請件数 and 年度 (else `--fy`).

Like the catalog import it is all-or-nothing: every row is validated first and every
problem is reported with its row and column; only a file without problems is applied, in
one transaction. Importing the same file again changes nothing (rows are updated in place).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from tenohira.catalog.services import ImportRejected, RowError
from tenohira.core.tabular import Table, TableError, read_table
from tenohira.core.text import fold_width, normalize
from tenohira.insights.imports import _cells
from tenohira.insights.models import InventoryDepartment, InventoryProcedure

DEPARTMENTS = "departments"
PROCEDURES = "procedures"

# Canonical key → accepted headers. Headers are compared in normalize()d form, so width,
# case, spaces, underscores and "(%)" do not matter.
_DEPARTMENT_HEADERS = {
    "department": ["department", "部局", "部局名"],
    "procedures": ["procedures", "手続数"],
    "online_procedures": ["online_procedures", "オンライン化手続数"],
    "annual_applications": ["annual_applications", "年間申請件数"],
    "covered_applications": ["covered_applications", "オンライン化手続の申請件数", "オンライン化手続申請件数"],
    "prev_procedures": ["prev_procedures", "previous_procedures", "前回手続数"],
    "prev_online_procedures": ["prev_online_procedures", "previous_online_procedures", "前回オンライン化手続数"],
    "prev_annual_applications": ["prev_annual_applications", "previous_annual_applications", "前回年間申請件数"],
    "prev_covered_applications": [
        "prev_covered_applications", "previous_covered_applications",
        "前回オンライン化手続の申請件数", "前回オンライン化手続申請件数",
    ],
    "published_online_rate": ["published_online_rate_pct", "published_online_rate", "公表オンライン化率"],
    "published_coverage_rate": ["published_coverage_rate_pct", "published_coverage_rate", "公表カバー率"],
}
_DEPARTMENT_REQUIRED = ["department", "procedures", "online_procedures", "annual_applications", "covered_applications"]
_PREVIOUS = ["prev_procedures", "prev_online_procedures", "prev_annual_applications", "prev_covered_applications"]

_PROCEDURE_HEADERS = {
    "department": ["department", "部局", "部局名"],
    "section": ["section", "所属", "所属名", "課"],
    "name": ["procedure", "name", "手続名", "手続き名"],
    "online": ["online", "オンライン化", "オンライン化済み"],
    "annual_applications": ["annual_applications", "年間申請件数"],
    "online_applications": ["online_applications", "オンライン申請件数"],
    "counter_applications": ["counter_applications", "窓口申請件数", "窓口・紙の申請件数"],
    "fiscal_year": ["fiscal_year", "年度"],
}
_PROCEDURE_REQUIRED = ["department", "name", "online", "annual_applications"]

# The Japanese name of each column, for messages about a column the file lacks.
LABELS = {
    "department": "部局", "procedures": "手続数", "online_procedures": "オンライン化手続数",
    "annual_applications": "年間申請件数", "covered_applications": "オンライン化手続の申請件数",
    "prev_procedures": "前回手続数", "prev_online_procedures": "前回オンライン化手続数",
    "prev_annual_applications": "前回年間申請件数", "prev_covered_applications": "前回オンライン化手続の申請件数",
    "published_online_rate": "公表オンライン化率", "published_coverage_rate": "公表カバー率",
    "section": "所属", "name": "手続名", "online": "オンライン化", "online_applications": "オンライン申請件数",
    "counter_applications": "窓口申請件数", "fiscal_year": "年度",
}

YES = {normalize(v) for v in ("はい", "オンライン", "オンライン化済み", "済", "yes", "true", "1", "online")} | {"○", "◯"}
NO = {normalize(v) for v in ("いいえ", "窓口", "未", "no", "false", "0", "counter")} | {"×"}

_ERA = re.compile(r"^(令和|平成|R|H)(\d+|元)年?度?$")
_ERA_START = {"令和": 2018, "R": 2018, "平成": 1988, "H": 1988}


@dataclass
class ImportResult(_cells.ImportCounts):
    shape: str = ""
    removed: int = 0
    fiscal_years: list[int] = field(default_factory=list)

    def summary(self) -> str:
        kind = "部局計" if self.shape == DEPARTMENTS else "手続ごと"
        years = "・".join(f"{y}年度" for y in self.fiscal_years)
        removed = f"、削除 {self.removed} 件" if self.removed else ""
        return f"{kind}（{years}）: {self.counts()}{removed}"


def _aliases(spec: dict[str, list[str]]) -> dict[str, str]:
    return {normalize(alias): key for key, aliases in spec.items() for alias in aliases}


def _columns(table: Table, spec: dict[str, list[str]], errors: list[RowError]) -> dict[str, str]:
    """Canonical key → the header as written in the file. Unknown headers are errors."""
    aliases = _aliases(spec)
    found: dict[str, str] = {}
    for header in table.headers:
        if not header:
            continue
        key = aliases.get(normalize(header))
        if key is None:
            errors.append(RowError(1, header, "知らない列です。列名を確認してください。"))
        elif key in found:
            errors.append(RowError(1, header, f"「{found[key]}」と同じ意味の列が2つあります。"))
        else:
            found[key] = header
    return found


def detect_shape(headers: list[str]) -> str | None:
    names = {normalize(h) for h in headers}
    if names & {normalize(a) for a in _DEPARTMENT_HEADERS["procedures"]}:
        return DEPARTMENTS
    if names & {normalize(a) for a in _PROCEDURE_HEADERS["name"]}:
        return PROCEDURES
    return None


def _count(text: str) -> int | None:
    """A non-negative integer count ('1,234', '１２３件' too); None when blank; ValueError."""
    value = fold_width(text).replace(",", "").removesuffix("件").strip()
    if value == "":
        return None
    if value.endswith(".0"):
        value = value[:-2]
    if not value.isdigit():
        raise ValueError(text)
    return int(value)


def _rate(text: str) -> Decimal | None:
    value = fold_width(text).replace("%", "").strip()
    if value == "":
        return None
    try:
        rate = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(text) from exc
    if not rate.is_finite() or rate < 0 or rate > 100 or rate != rate.quantize(Decimal("0.1")):
        raise ValueError(text)
    return rate.quantize(Decimal("0.1"))


def parse_fiscal_year(text: str) -> int | None:
    """2023, '2023年度', '令和5年度', 'R5' → 2023; None when blank; ValueError otherwise."""
    value = fold_width(text).replace(" ", "").strip()
    if value == "":
        return None
    value = value.removesuffix("年度").removesuffix("FY").removeprefix("FY")
    if value.isdigit() and 1900 < int(value) < 2200:
        return int(value)
    match = _ERA.match(value + ("年度" if not value.endswith("年度") else ""))
    if match:
        number = 1 if match.group(2) == "元" else int(match.group(2))
        return _ERA_START[match.group(1)] + number
    raise ValueError(text)


# ---------------------------------------------------------------- department totals


@dataclass
class _DepartmentRow:
    number: int
    department: str
    counts: dict
    previous: dict | None
    published_online_rate: Decimal | None
    published_coverage_rate: Decimal | None


def _validate_departments(table: Table, fiscal_year: int | None, errors: list[RowError]) -> list[_DepartmentRow]:
    columns = _columns(table, _DEPARTMENT_HEADERS, errors)
    for key in _DEPARTMENT_REQUIRED:
        if key not in columns:
            errors.append(RowError(1, LABELS[key], "必須の列がありません。"))
    given_previous = [key for key in _PREVIOUS if key in columns]
    if given_previous and len(given_previous) != len(_PREVIOUS):
        for key in _PREVIOUS:
            if key not in columns:
                errors.append(RowError(1, LABELS[key], "前回の列は4つ（手続数・オンライン化手続数・年間申請件数・オンライン化手続の申請件数）そろえてください。"))
    if fiscal_year is None:
        errors.append(RowError(0, "", "部局計の形式では年度の指定（--fy 2023 など）が必要です。"))
    if errors:
        return []

    rows: list[_DepartmentRow] = []
    seen: dict[str, int] = {}
    for number, row in table.rows:
        def error(key: str, message: str, number=number) -> None:
            errors.append(RowError(number, columns.get(key, ""), message))

        if row.get("__extra__"):
            errors.append(RowError(number, "", "見出しのない列に値があります。列がずれていないか確認してください。"))
        department = _cells.text(row, columns["department"])
        if not department:
            error("department", "必須です。")
        elif len(department) > 100:
            error("department", f"100文字以内にしてください（{len(department)}文字）。")
        elif department in seen:
            error("department", f"{seen[department]}行目と同じ部局です。")
        else:
            seen[department] = number

        def counts(keys: list[str], required: bool, row=row) -> dict | None:
            values = {}
            for key in keys:
                text = _cells.text(row, columns.get(key))
                try:
                    values[key] = _count(text)
                except ValueError:
                    error(key, f"「{text}」は件数（0以上の整数）ではありません。")
                    values[key] = ValueError
            if not required and all(v is None for v in values.values()):
                return None  # the department did not exist in the previous survey
            for key, value in values.items():
                if value is None:
                    error(key, "必須です。" if required else "前回の4つの値はすべて入れるか、すべて空欄にしてください。")
            if any(v is None or v is ValueError for v in values.values()):
                return None
            procedures, online, annual, covered = values.values()
            if online > procedures:
                error(keys[1], f"オンライン化手続数（{online}）が手続数（{procedures}）を超えています。")
            if covered > annual:
                error(keys[3], f"オンライン化手続の申請件数（{covered}）が年間申請件数（{annual}）を超えています。")
            return {
                "procedures": procedures, "online_procedures": online,
                "annual_applications": annual, "covered_applications": covered,
            }

        current = counts(_DEPARTMENT_REQUIRED[1:], required=True)
        previous = counts(_PREVIOUS, required=False) if given_previous else None
        rates = {}
        for key in ("published_online_rate", "published_coverage_rate"):
            text = _cells.text(row, columns.get(key))
            try:
                rates[key] = _rate(text)
            except ValueError:
                error(key, f"「{text}」は0〜100の率（小数第1位まで）ではありません。")
                rates[key] = None
        if current is not None:
            rows.append(_DepartmentRow(number, department, current, previous, rates["published_online_rate"],
                                       rates["published_coverage_rate"]))
    if not table.rows:
        errors.append(RowError(0, "", "データの行がありません。"))
    return rows


def _apply_departments(rows: list[_DepartmentRow], fiscal_year: int, result: ImportResult) -> None:
    result.fiscal_years = [fiscal_year] + ([fiscal_year - 1] if any(r.previous for r in rows) else [])
    existing = {
        (d.fiscal_year, d.department): d
        for d in InventoryDepartment.objects.select_for_update().filter(fiscal_year__in=[fiscal_year, fiscal_year - 1])
    }

    def put(year: int, order: int, department: str, values: dict) -> None:
        stored = existing.get((year, department))
        if stored is None:
            InventoryDepartment.objects.create(fiscal_year=year, department=department, order=order, **values)
            result.created += 1
            return
        values = dict(values, order=order)
        if all(getattr(stored, attr) == value for attr, value in values.items()):
            result.unchanged += 1
            return
        for attr, value in values.items():
            setattr(stored, attr, value)
        stored.save()
        result.updated += 1

    for order, row in enumerate(rows, start=1):
        put(fiscal_year, order, row.department, dict(
            row.counts, published_online_rate=row.published_online_rate,
            published_coverage_rate=row.published_coverage_rate,
        ))
        if row.previous is not None:
            # The previous survey's counts; its own published rates (if imported from its
            # own file) are left alone.
            put(fiscal_year - 1, order, row.department, row.previous)
    # The file is the whole inventory of its year: departments no longer in it go.
    names = {row.department for row in rows}
    stale = [d.pk for (year, name), d in existing.items() if year == fiscal_year and name not in names]
    if stale:
        result.removed = InventoryDepartment.objects.filter(pk__in=stale).delete()[0]


# ---------------------------------------------------------------- procedures


@dataclass
class _ProcedureRow:
    number: int
    fiscal_year: int
    department: str
    section: str
    name: str
    online: bool
    annual_applications: int
    online_applications: int | None
    counter_applications: int | None


def _validate_procedures(table: Table, fiscal_year: int | None, errors: list[RowError]) -> list[_ProcedureRow]:
    columns = _columns(table, _PROCEDURE_HEADERS, errors)
    for key in _PROCEDURE_REQUIRED:
        if key not in columns:
            errors.append(RowError(1, LABELS[key], "必須の列がありません。"))
    if fiscal_year is None and "fiscal_year" not in columns:
        errors.append(RowError(0, "", "年度の列（年度）がないときは年度の指定（--fy 2023 など）が必要です。"))
    if errors:
        return []

    rows: list[_ProcedureRow] = []
    seen: dict[tuple, int] = {}
    for number, row in table.rows:
        before = len(errors)

        def error(key: str, message: str, number=number) -> None:
            errors.append(RowError(number, columns.get(key, ""), message))

        if row.get("__extra__"):
            errors.append(RowError(number, "", "見出しのない列に値があります。列がずれていないか確認してください。"))
        values = {key: _cells.text(row, columns.get(key)) for key in _PROCEDURE_HEADERS}
        for key, limit in (("department", 100), ("section", 100), ("name", 300)):
            if not values[key] and key != "section":
                error(key, "必須です。")
            elif len(values[key]) > limit:
                error(key, f"{limit}文字以内にしてください（{len(values[key])}文字）。")

        online_text = values["online"]
        online = None
        if normalize(online_text) in YES or online_text in YES:
            online = True
        elif normalize(online_text) in NO or online_text in NO:
            online = False
        elif not online_text:
            error("online", "必須です（はい／いいえ）。")
        else:
            error("online", f"「{online_text}」は使えません。はい・いいえ（またはオンライン・窓口）のいずれかです。")

        numbers = {}
        for key in ("annual_applications", "online_applications", "counter_applications"):
            try:
                numbers[key] = _count(values[key])
            except ValueError:
                error(key, f"「{values[key]}」は件数（0以上の整数）ではありません。")
        if "annual_applications" in numbers and numbers["annual_applications"] is None:
            error("annual_applications", "必須です。")

        year = fiscal_year
        if values["fiscal_year"]:
            try:
                year = parse_fiscal_year(values["fiscal_year"])
            except ValueError:
                error("fiscal_year", f"「{values['fiscal_year']}」は年度（2023、令和5年度 など）ではありません。")
            else:
                if fiscal_year is not None and year != fiscal_year:
                    error("fiscal_year", f"{year}年度ですが、{fiscal_year}年度として取り込むよう指定されています。")
        elif fiscal_year is None:
            error("fiscal_year", "必須です（またはコマンドで --fy を指定してください）。")

        if len(errors) > before:
            continue
        key = (year, values["department"], values["section"], values["name"])
        if key in seen:
            error("name", f"{seen[key]}行目と同じ年度・部局・所属・手続名です。")
            continue
        seen[key] = number
        rows.append(_ProcedureRow(
            number, year, values["department"], values["section"], values["name"], online,
            numbers["annual_applications"], numbers["online_applications"], numbers["counter_applications"],
        ))
    if not table.rows:
        errors.append(RowError(0, "", "データの行がありません。"))
    return rows


def _catalog_matches() -> dict[tuple[str, str], object]:
    """Catalog procedures by (normalized name, normalized section) and by (name, "")
    when the name is unique in the catalog."""
    from tenohira.catalog.models import Procedure

    by_key: dict[tuple[str, str], object] = {}
    by_name: dict[str, list] = {}
    for procedure in Procedure.objects.select_related("section"):
        name = normalize(procedure.name)
        by_key[(name, normalize(procedure.section.name))] = procedure
        by_name.setdefault(name, []).append(procedure)
    for name, found in by_name.items():
        if len(found) == 1:
            by_key[(name, "")] = found[0]
    return by_key


def match_catalog(name: str, section: str, matches: dict) -> object | None:
    """The catalog procedure an inventory row is: same name, and same section when the
    section is known and the name is not unique."""
    name = normalize(name)
    return matches.get((name, normalize(section))) or matches.get((name, ""))


def _apply_procedures(rows: list[_ProcedureRow], result: ImportResult) -> None:
    years = sorted({row.fiscal_year for row in rows})
    result.fiscal_years = years
    existing = {
        (p.fiscal_year, p.department, p.section, p.name): p
        for p in InventoryProcedure.objects.select_for_update().filter(fiscal_year__in=years)
    }
    matches = _catalog_matches()
    for row in rows:
        catalog = match_catalog(row.name, row.section, matches)
        values = {
            "online": row.online,
            "annual_applications": row.annual_applications,
            "online_applications": row.online_applications,
            "counter_applications": row.counter_applications,
            "procedure_id": catalog.pk if catalog else None,
        }
        stored = existing.get((row.fiscal_year, row.department, row.section, row.name))
        if stored is None:
            InventoryProcedure.objects.create(
                fiscal_year=row.fiscal_year, department=row.department, section=row.section, name=row.name, **values
            )
            result.created += 1
        elif all(getattr(stored, attr) == value for attr, value in values.items()):
            result.unchanged += 1
        else:
            for attr, value in values.items():
                setattr(stored, attr, value)
            stored.save()
            result.updated += 1


# ---------------------------------------------------------------- entry point


def import_file(path: str | Path, *, fiscal_year: int | None = None) -> ImportResult:
    """Validate the whole file, then apply it in one transaction (or raise ImportRejected
    listing every problem)."""
    try:
        table = read_table(path)
    except TableError as exc:
        raise ImportRejected([RowError(0, "", str(exc))]) from exc
    errors: list[RowError] = []
    shape = detect_shape(table.headers)
    if shape is None:
        raise ImportRejected([RowError(1, "", (
            "手続棚卸の形式がわかりません。部局計（部局・手続数・オンライン化手続数・年間申請件数・"
            "オンライン化手続の申請件数）か、手続ごと（部局・所属・手続名・オンライン化・年間申請件数）の見出しにしてください。"
        ))])
    if shape == DEPARTMENTS:
        rows = _validate_departments(table, fiscal_year, errors)
    else:
        rows = _validate_procedures(table, fiscal_year, errors)
    if errors:
        raise ImportRejected(errors)
    result = ImportResult(shape=shape, source_format=table.source_format)
    with transaction.atomic():
        if shape == DEPARTMENTS:
            _apply_departments(rows, fiscal_year, result)
        else:
            _apply_procedures(rows, result)
    return result
