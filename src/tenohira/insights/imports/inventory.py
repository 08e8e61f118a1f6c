"""手続棚卸: importing the yearly procedure inventory (`tenohira insights import-inventory`).

Two shapes are accepted, told apart by their headers (English or Japanese, any order):

- **department totals** (部局計): the table as the DX division publishes it — 部局名,
  総手続き数, オンライン化済手続き数, オンライン化率, 総申請件数（年間）, カバー件数, カバー率,
  optionally オンライン申請件数 and オンライン利用率 — or the older spellings (部局, 手続数,
  オンライン化手続数, 年間申請件数, オンライン化手続の申請件数, 公表オンライン化率 …), or the
  English keys of tests/insights/data/online_by_department_fy2023.csv. Each measure may
  come again for the previous survey (前回総手続き数, 総手続き数（前回）, prev_procedures …)
  and as the printed difference (総手続き数（増減）, △25). The fiscal year is given by the
  caller (`--fy`); the previous columns are stored as the year before.
- **procedures** (手続ごと): 部局, 所属, 手続名, and optionally オンライン化, 年間申請件数,
  オンライン申請件数, 窓口申請件数 and 年度 (else `--fy`). A names-only list (部局・所属・
  手続名) is an inventory too: a missing オンライン化 means not online, missing counts 0.

Printed figures are read as printed: thousands separators and full-width digits, a dash
(-, －, ―, ‐ …) for a department without procedures or a rate with nothing to divide,
22.8% or 22.8, △ for a decrease, and XLSX cells formatted as percentages. Rates and
differences are never stored as results: they are checked against the counts, and every
one that disagrees is reported as a warning (the import still applies; the report flags
the department rates). A 合計/計 row is checked against the sum of the departments, not
imported as a department.

Like the catalog import it is all-or-nothing: every row is validated first and every
problem is reported with its row and column; only a file without problems is applied, in
one transaction. Importing the same file again changes nothing (rows are updated in place).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

from tenohira.catalog.services import ImportRejected, RowError
from tenohira.core.tabular import Table, TableError, read_table
from tenohira.core.text import fold_width, normalize
from tenohira.insights.imports import _cells
from tenohira.insights.models import InventoryDepartment, InventoryProcedure
from tenohira.insights.numbers import exact_pct, points_disagree, rate_disagrees, round1

DEPARTMENTS = "departments"
PROCEDURES = "procedures"

# ---------------------------------------------------------------- department headers

# The counts of a department row, then its rates (checked only). Japanese spellings: the
# published table's (総手続き数 …), the older inventory's (手続数 …).
COUNTS = ("procedures", "online_procedures", "annual_applications", "covered_applications")
RATES = ("online_rate", "coverage_rate", "online_use_rate")
_JAPANESE = {
    "procedures": ("総手続き数", "総手続数", "手続数", "手続き数"),
    "online_procedures": (
        "オンライン化済手続き数", "オンライン化済手続数", "オンライン化済み手続き数", "オンライン化済み手続数",
        "オンライン化手続数", "オンライン化手続き数",
    ),
    "annual_applications": ("総申請件数（年間）", "総申請件数", "年間申請件数", "年間総申請件数", "申請件数（年間）"),
    "covered_applications": (
        "カバー件数", "オンライン化手続の申請件数", "オンライン化手続申請件数", "オンライン化手続きの申請件数",
    ),
    "online_applications": ("オンライン申請件数", "オンライン申請件数（年間）"),
    "online_rate": ("オンライン化率", "公表オンライン化率"),
    "coverage_rate": ("カバー率", "公表カバー率"),
    "online_use_rate": ("オンライン利用率", "公表オンライン利用率"),
}
_ENGLISH = {
    "procedures": ("procedures",),
    "online_procedures": ("online_procedures",),
    "annual_applications": ("annual_applications",),
    "covered_applications": ("covered_applications",),
    "online_applications": ("online_applications",),
    "online_rate": ("online_rate", "online_rate_pct", "published_online_rate", "published_online_rate_pct"),
    "coverage_rate": ("coverage_rate", "coverage_rate_pct", "published_coverage_rate",
                      "published_coverage_rate_pct"),
    "online_use_rate": ("online_use_rate", "online_use_rate_pct", "published_online_use_rate",
                        "published_online_use_rate_pct"),
}
PREVIOUS, DIFFERENCE = "prev_", "diff_"


def _department_headers() -> dict[str, tuple[str, ...]]:
    """Canonical key → accepted headers: `measure` (this survey), `prev_measure` (the
    previous survey), `diff_measure` (the printed difference)."""
    spec: dict[str, tuple[str, ...]] = {"department": ("department", "部局", "部局名")}
    for measure, japanese in _JAPANESE.items():
        english = _ENGLISH[measure]
        spec[measure] = japanese + english
        spec[PREVIOUS + measure] = tuple(
            spelling for word in japanese
            for spelling in (f"前回{word}", f"{word}（前回）", f"前回調査{word}", f"{word}（前回調査）",
                             f"前年度{word}", f"{word}（前年度）")
        ) + tuple(f"{prefix}{word}" for word in english for prefix in ("prev_", "previous_"))
        spec[DIFFERENCE + measure] = tuple(
            spelling for word in japanese
            for spelling in (f"{word}（増減）", f"{word}増減", f"増減{word}", f"{word}（前回比）",
                             f"{word}（増減ポイント）", f"{word}（差）")
        ) + tuple(f"{prefix}{word}" for word in english for prefix in ("diff_", "difference_")) + tuple(
            f"{word}{suffix}" for word in english for suffix in ("_difference", "_points")
        )
    return spec


_DEPARTMENT_HEADERS = _department_headers()
_DEPARTMENT_REQUIRED = ["department", *COUNTS]
# Columns a printed table carries that say nothing the import needs.
_IGNORED = {normalize(h) for h in ("番号", "No", "No.", "NO", "№", "順位", "備考", "remarks", "note")}
# The label of the row that totals the table (合計, 計, 総計, 全庁 …), compared normalized.
TOTAL_NAMES = {normalize(n) for n in ("合計", "計", "総計", "全庁", "全庁計", "全体", "合計（全庁）", "total")}

LABELS = {
    "department": "部局", "procedures": "手続数", "online_procedures": "オンライン化手続数",
    "annual_applications": "年間申請件数", "covered_applications": "オンライン化手続の申請件数",
    "online_applications": "オンライン申請件数",
    "online_rate": "オンライン化率", "coverage_rate": "カバー率", "online_use_rate": "オンライン利用率",
    "prev_procedures": "前回手続数", "prev_online_procedures": "前回オンライン化手続数",
    "prev_annual_applications": "前回年間申請件数", "prev_covered_applications": "前回オンライン化手続の申請件数",
    "section": "所属", "name": "手続名", "online": "オンライン化", "counter_applications": "窓口申請件数",
    "fiscal_year": "年度",
}
# Each rate: (numerator, denominator).
RATE_PARTS = {
    "online_rate": ("online_procedures", "procedures"),
    "coverage_rate": ("covered_applications", "annual_applications"),
    "online_use_rate": ("online_applications", "covered_applications"),
}

# ---------------------------------------------------------------- procedure headers

_PROCEDURE_HEADERS = {
    "department": ("department", "部局", "部局名", "担当部局", "所管部局"),
    "section": ("section", "所属", "所属名", "課", "課名", "担当課", "所管課", "担当所属"),
    "name": ("procedure", "name", "手続名", "手続き名", "手続名称", "手続き名称"),
    "online": ("online", "オンライン化", "オンライン化済み", "オンライン化済"),
    "annual_applications": ("annual_applications", "年間申請件数", "申請件数（年間）", "総申請件数（年間）"),
    "online_applications": ("online_applications", "オンライン申請件数"),
    "counter_applications": ("counter_applications", "窓口申請件数", "窓口・紙の申請件数"),
    "fiscal_year": ("fiscal_year", "年度"),
}
_PROCEDURE_REQUIRED = ["department", "name"]

YES = {normalize(v) for v in ("はい", "オンライン", "オンライン化済み", "済", "yes", "true", "1", "online")} | {"○", "◯", "〇"}
NO = {normalize(v) for v in ("いいえ", "窓口", "未", "no", "false", "0", "counter")} | {"×", "✕"}

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
        return f"{kind}（{years}）: {self.counts()}{removed}{self.notes()}"


def _aliases(spec: dict[str, tuple[str, ...] | list[str]]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for key, spellings in spec.items():
        for spelling in spellings:
            # Two keys must never share a spelling, or a header would be read as either.
            assert aliases.setdefault(normalize(spelling), key) == key, spelling
    return aliases


_DEPARTMENT_ALIASES = _aliases(_DEPARTMENT_HEADERS)
_PROCEDURE_ALIASES = _aliases(_PROCEDURE_HEADERS)


def _columns(table: Table, spec: dict[str, tuple[str, ...] | list[str]], errors: list[RowError],
             ignored: list[str] | None = None) -> dict[str, str]:
    """Canonical key → the header as written in the file (`spec`: key → spellings).
    Unknown headers are errors, except, when `ignored` collects them, the few a printed
    table carries for people (番号, 備考 …)."""
    aliases = _DEPARTMENT_ALIASES if spec is _DEPARTMENT_HEADERS else _aliases(spec)
    found: dict[str, str] = {}
    for header in table.headers:
        if not header:
            continue
        key = aliases.get(normalize(header))
        if key is None:
            if ignored is not None and normalize(header) in _IGNORED:
                ignored.append(header)
                continue
            errors.append(RowError(1, header, "知らない列です。列名を確認してください。"))
        elif key in found:
            errors.append(RowError(1, header, f"「{found[key]}」と同じ意味の列が2つあります。"))
        else:
            found[key] = header
    return found


def detect_shape(headers: list[str]) -> str | None:
    keys = {_DEPARTMENT_ALIASES.get(normalize(h)) for h in headers}
    if keys & {"procedures", "prev_procedures"}:
        return DEPARTMENTS
    if {_PROCEDURE_ALIASES.get(normalize(h)) for h in headers} & {"name"}:
        return PROCEDURES
    return None


# ---------------------------------------------------------------- reading printed cells


_COUNT_NOISE = re.compile(r"[,\s件]")
_SIGNS = {"△": -1, "▲": -1, "-": -1, "−": -1, "－": -1, "+": 1, "＋": 1, "±": 1}


def _count(text: str) -> int | None:
    """A printed count: '1,651,938', '１，６５１，９３８', '123件', an XLSX '1234' (from
    1234.0); 0 for a dash; None when blank. ValueError for anything else."""
    if _cells.is_dash(text):
        return 0
    value = _COUNT_NOISE.sub("", fold_width(text))
    if value == "":
        return None
    if value.endswith(".0"):
        value = value[:-2]
    if not value.isascii() or not value.isdigit():
        raise ValueError(text)
    return int(value)


def _decimal(text: str) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(text) from exc
    if not number.is_finite():
        raise ValueError(text)
    return number


def _rate(text: str) -> Decimal | None:
    """A printed rate in percent, 0–100 with at most one decimal: 22.8 / 22.8% / ２２．８％;
    None when blank or a dash. ValueError otherwise."""
    if _cells.is_dash(text):
        return None
    value = fold_width(text).replace("%", "").strip()
    if value == "":
        return None
    rate = _decimal(value)
    if rate < 0 or rate > 100 or rate != rate.quantize(Decimal("0.1")):
        raise ValueError(text)
    return rate.quantize(Decimal("0.1"))


def _signed(text: str, *, points: bool) -> Decimal | None:
    """A printed difference: △25 / ▲25 / -25 / +43 / ±0 / 1,234; in points for a rate
    (2.7 / △0.5 / +2.7ポイント / 2.7pt). None when blank or a dash. ValueError otherwise."""
    if _cells.is_dash(text):
        return None
    value = fold_width(text).replace(",", "").replace(" ", "").strip()
    if points:
        for suffix in ("ポイント", "pt", "ポ", "p", "P"):
            value = value.removesuffix(suffix)
    if value == "":
        return None
    sign = 1
    if value[0] in _SIGNS:
        sign, value = _SIGNS[value[0]], value[1:]
    number = _decimal(value)
    if number < 0 or (not points and number != number.to_integral_value()):
        raise ValueError(text)
    if points and number != number.quantize(Decimal("0.1")):
        raise ValueError(text)
    return sign * number


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


_DECIMALS = re.compile(r"0\.(0+)")


def _xlsx_number_formats(path: Path, headers: set[str]) -> dict[tuple[int, str], str]:
    """(row, header) → number format of each numeric cell in these columns of the first
    sheet. A published workbook stores 22.8% as 0.228 formatted "0.0%", and a formula's
    rate as 22.838… formatted "0.0": what the clerk sees is the format's rounding, which
    the values alone do not tell."""
    if not headers:
        return {}
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows()
        top = next(rows, ())
        wanted = {
            index: str(cell.value).strip().lstrip("\ufeff") for index, cell in enumerate(top)
            if cell.value is not None and str(cell.value).strip().lstrip("\ufeff") in headers
        }
        formats = {}
        for number, cells in enumerate(rows, start=2):
            for index, header in wanted.items():
                if index < len(cells):
                    value = cells[index].value
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        formats[(number, header)] = cells[index].number_format or "General"
        return formats
    finally:
        workbook.close()


def _shown(value: object, number_format: str | None) -> str:
    """The text an XLSX number cell shows (22.8 for 0.228 in "0.0%"); other values as text."""
    if number_format is None or not isinstance(value, int | float) or isinstance(value, bool):
        return _cells.text({"": value}, "")
    number = Decimal(repr(float(value)))  # the shortest repr is what was typed
    if "%" in number_format:
        number *= 100
    match = _DECIMALS.search(number_format)
    if match:
        number = number.quantize(Decimal(1).scaleb(-len(match.group(1))), rounding=ROUND_HALF_UP)
    elif "0" in number_format and "%" in number_format:
        number = number.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return format(number.normalize(), "f") if number == number.to_integral_value() else format(number, "f")


# ---------------------------------------------------------------- department totals


@dataclass
class _DepartmentRow:
    number: int
    department: str
    counts: dict  # COUNTS + online_applications (None when not given)
    previous: dict | None
    rates: dict  # printed rates of this survey (None where not printed)
    is_total: bool = False


@dataclass
class _Printed:
    """The printed figures of one row that are checked, not stored."""

    number: int
    department: str
    previous_rates: dict
    differences: dict


def _warn(found: list[tuple[int, str, str]], number: int, header: str, message: str) -> None:
    found.append((number, header, message))


def _rate_text(value: Decimal | None) -> str:
    return "計算できません" if value is None else f"{value}%"


def _validate_departments(table: Table, fiscal_year: int | None, errors: list[RowError],
                          result: ImportResult, path: Path) -> tuple[list[_DepartmentRow], set[str]]:
    """The rows (the 合計 row among them, marked), and the keys of the file's columns."""
    columns = _columns(table, _DEPARTMENT_HEADERS, errors, result.ignored_columns)
    for key in _DEPARTMENT_REQUIRED:
        if key not in columns:
            errors.append(RowError(1, LABELS[key], "必須の列がありません。"))
    previous_counts = [PREVIOUS + key for key in COUNTS]
    given_previous = [key for key in previous_counts if key in columns]
    if given_previous and len(given_previous) != len(previous_counts):
        for key in previous_counts:
            if key not in columns:
                errors.append(RowError(1, LABELS[key], "前回の列は4つ（手続数・オンライン化手続数・年間申請件数・オンライン化手続の申請件数）そろえてください。"))
    if fiscal_year is None:
        errors.append(RowError(0, "", "部局計の形式では年度の指定（--fy 2023 など）が必要です。"))
    if errors:
        return [], set()

    formats: dict[tuple[int, str], str] = {}
    if table.source_format == "xlsx":
        printed = {h for k, h in columns.items() if k.removeprefix(PREVIOUS).removeprefix(DIFFERENCE) in RATES
                   or k.startswith(DIFFERENCE)}
        formats = _xlsx_number_formats(path, printed)

    rows: list[_DepartmentRow] = []
    checks: list[_Printed] = []
    seen: dict[str, int] = {}
    total_row: int | None = None
    for number, row in table.rows:
        before = len(errors)

        def error(key: str, message: str, number=number) -> None:
            errors.append(RowError(number, columns.get(key, LABELS.get(key, "")), message))

        def cell(key: str, row=row, number=number) -> str:
            header = columns.get(key)
            if header is None:
                return ""
            return _shown(row.get(header), formats.get((number, header)))

        if row.get("__extra__"):
            errors.append(RowError(number, "", "見出しのない列に値があります。列がずれていないか確認してください。"))
        department = _cells.text(row, columns["department"])
        is_total = normalize(department) in TOTAL_NAMES
        if not department:
            error("department", "必須です。")
        elif len(department) > 100:
            error("department", f"100文字以内にしてください（{len(department)}文字）。")
        elif is_total:
            if total_row is not None:
                error("department", f"合計の行が2つあります（{total_row}行目と同じ）。")
            total_row = total_row or number
        elif department in seen:
            error("department", f"{seen[department]}行目と同じ部局です。")
        else:
            seen[department] = number

        def counts(prefix: str, row_cell=cell) -> dict | None:
            keys = [prefix + key for key in COUNTS]
            values: dict[str, int | None] = {}
            unreadable = False
            for key in keys:
                raw = row_cell(key)
                try:
                    values[key] = _count(raw)
                except ValueError:
                    error(key, f"「{raw}」は件数（0以上の整数）ではありません。")
                    unreadable = True
            if unreadable:
                return None
            if all(v is None for v in values.values()):
                if prefix == PREVIOUS:
                    return None  # the department did not exist in the previous survey
                values = dict.fromkeys(keys, 0)  # a department without procedures, left blank
            missing = [key for key, value in values.items() if value is None]
            for key in missing:
                error(key, "必須です（手続きのない部局は「-」）。" if prefix != PREVIOUS
                      else "前回の4つの値はすべて入れるか、すべて空欄にしてください。")
            if missing:
                return None
            procedures, online, annual, covered = values.values()
            if online > procedures:
                error(keys[1], f"オンライン化手続数（{online}）が手続数（{procedures}）を超えています。")
            if covered > annual:
                error(keys[3], f"オンライン化手続の申請件数（{covered}）が年間申請件数（{annual}）を超えています。")
            return dict(zip(COUNTS, values.values(), strict=True))

        def online_applications(prefix: str, covered: int | None, row_cell=cell) -> int | None:
            key = prefix + "online_applications"
            raw = row_cell(key)
            try:
                value = None if _cells.is_dash(raw) else _count(raw)  # a dash: no figure, not 0
            except ValueError:
                error(key, f"「{raw}」は件数（0以上の整数）ではありません。")
                return None
            if value is not None and covered is not None and value > covered:
                error(key, f"オンライン申請件数（{value}）がオンライン化手続の申請件数（{covered}）を超えています。")
            return value

        current = counts("")
        if current is not None:
            current["online_applications"] = online_applications("", current["covered_applications"])
        previous = counts(PREVIOUS) if given_previous else None
        if previous is not None:
            previous["online_applications"] = online_applications(PREVIOUS, previous["covered_applications"])
        rates, previous_rates, differences = {}, {}, {}
        for key in RATES:
            for prefix, into in (("", rates), (PREVIOUS, previous_rates)):
                raw = cell(prefix + key)
                try:
                    into[key] = _rate(raw)
                except ValueError:
                    error(prefix + key, f"「{raw}」は0〜100の率（小数第1位まで）ではありません。")
        for key in (*COUNTS, "online_applications", *RATES):
            raw = cell(DIFFERENCE + key)
            try:
                differences[key] = _signed(raw, points=key in RATES)
            except ValueError:
                what = "増減（ポイント、小数第1位まで）" if key in RATES else "増減（整数、減少は△）"
                error(DIFFERENCE + key, f"「{raw}」は{what}ではありません。")
        if len(errors) == before and current is not None:
            rows.append(_DepartmentRow(number, department, current, previous, rates, is_total))
            checks.append(_Printed(number, department, previous_rates, differences))
    if not table.rows:
        errors.append(RowError(0, "", "データの行がありません。"))
    if not errors:
        found: list[tuple[int, str, str]] = []
        _check_printed(rows, checks, columns, found)
        # In the order a clerk reads the sheet: by row, then column.
        order = {header: index for index, header in enumerate(table.headers)}
        found.sort(key=lambda item: (item[0], order.get(item[1], 0)))
        result.warnings.extend(f"{number}行目 「{header}」: {message}" for number, header, message in found)
    return rows, set(columns)


def _sum(rows: list[_DepartmentRow], key: str, previous: bool = False) -> int | None:
    values = [(r.previous if previous else r.counts) for r in rows]
    if any(v is None for v in values):
        return None
    given = [v[key] for v in values if v[key] is not None]
    return sum(given) if given else None


def _exact_rates(figures: dict | None) -> dict[str, Fraction | None]:
    if figures is None:
        return dict.fromkeys(RATES)
    rates = {}
    for key, (numerator, denominator) in RATE_PARTS.items():
        top = figures.get(numerator)
        rates[key] = None if top is None else exact_pct(top, figures[denominator])
    return rates


def _covered_with_figure(rows: list[_DepartmentRow], previous: bool = False) -> int:
    """Covered applications of the departments that gave an online-applications figure:
    the total online use rate is measured over those only."""
    total = 0
    for row in rows:
        figures = row.previous if previous else row.counts
        if figures is not None and figures.get("online_applications") is not None:
            total += figures["covered_applications"]
    return total


def _check_printed(rows: list[_DepartmentRow], checks: list[_Printed], columns: dict[str, str],
                   warnings: list[tuple[int, str, str]]) -> None:
    """Every printed rate and difference against the counts; the 合計 row against the sum
    of the departments. Disagreements are warnings (the file is the city's record; the
    figures Tenohira reports are computed from the counts)."""
    departments = [r for r in rows if not r.is_total]
    for row, printed in zip(rows, checks, strict=True):
        current, previous = row.counts, row.previous
        if row.is_total:
            # The total's own figures are the sums of the department rows.
            current = {key: _sum(departments, key) for key in (*COUNTS, "online_applications")}
            current["covered_with_figure"] = _covered_with_figure(departments)
            previous = None
            if row.previous is not None and all(r.previous is not None for r in departments):
                previous = {key: _sum(departments, key, previous=True) for key in (*COUNTS, "online_applications")}
                previous["covered_with_figure"] = _covered_with_figure(departments, previous=True)
            for prefix, printed_figures, summed in (("", row.counts, current), (PREVIOUS, row.previous, previous)):
                if printed_figures is None or summed is None:
                    continue
                for key in (*COUNTS, "online_applications"):
                    value, expected = printed_figures.get(key), summed.get(key)
                    if value is not None and expected is not None and value != expected:
                        _warn(warnings, row.number, columns[prefix + key],
                              f"合計の行の {value:,} は部局の合計 {expected:,} と一致しません。")
        who = "合計の行" if row.is_total else row.department
        basis = "部局の件数の合計" if row.is_total else "件数"
        exact = _exact_rates(current)
        exact_previous = _exact_rates(previous)
        if row.is_total:
            # The total use rate: only departments with a figure, over their own covered.
            for figures, rates in ((current, exact), (previous, exact_previous)):
                if figures is not None and figures.get("online_applications") is not None:
                    rates["online_use_rate"] = exact_pct(figures["online_applications"],
                                                         figures["covered_with_figure"])
        for prefix, published_rates, rates, figures in (
            ("", row.rates, exact, current), (PREVIOUS, printed.previous_rates, exact_previous, previous),
        ):
            for key in RATES:
                published = published_rates.get(key)
                if published is None or figures is None:
                    continue
                numerator, denominator = RATE_PARTS[key]
                if figures.get(numerator) is None:
                    continue
                computed = round1(rates[key])
                if rate_disagrees(published, computed):
                    label = LABELS[key]
                    _warn(warnings, row.number, columns[prefix + key],
                          f"{who}の{'前回の' if prefix else ''}{label}は公表値 {published}% ですが、"
                          f"{basis}から計算すると {_rate_text(computed)}"
                          + ("" if row.is_total else f"（{figures[numerator]}/{figures[denominator]}）") + "です。")
        for key in (*COUNTS, "online_applications", *RATES):
            published = printed.differences.get(key)
            if published is None or current is None or previous is None:
                continue
            header = columns[DIFFERENCE + key]
            if key in RATES:
                if points_disagree(published, exact[key], exact_previous[key]):
                    computed = round1(exact[key] - exact_previous[key])
                    _warn(warnings, row.number, header,
                          f"{who}の{LABELS[key]}の増減は {_signed_text(published)}ポイントと書かれていますが、"
                          f"{basis}から計算すると {_signed_text(computed)}ポイントです。")
            elif current.get(key) is not None and previous.get(key) is not None:
                computed = current[key] - previous[key]
                if published != computed:
                    _warn(warnings, row.number, header,
                          f"{who}の{LABELS[key]}の増減は {_signed_text(published)} と書かれていますが、"
                          f"{basis}から計算すると {_signed_text(computed)} です。")


def _signed_text(value) -> str:
    """+43 / △25 / ±0, as the printed table writes a difference."""
    value = Decimal(value)
    if value == 0:
        return "±0"
    text = f"{abs(value):,}"
    return f"△{text}" if value < 0 else f"+{text}"


def _apply_departments(rows: list[_DepartmentRow], fiscal_year: int, result: ImportResult,
                       *, previous_online: bool) -> None:
    rows = [row for row in rows if not row.is_total]
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
            row.counts, published_online_rate=row.rates["online_rate"],
            published_coverage_rate=row.rates["coverage_rate"],
            published_online_use_rate=row.rates["online_use_rate"],
        ))
        if row.previous is not None:
            # The previous survey's counts; its own published rates (if imported from its
            # own file) are left alone, and so is its online-applications figure unless
            # this file prints one.
            values = dict(row.previous)
            if not previous_online:
                values.pop("online_applications")
            put(fiscal_year - 1, order, row.department, values)
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


def _validate_procedures(table: Table, fiscal_year: int | None, errors: list[RowError],
                         result: ImportResult) -> tuple[list[_ProcedureRow], set[str]]:
    """The rows, and the keys of the columns the file has (a column it lacks leaves the
    stored value of an existing row alone)."""
    columns = _columns(table, _PROCEDURE_HEADERS, errors, result.ignored_columns)
    for key in _PROCEDURE_REQUIRED:
        if key not in columns:
            errors.append(RowError(1, LABELS[key], "必須の列がありません。"))
    if fiscal_year is None and "fiscal_year" not in columns:
        errors.append(RowError(0, "", "年度の列（年度）がないときは年度の指定（--fy 2023 など）が必要です。"))
    if errors:
        return [], set()

    rows: list[_ProcedureRow] = []
    seen: dict[tuple, int] = {}
    blank_annual: list[int] = []
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

        # An inventory kept as a checklist marks the online ones (○) and leaves the rest blank.
        online_text = values["online"]
        online = False
        if normalize(online_text) in YES or online_text in YES:
            online = True
        elif not online_text or _cells.is_dash(online_text) or normalize(online_text) in NO or online_text in NO:
            online = False
        else:
            error("online", f"「{online_text}」は使えません。はい・いいえ（またはオンライン・窓口、○・空欄）のいずれかです。")

        numbers: dict[str, int | None] = {}
        for key in ("annual_applications", "online_applications", "counter_applications"):
            try:
                numbers[key] = None if _cells.is_dash(values[key]) and key != "annual_applications" else _count(values[key])
            except ValueError:
                error(key, f"「{values[key]}」は件数（0以上の整数）ではありません。")
        if "annual_applications" in columns and "annual_applications" in numbers and numbers["annual_applications"] is None:
            blank_annual.append(number)

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
            numbers["annual_applications"] or 0, numbers["online_applications"], numbers["counter_applications"],
        ))
    if not table.rows:
        errors.append(RowError(0, "", "データの行がありません。"))
    if "online" not in columns:
        result.warnings.append("オンライン化の列がないため、新しい手続きはオンライン化されていないものとして取り込みます。")
    if "annual_applications" not in columns:
        result.warnings.append("年間申請件数の列がないため、新しい手続きの年間申請件数は 0 件として取り込みます。")
    elif blank_annual:
        shown = "、".join(f"{n}行目" for n in blank_annual[:10]) + (" など" if len(blank_annual) > 10 else "")
        result.warnings.append(f"年間申請件数が空欄の {len(blank_annual)} 行（{shown}）は 0 件として取り込みます。")
    return rows, set(columns)


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


_OPTIONAL_FIELDS = ("online", "annual_applications", "online_applications", "counter_applications")


def _apply_procedures(rows: list[_ProcedureRow], given: set[str], result: ImportResult) -> None:
    years = sorted({row.fiscal_year for row in rows})
    result.fiscal_years = years
    existing = {
        (p.fiscal_year, p.department, p.section, p.name): p
        for p in InventoryProcedure.objects.select_for_update().filter(fiscal_year__in=years)
    }
    matches = _catalog_matches()
    for row in rows:
        catalog = match_catalog(row.name, row.section, matches)
        values = {name: getattr(row, name) for name in _OPTIONAL_FIELDS}
        values["procedure_id"] = catalog.pk if catalog else None
        stored = existing.get((row.fiscal_year, row.department, row.section, row.name))
        if stored is None:
            InventoryProcedure.objects.create(
                fiscal_year=row.fiscal_year, department=row.department, section=row.section, name=row.name, **values
            )
            result.created += 1
            continue
        # A names-only file adds names; it does not reset what an earlier file said.
        values = {name: value for name, value in values.items() if name not in _OPTIONAL_FIELDS or name in given}
        if all(getattr(stored, attr) == value for attr, value in values.items()):
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
    path = Path(path)
    try:
        table = read_table(path)
    except TableError as exc:
        raise ImportRejected([RowError(0, "", str(exc))]) from exc
    errors: list[RowError] = []
    shape = detect_shape(table.headers)
    if shape is None:
        raise ImportRejected([RowError(1, "", (
            "手続棚卸の形式がわかりません。部局計（部局名・総手続き数・オンライン化済手続き数・総申請件数（年間）・"
            "カバー件数）か、手続ごと（部局・所属・手続名）の見出しにしてください。"
        ))])
    result = ImportResult(shape=shape, source_format=table.source_format)
    if shape == DEPARTMENTS:
        rows, given = _validate_departments(table, fiscal_year, errors, result, path)
    else:
        rows, given = _validate_procedures(table, fiscal_year, errors, result)
    if errors:
        raise ImportRejected(errors)
    with _cells.applying():
        if shape == DEPARTMENTS:
            _apply_departments(rows, fiscal_year, result, previous_online=PREVIOUS + "online_applications" in given)
        else:
            _apply_procedures(rows, given, result)
    return result
