"""Importing printer usage (ペーパーレス): monthly rows or period totals per department.

`import_file(path)` reads a CSV (UTF-8, UTF-8 with BOM, CP932) or XLSX file and recognises
its shape by the headers (see docs/insights-cashless-paperless.md):

* **Monthly usage** — 部局, 月 (2023-04, 2023/4, 2023年4月, 令和5年4月, R5.4, or a date cell),
  カラー枚数, モノクロ枚数, optionally 職員数. Stored as `PrinterUsage` (one row per
  department and month).
* **Period totals** — 部局 and one column of sheets per reporting period, like the city's
  table printouts_by_department_fy2022_fy2023.csv: `sheets_fy2022_oct_to_mar`,
  `sheets_fy2023_apr_to_dec` (or `枚数 2022年10月～2023年3月`), optionally the published
  sheets per staff and month of each period (`published_sheets_per_staff_month_2022`:
  the year is the fiscal year of the period). Stored as `PrinterPeriodTotal`.

All-or-nothing, every error with its row and column; importing the same file again
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from tenohira.catalog.services import ImportRejected, RowError
from tenohira.core.fiscal import fiscal_year
from tenohira.core.tabular import Table
from tenohira.core.text import fold_width
from tenohira.core.wareki import ERAS, WarekiError, parse_date
from tenohira.insights.imports import _cells
from tenohira.insights.models import PrinterPeriodTotal, PrinterUsage

MONTHLY_COLUMNS: dict[str, tuple[str, ...]] = {
    "department": ("部局", "部署", "department"),
    "month": ("月", "年月", "対象月", "month"),
    "colour_pages": ("カラー枚数", "カラー", "カラー印刷枚数", "colour_pages", "color_pages", "colour", "color"),
    "mono_pages": (
        "モノクロ枚数", "モノクロ", "白黒枚数", "白黒", "モノクロ印刷枚数",
        "mono_pages", "monochrome_pages", "mono", "monochrome",
    ),
    "staff": ("職員数", "人数", "staff", "staff_count"),
}
DEPARTMENT_COLUMN = MONTHLY_COLUMNS["department"]

_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_FY_PERIOD = re.compile(r"^(?:sheets_?)?fy(\d{4})_([a-z]{3})_to_([a-z]{3})$")
_ERA_NAMES = "|".join(name for name, _initial, _start in ERAS)
_MONTH_TOKEN = rf"(?:(\d{{4}})[-/.年](\d{{1,2}})月?|({_ERA_NAMES}|[RHrh])(元|\d{{1,2}})[年./-](\d{{1,2}})月?)"
_RANGE = re.compile(rf"{_MONTH_TOKEN}\s*(?:~|〜|～|-|–|_to_|to|から)\s*{_MONTH_TOKEN}")
_PUBLISHED = re.compile(r"^(?:published|公表).*?(\d{4})(?:年度)?$")


@dataclass(frozen=True)
class Period:
    name: str  # e.g. fy2022_oct_to_mar
    start: dt.date  # first day of the first month
    end: dt.date  # first day of the last month (as PrinterPeriodTotal stores it)

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1

    @property
    def fiscal_year(self) -> int:
        return fiscal_year(self.start)


@dataclass
class PrintoutImportResult(_cells.ImportCounts):
    kind: str  # "monthly" or "period_totals"
    periods: list[Period] = field(default_factory=list)

    def summary(self) -> str:
        what = "印刷枚数（月別）" if self.kind == "monthly" else "印刷枚数（期間計）"
        text = f"{what}: {self.counts()}"
        if self.periods:
            text += "（期間: " + "、".join(
                f"{p.name} = {p.start:%Y-%m}〜{p.end:%Y-%m}（{p.months}か月）" for p in self.periods) + "）"
        return text + self.notes()


def import_file(path: str | Path) -> PrintoutImportResult:
    """Validate the whole file, then apply it in one transaction (or raise ImportRejected)."""
    table = _cells.load(path)
    monthly = _cells.match_headers(table.headers, MONTHLY_COLUMNS)
    periods = {header: period for header in table.headers if header and (period := parse_period(header))}
    if periods and not {"month", "colour_pages", "mono_pages"} & monthly.keys():
        return _import_totals(table, periods)
    if {"month", "colour_pages", "mono_pages"} & monthly.keys() and not periods:
        return _import_monthly(table, monthly)
    raise ImportRejected([RowError(1, "", (
        "月別（部局・月・カラー枚数・モノクロ枚数・職員数）か期間計（部局・sheets_fy2022_oct_to_mar のような"
        "期間ごとの枚数の列）のどちらの形式か見出しから判断できません。"
    ))])


# --- months and periods ---------------------------------------------------------------

def _era_month(era_text: str, year_text: str, month: int, original: str) -> dt.date:
    era = next(e for e in ERAS if era_text in (e[0], e[1], e[1].lower()))
    year = era[2].year + (1 if year_text == "元" else int(year_text)) - 1
    if not 1 <= month <= 12 or year_text in ("0", "00"):
        raise WarekiError(f"「{original}」は存在しない月です。")
    first = dt.date(year, month, 1)
    index = ERAS.index(era)
    following = ERAS[index - 1][2] if index else None
    if first < era[2].replace(day=1) or (following and first >= following):
        raise WarekiError(f"「{original}」は{era[0]}の期間にない月です。")
    return first


def parse_month(value: object) -> dt.date:
    """The first day of the month a cell names: 2023-04, 2023/4, 2023年4月, 令和5年4月, R5.4,
    2023-04-01, or an XLSX date cell. Raises ValueError with a message."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.replace(day=1)
    original = str(value).strip()
    text = fold_width(original).replace(" ", "")
    if not text:
        raise ValueError("必須です。")
    match = re.fullmatch(_MONTH_TOKEN, text)
    if match:
        year, month, era, era_year, era_month = match.groups()
        if year:
            if not 1 <= int(month) <= 12:
                raise ValueError(f"「{original}」は存在しない月です。")
            return dt.date(int(year), int(month), 1)
        return _era_month(era, era_year, int(era_month), original)
    try:
        day = parse_date(text)
    except WarekiError:
        raise ValueError(f"「{original}」を月として読み取れません（例: 2023-04、2023年4月、令和5年4月）。") from None
    if day.day != 1:
        raise ValueError(f"「{original}」は月ではなく日付です（例: 2023-04、2023年4月）。")
    return day


def parse_period(header: str) -> Period | None:
    """The reporting period a column of sheets covers, from its header; None when the
    header does not name one. `sheets_fy2022_oct_to_mar` = 2022-10..2023-03 (months Jan–Mar
    of a fiscal year are in the next calendar year); `枚数 2022年10月～2023年3月` and
    `令和4年10月～令和5年3月` name the months themselves."""
    text = fold_width(header).strip().lower().replace(" ", "")
    match = _FY_PERIOD.match(text)
    if match:
        fy, first, last = int(match.group(1)), _MONTHS.get(match.group(2)), _MONTHS.get(match.group(3))
        if first is None or last is None:
            return None
        start = dt.date(fy if first >= 4 else fy + 1, first, 1)
        end = dt.date(fy if last >= 4 else fy + 1, last, 1)
        if end < start:
            return None
        return Period(f"fy{fy}_{match.group(2)}_to_{match.group(3)}", start, end)
    match = _RANGE.search(fold_width(header).replace(" ", ""))
    if match and ("sheets" in text or "枚数" in text or "印刷" in text):
        groups = match.groups()
        try:
            start = _month_from_groups(groups[:5], header)
            end = _month_from_groups(groups[5:], header)
        except (ValueError, WarekiError):
            return None
        if end < start:
            return None
        return Period(f"{start:%Y-%m}_to_{end:%Y-%m}", start, end)
    return None


def _month_from_groups(groups: tuple, original: str) -> dt.date:
    year, month, era, era_year, era_month = groups
    if year:
        return dt.date(int(year), int(month), 1)
    return _era_month(era, era_year, int(era_month), original)


# --- monthly usage --------------------------------------------------------------------

def _import_monthly(table: Table, columns: dict[str, str]) -> PrintoutImportResult:
    errors = [RowError(1, label, "必須の列がありません。") for name, label in (
        ("department", "部局"), ("month", "月"), ("colour_pages", "カラー枚数"), ("mono_pages", "モノクロ枚数"),
    ) if name not in columns]
    if errors:
        raise ImportRejected(errors)
    if not table.rows:
        raise ImportRejected([RowError(0, "", "データの行がありません。")])
    rows = []
    seen: dict[tuple[str, dt.date], int] = {}
    for number, row in table.rows:
        before = len(errors)

        def error(column: str, message: str, number=number) -> None:
            errors.append(RowError(number, column, message))

        if row.get("__extra__"):
            error("", "見出しのない列に値があります。列がずれていないか確認してください。")
        department = _cells.text(row, columns["department"])
        if not department:
            error(columns["department"], "必須です。")
        elif len(department) > 100:
            error(columns["department"], f"100文字以内にしてください（{len(department)}文字）。")
        month = None
        try:
            month = parse_month(row.get(columns["month"], ""))
        except ValueError as exc:
            error(columns["month"], str(exc))
        values = {}
        for name in ("colour_pages", "mono_pages"):
            try:
                values[name] = _cells.whole_number(row.get(columns[name], ""))
                if values[name] > 2_147_483_647:
                    raise ValueError
            except ValueError:
                error(columns[name], _cells.not_a(_cells.text(row, columns[name]), "枚数（0以上の整数）"))
        values["staff"] = None
        raw_staff = _cells.text(row, columns.get("staff"))
        if raw_staff:
            try:
                values["staff"] = _cells.whole_number(row.get(columns["staff"]))
                if not 1 <= values["staff"] <= 1_000_000:
                    raise ValueError
            except ValueError:
                error(columns["staff"], f"「{raw_staff}」は職員数（1以上の整数）ではありません。")
        if department and month is not None:
            first = seen.setdefault((department, month), number)
            if first != number:
                error(columns["month"], f"{first}行目と同じ部局・月です。")
        if len(errors) == before:
            rows.append((department, month, values))
    if errors:
        raise ImportRejected(errors)

    result = PrintoutImportResult(kind="monthly", source_format=table.source_format,
                                  ignored_columns=[h for h in table.headers if h and h not in columns.values()])
    with _cells.applying():
        departments = {department for department, _month, _values in rows}
        stored = {(u.department, u.month): u for u in PrinterUsage.objects.select_for_update().filter(
            department__in=departments)}
        for department, month, values in rows:
            existing = stored.get((department, month))
            if existing is None:
                PrinterUsage.objects.create(department=department, month=month, **values)
                result.created += 1
            elif any(getattr(existing, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(existing, k, v)
                existing.save(update_fields=list(values))
                result.updated += 1
            else:
                result.unchanged += 1
    return result


# --- period totals --------------------------------------------------------------------

def _import_totals(table: Table, periods: dict[str, Period]) -> PrintoutImportResult:
    errors: list[RowError] = []
    department_column = _cells.match_headers(table.headers, {"department": DEPARTMENT_COLUMN}).get("department")
    if department_column is None:
        errors.append(RowError(1, "部局", "必須の列がありません。"))
    names = [p.name for p in periods.values()]
    for header, period in periods.items():
        if names.count(period.name) > 1:
            errors.append(RowError(1, header, f"期間 {period.name} の列が2つ以上あります。"))
        if len(period.name) > 50:
            errors.append(RowError(1, header, "期間の名前が長すぎます。"))
    published: dict[str, str] = {}  # header of a published figure → the sheets header of its period
    for header in table.headers:
        match = _PUBLISHED.match(fold_width(header).strip().lower()) if header else None
        if not match or header in periods:
            continue
        year = int(match.group(1))
        candidates = [h for h, p in periods.items() if p.fiscal_year == year]
        if len(candidates) != 1:
            errors.append(RowError(1, header, (
                f"{year}年度の期間の枚数の列が{'ありません' if not candidates else '2つ以上あります'}"
                "（公表値の列名の年は、その期間の年度です）。"
            )))
            continue
        published[header] = candidates[0]
    if errors:
        raise ImportRejected(errors)
    if not table.rows:
        raise ImportRejected([RowError(0, "", "データの行がありません。")])

    published_of = {sheets: header for header, sheets in published.items()}
    rows = []
    seen: dict[str, int] = {}
    for number, row in table.rows:
        before = len(errors)

        def error(column: str, message: str, number=number) -> None:
            errors.append(RowError(number, column, message))

        if row.get("__extra__"):
            error("", "見出しのない列に値があります。列がずれていないか確認してください。")
        department = _cells.text(row, department_column)
        if not department:
            error(department_column, "必須です。")
        elif len(department) > 100:
            error(department_column, f"100文字以内にしてください（{len(department)}文字）。")
        else:
            first = seen.setdefault(department, number)
            if first != number:
                error(department_column, f"{first}行目と同じ部局です。")
        figures = {}
        for header, period in periods.items():
            try:
                sheets = _cells.whole_number(row.get(header, ""))
            except ValueError:
                error(header, _cells.not_a(_cells.text(row, header), "枚数（0以上の整数）"))
                continue
            figure = None
            published_header = published_of.get(header)
            raw = _cells.text(row, published_header)
            if raw:
                try:
                    figure = _cells.whole_number(row.get(published_header))
                    if figure > 2_147_483_647:
                        raise ValueError
                except ValueError:
                    error(published_header, f"「{raw}」は枚数（0以上の整数）ではありません。")
                    continue
            figures[period] = (sheets, figure)
        if len(errors) == before:
            rows.append((department, figures))
    if errors:
        raise ImportRejected(errors)

    used = {department_column, *periods, *published}
    result = PrintoutImportResult(kind="period_totals", source_format=table.source_format,
                                  periods=sorted(periods.values(), key=lambda p: p.start),
                                  ignored_columns=[h for h in table.headers if h and h not in used])
    with _cells.applying():
        stored = {(t.department, t.period): t for t in PrinterPeriodTotal.objects.select_for_update().filter(
            period__in=[p.name for p in periods.values()])}
        for department, figures in rows:
            for period, (sheets, figure) in figures.items():
                values = {"start": period.start, "end": period.end, "sheets": sheets,
                          "published_per_staff_month": figure}
                existing = stored.get((department, period.name))
                if existing is None:
                    PrinterPeriodTotal.objects.create(department=department, period=period.name, **values)
                    result.created += 1
                elif any(getattr(existing, k) != v for k, v in values.items()):
                    for k, v in values.items():
                        setattr(existing, k, v)
                    existing.save(update_fields=list(values))
                    result.updated += 1
                else:
                    result.unchanged += 1
    return result
