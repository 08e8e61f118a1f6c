"""A tally (insights.tallies) as tables, charts, XLSX, CSV and PDF.

The tally is laid out once as the report's own table model (insights.render.tables), so
the page, the workbook, the CSV and the PDF have the same rows and headings, and the PDF
and XLSX reuse the report's renderers (Japanese font, number formats, chart drawing).
Every chart has its table next to it; a chart never carries a figure alone.
"""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font

from tenohira.insights import charts as chartlib
from tenohira.insights.render import formatting as f
from tenohira.insights.render.tables import Column, Layout, Section, Table
from tenohira.insights.tallies import BLANK_LABEL, HIDDEN_LABEL, TallyError

TYPE_LABELS = {"choice": "単一選択", "multichoice": "複数選択", "yesno": "はい・いいえ", "number": "数値",
               "text": "記述（件数のみ）", "textarea": "記述（件数のみ）", "date": "日付（件数のみ）"}


def denominator_note(question: dict) -> str:
    n = question["responses"]
    if question["type"] == "multichoice":
        return (f"割合の分母: 回答総数 {n:,}件、回答者 {question['answered']:,}人（1つ以上選んだ人。"
                "複数選べるため、回答者に対する割合の合計は100%を超えることがあります）。")
    return (f"割合の分母: 回答総数 {n:,}件、有効回答 {question['answered']:,}件"
            "（無回答と、条件により表示されなかった対象外を除く）。")


def _sheet_name(index: int, label: str) -> str:
    name = f"Q{index} {label}"
    for ch in "[]:*?/\\":
        name = name.replace(ch, " ")
    return name[:31]


def header_rows(result: dict) -> list[tuple[str, str]]:
    h = result["header"]
    return [
        ("様式ID", h["form_id"]),
        ("版", "、".join(f"第{v}版" for v in h["versions"]) or "－"),
        ("様式名", h["form_name"]),
        ("期間", h["period"]["label"]),
        ("集計日", h["tallied_on"]),
        ("回答数", f"{h['responses']:,}件"),
        ("集計した状態", "、".join(h["status_labels"]) + ("（取下げを除く）" if h["default_statuses"] else "")),
    ]


def question_table(index: int, q: dict) -> Table:
    key = f"q-{q['key']}"
    title = f"問{index} {q['label']}（{TYPE_LABELS.get(q['type'], q['type'])}）"
    notes = [denominator_note(q)] if q["type"] != "number" else []
    if q["type"] == "number":
        n = q["numbers"]
        unit = q.get("unit") or ""
        columns = [Column("item", "項目"), Column("value", f"値{f'（{unit}）' if unit else ''}", f.NUMBER)]
        rows = [["回答数（件）", n["count"]], ["合計", n["sum"]], ["平均", n["mean"]], ["中央値", n["median"]],
                ["最小", n["min"]], ["最大", n["max"]], [f"{BLANK_LABEL}（件）", q["blank"]],
                [f"{HIDDEN_LABEL}（件）", q["hidden"]]]
        notes.append("平均は小数第2位で四捨五入しています。数値は回答のあった人だけから計算します。")
        return Table(key, title, _sheet_name(index, q["label"]), columns, rows, notes=notes)
    share = "回答者に対する割合" if q["type"] == "multichoice" else "有効回答に対する割合"
    columns = [Column("label", "選択肢" if "options" in q else "回答"), Column("count", "件数", f.COUNT),
               Column("of_responses", "回答総数に対する割合", f.RATE), Column("of_answered", share, f.RATE)]
    if "options" in q:
        rows = [[o["label"], o["count"], o["pct_of_responses"], o["pct_of_answered"]] for o in q["options"]]
    else:
        rows = [["回答あり", q["answered"], q["answered_pct"], None]]
    rows += [[BLANK_LABEL, q["blank"], q["blank_pct"], None], [HIDDEN_LABEL, q["hidden"], q["hidden_pct"], None]]
    total = ["回答総数", q["responses"], 100 if q["responses"] else None, None]
    figures = []
    if "options" in q and q["responses"]:
        categories = [o["label"] for o in q["options"]] + [BLANK_LABEL]
        counts = [o["count"] for o in q["options"]] + [q["blank"]]
        figures.append(chartlib.bar_chart(f"chart-{q['key']}", title, categories, [("件数", counts)], unit="件"))
    return Table(key, title, _sheet_name(index, q["label"]), columns, rows, total=total, figures=figures,
                 notes=notes)


def cross_table(cross: dict) -> Table:
    row_q, col_q, split = cross["row"], cross["column"], cross["split"]
    title = f"クロス集計: {row_q['label']} × {col_q['label']}" + (f"（{split['label']}別）" if split else "")
    columns = [Column("row", row_q["label"])]
    for group in cross["groups"]:
        heading = group["label"] if split else col_q["label"]
        columns += [Column(f"c{i}", c["label"], f.COUNT, heading) for i, c in enumerate(cross["columns"])]
        if split:
            columns.append(Column("subtotal", "小計", f.COUNT, heading))
    columns.append(Column("total", "合計", f.COUNT))

    def cells(groups, total):
        out = []
        for g in groups:
            out += list(g["counts"]) + ([g["subtotal"]] if split else [])
        return out + [total]

    rows = [[r["label"], *cells(r["groups"], r["total"])] for r in cross["rows"]]
    total = ["合計", *cells(cross["totals"]["groups"], cross["totals"]["total"])]
    notes = [f"行: {row_q['label']}、列: {col_q['label']}" + (f"、列のまとまり: {split['label']}" if split else "")
             + "。無回答（対象外を含む）も1つの区分として数えます。"]
    if cross["multiple"]:
        notes.append("複数選択の質問は、選んだ選択肢ごとに1回数えます（小計・合計は延べ数です）。")
    return Table("cross", title, "クロス集計", columns, rows, total=total, notes=notes)


def layout(result: dict) -> Layout:
    tables = [question_table(i, q) for i, q in enumerate(result["questions"], start=1)]
    sections = [Section("simple", "単純集計", tables=tables)]
    if result.get("cross"):
        sections.append(Section("cross", "クロス集計", tables=[cross_table(result["cross"])]))
    h = result["header"]
    return Layout(title=f"申込集計表 {h['form_name']}", municipality=f"{h['form_id']} {h['form_name']}",
                  period_label=h["period"]["label"], generated_at=h["tallied_on"], rounding="割合は小数第1位で四捨五入",
                  notes=list(result["notes"]), headlines=[], sections=sections)


# --- XLSX -------------------------------------------------------------------------------


def to_xlsx(result: dict, target) -> None:
    """A 概要 sheet (the header and notes), a sheet per question and one for the cross
    tabulation; cells hold numbers with the report's number formats."""
    from tenohira.insights.render.xlsx import _table_sheet

    plan = layout(result)
    workbook = Workbook()
    summary = workbook.active
    summary.title = "概要"
    summary["A1"] = "申込集計表"
    summary["A1"].font = Font(bold=True, size=14)
    lines = header_rows(result) + [("", "")] + [("注記", note) for note in result["notes"]]
    lines += [("", ""), ("シート", "内容")] + [(t.sheet, t.title) for t in plan.tables]
    for number, (label, value) in enumerate(lines, start=3):
        summary.cell(row=number, column=1, value=label or None).font = Font(bold=True)
        summary.cell(row=number, column=2, value=value or None)
    summary.column_dimensions["A"].width = 22
    summary.column_dimensions["B"].width = 90
    seen: set[str] = set()
    for table in plan.tables:
        while table.sheet in seen:  # two questions with the same opening words
            table.sheet = table.sheet[:29] + f"{len(seen) % 100:02d}"
        seen.add(table.sheet)
        _table_sheet(workbook, table, plan)
    workbook.properties.title = plan.title
    workbook.properties.creator = "Tenohira"
    workbook.save(target)


# --- CSV --------------------------------------------------------------------------------

ENCODINGS = {"utf-8": "utf-8-sig", "cp932": "cp932"}


def csv_rows(result: dict) -> list[list[str]]:
    """Every table one after another: its title, its headings, its rows, a blank line.
    Numbers are written without separators (Excel reads them as numbers)."""
    out: list[list[str]] = [["申込集計表"]] + [[k, v] for k, v in header_rows(result)] + [[]]
    for table in layout(result).tables:
        out.append([table.title])
        out.append([c.full_label for c in table.columns])
        for row in table.rows + ([table.total] if table.total is not None else []):
            out.append(["" if v is None else str(v) for v in row])
        out.extend([note] for note in table.notes)
        out.append([])
    out.extend([note] for note in result["notes"])
    return out


def to_csv(result: dict, encoding: str = "utf-8") -> bytes:
    """UTF-8 with BOM (Excel opens it as UTF-8), or CP932 for older Excel and business
    systems. A character CP932 cannot hold is reported, never replaced."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(csv_rows(result))
    text = buffer.getvalue()
    codec = ENCODINGS.get(encoding)
    if codec is None:
        raise TallyError("CSV の文字コードは utf-8 か cp932 です。")
    try:
        return text.encode(codec)
    except UnicodeEncodeError:
        bad = sorted({ch for ch in text if not _cp932_ok(ch)})
        raise TallyError("Shift_JIS（CP932）で表せない文字があります: " + "、".join(bad)
                         + "。UTF-8 の CSV を使ってください。") from None


def _cp932_ok(ch: str) -> bool:
    try:
        ch.encode("cp932")
        return True
    except UnicodeEncodeError:
        return False


# --- PDF --------------------------------------------------------------------------------


def to_pdf(result: dict, target) -> None:
    """A4, the Japanese font of the receipt and the report embedded; the header first,
    then each question's chart and table, then the cross tabulation (landscape when it
    is too wide for portrait)."""
    from reportlab.platypus import (
        CondPageBreak,
        KeepTogether,
        NextPageTemplate,
        PageBreak,
        Spacer,
        TableStyle,
    )
    from reportlab.platypus import Table as PdfTable

    from tenohira.applications.receipt_pdf import font_name
    from tenohira.insights.render import pdf as report_pdf

    font = font_name()
    styles = report_pdf._styles(font)
    plan = layout(result)
    p = report_pdf._p
    flow: list = [p("申込集計表", styles["title"]), p(result["header"]["form_name"], styles["period"])]
    info = PdfTable([[p(k, styles["cell"]), p(v, styles["cell"])] for k, v in header_rows(result)],
                    colWidths=[35 * 2.835, 140 * 2.835], hAlign="LEFT")
    info.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, report_pdf.RULE),
                              ("BACKGROUND", (0, 0), (0, -1), report_pdf.HEAD)]))
    flow += [info, Spacer(1, 8)]
    flow.extend(p("・" + note, styles["note"]) for note in result["notes"])
    orientation = "portrait"
    for section in plan.sections:
        flow.append(p(section.title, styles["h2"]))
        for table in section.tables:
            widths, wide = report_pdf.column_widths(table, font)
            want = "landscape" if wide else "portrait"
            if want != orientation:
                flow.extend([NextPageTemplate(want), PageBreak()])
                orientation = want
            block = [p(table.title, styles["h3"])]
            for chart in table.figures:
                block.append(report_pdf.chart_drawing(chart, font, max_height=70 * 2.835))
            flow.append(CondPageBreak(60 * 2.835))
            flow.append(KeepTogether(block))
            flow.append(report_pdf.pdf_table(table, font, styles, widths))
            flow.extend(p(note, styles["note"]) for note in table.notes)
            flow.append(Spacer(1, 8))
    h = result["header"]
    footer = f"申込集計表　{h['form_id']} {h['form_name']}　{h['period']['label']}"
    doc = report_pdf._Document(target, title=plan.title, subject="申込集計表", creator="Tenohira")
    doc.build(flow, canvasmaker=report_pdf._numbered_canvas(font, footer))
