"""The KPIs as an open-data CSV (オープンデータ): one figure a row, UTF-8 with BOM.

Long ("tidy") format, so a new measure never changes the columns. Only the report's KPI
tables are written (online-ization, hours saved, cashless, printouts, after-hours share):
no procedure-level candidate list, no free-text measure descriptions, no messages, and no
personal data — the facts behind the report hold none, and nothing here is per person.

Values are plain numbers for machines: no thousands separators, a minus sign for
decreases (not △), rates in percent as computed (22.8), differences of rates in points.
The columns are documented in docs/insights-report.md (section "Open-data CSV").
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation

from tenohira.insights.render import formatting as f
from tenohira.insights.render.tables import TOTAL_LABEL, Column, layout

COLUMNS = ["自治体名", "期間", "開始日", "終了日", "分野", "表", "区分", "対象", "指標コード", "指標", "値", "単位"]

UNITS = {f.RATE: "%", f.POINTS: "ポイント", f.HOURS: "時間", f.YEN: "円"}
COUNT_UNITS = {"procedures": "手続", "online_procedures": "手続", "measures": "件", "facilities": "施設",
               "days": "日"}


def _unit(column: Column) -> str:
    if column.kind in UNITS:
        return UNITS[column.kind]
    key = column.key.split("_difference")[0]
    if key in COUNT_UNITS:
        return COUNT_UNITS[key]
    if "sheets" in key or "pages" in key or "per_month" in key or "per_staff" in key:
        return "枚"
    return "件"


def _indicator(column: Column) -> tuple[str, str]:
    """(code, Japanese name) of a figure: the column key, and its heading without the
    year (the year is in the 期間 column)."""
    if column.group and column.kind in {f.DIFF, f.POINTS} and column.key != "change_per_month":
        return column.key, f"{column.group}の増減"
    if column.group and (column.label == "今回" or column.label.startswith(("令和", "平成"))):
        return column.key, column.group
    return column.key, column.full_label


def _plain(value) -> str:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return format(number, "f")


def rows(report: dict) -> list[list[str]]:
    plan = layout(report)
    period = report.get("period") or {}
    municipality = plan.municipality
    out: list[list[str]] = []
    for section in plan.sections:
        for table in section.tables:
            if not table.open_data:
                continue
            own = table.period or period
            label = own.get("label", "")
            start, end = own.get("from", ""), own.get("to", "")
            entries = [(r, False) for r in table.rows] + ([(table.total, True)] if table.total is not None else [])
            for values, is_total in entries:
                subject = "全体" if is_total else str(values[0])
                scope = "全体" if is_total else table.subject_kind
                for value, column in zip(values[1:], table.columns[1:], strict=True):
                    if not column.numeric or value is None or isinstance(value, bool):
                        continue
                    code, name = _indicator(column)
                    out.append([municipality, label, start, end, section.title, table.title, scope,
                                subject if subject != TOTAL_LABEL else "全体", code, name, _plain(value),
                                _unit(column)])
    return out


def to_open_data_csv(report: dict, path) -> None:
    """Write the open-data CSV to `path` (UTF-8 with BOM, CRLF line ends, as Excel expects)."""
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows(report))
