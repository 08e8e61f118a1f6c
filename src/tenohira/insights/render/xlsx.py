"""The report as an Excel workbook: a 概要 sheet, then one sheet per table.

Each table sheet has the table's title and period in rows 1–2, the column headings in
row 3 (one line each: 「手続数 増減」), the rows from row 4 and the 合計 row last. Cells hold
numbers, not text, with number formats that print them as the PDF does: 1,804; 22.8%
(the value is the percentage itself, 22.8, not 0.228); differences +43 / △25 / ±0.
"""

from __future__ import annotations

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from tenohira.insights.render import formatting as f
from tenohira.insights.render.tables import Layout, Table, layout

HEADER_ROW = 3
NUMBER_FORMATS = {
    f.COUNT: "#,##0",
    f.DIFF: '+#,##0;"△"#,##0;"±"0',
    f.POINTS: '+0.0;"△"0.0;"±"0.0',
    f.HOURS: "#,##0.0",
    f.YEN: "#,##0",
    f.NUMBER: "#,##0.##",
}
HEAD_FILL = PatternFill("solid", fgColor="E6E6E6")
TOTAL_FILL = PatternFill("solid", fgColor="E8EBF5")
THIN = Side(style="thin", color="949497")
BOLD = Font(bold=True)


def _rate_format(values) -> str:
    places = max([f.decimals_of(v) for v in values if v is not None] or [1])
    return f'0.{"0" * places}"%"'


def _value(value, kind: str):
    if kind == f.TEXT:
        return value
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return int(number) if kind in {f.COUNT, f.DIFF, f.YEN} and number == int(number) else number


def _width(text: str) -> float:
    """Excel column width for a text: full-width characters count double."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in str(text))


def _table_sheet(workbook: Workbook, table: Table, plan: Layout) -> None:
    sheet = workbook.create_sheet(table.sheet)
    sheet["A1"] = table.title
    sheet["A1"].font = Font(bold=True, size=13)
    sheet["A2"] = f"{plan.municipality}　{plan.period_label}"
    widths = [_width(c.full_label) + 2 for c in table.columns]
    for index, column in enumerate(table.columns, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=index, value=column.full_label)
        cell.font = BOLD
        cell.fill = HEAD_FILL
        cell.border = Border(bottom=THIN, top=THIN)
        cell.alignment = Alignment(wrap_text=True, vertical="center",
                                   horizontal="center" if column.numeric else "left")
    rows = list(table.rows) + ([table.total] if table.total is not None else [])
    formats = []
    for index, column in enumerate(table.columns):
        if column.kind == f.RATE:
            formats.append(_rate_format([r[index] for r in rows]))
        else:
            formats.append(NUMBER_FORMATS.get(column.kind))
    for offset, row in enumerate(rows):
        is_total = table.total is not None and offset == len(rows) - 1
        for index, (value, column) in enumerate(zip(row, table.columns, strict=True), start=1):
            cell = sheet.cell(row=HEADER_ROW + 1 + offset, column=index, value=_value(value, column.kind))
            if formats[index - 1]:
                cell.number_format = formats[index - 1]
            if column.kind == f.TEXT:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            if is_total:
                cell.font = BOLD
                cell.fill = TOTAL_FILL
                cell.border = Border(top=THIN)
            shown = f.cell(value, column.kind)
            widths[index - 1] = max(widths[index - 1], min(_width(shown) + 2, 60))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(8, width)
    sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=2)
    last = HEADER_ROW + len(table.rows)
    if table.rows:
        sheet.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(table.columns))}{last}"
    note_row = HEADER_ROW + len(rows) + 2
    for note in table.notes:
        sheet.cell(row=note_row, column=1, value=note)
        note_row += 1
    for chart in table.figures:
        # The chart's text alternative, so the sheet says what the PDF's chart shows.
        sheet.cell(row=note_row, column=1, value=f"図: {chart.title} — {chart.description}")
        note_row += 1


def to_xlsx(report: dict, path) -> None:
    plan = layout(report)
    workbook = Workbook()
    summary = workbook.active
    summary.title = "概要"
    summary["A1"] = "DX推進の状況（本部会報告）"
    summary["A1"].font = Font(bold=True, size=14)
    lines = [("自治体", plan.municipality), ("対象期間", plan.period_label), ("作成日時", plan.generated_at),
             ("端数処理", plan.rounding), ("", "")]
    lines += [(h.label, f"{h.value}　{h.note}".strip()) for h in plan.headlines]
    lines += [("", "")] + [("注記", note) for note in plan.notes]
    lines += [("", ""), ("シート", "内容")] + [(t.sheet, t.title) for t in plan.tables]
    for number, (label, value) in enumerate(lines, start=3):
        summary.cell(row=number, column=1, value=label or None).font = BOLD
        summary.cell(row=number, column=2, value=value or None)
    summary.column_dimensions["A"].width = 30
    summary.column_dimensions["B"].width = 90
    for table in plan.tables:
        _table_sheet(workbook, table, plan)
    workbook.properties.title = plan.title
    workbook.properties.creator = "Tenohira"
    workbook.save(path)
