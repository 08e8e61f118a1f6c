"""The headquarters report as a PDF: A4, Japanese text embedded, charts drawn.

ReportLab with the IPAex Gothic TrueType font that the receipt PDF uses (same lookup:
applications.receipt_pdf.font_name), embedded as a subset with a ToUnicode map so the
text layer (pdftotext) holds every heading, name and number.

Pages are portrait; a table too wide for portrait gets landscape pages of its own. Column
widths are measured from the formatted cells: numbers never wrap, long names (部局,
手続名, 取組) wrap, and heading rows repeat on every page a table runs onto. Charts are
the SVG charts' own shapes (insights.charts) redrawn as ReportLab graphics, so paper and
screen show the same bars.
"""

from __future__ import annotations

import os
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Drawing, Group, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from tenohira.applications.receipt_pdf import font_name
from tenohira.core.pdf import numbered_canvas
from tenohira.insights import charts as chartlib
from tenohira.insights.render.tables import Layout, layout
from tenohira.insights.render.tables import Table as ReportTable

PORTRAIT = A4
LANDSCAPE = landscape(A4)
MARGIN = 15 * mm
BOTTOM = 18 * mm
PORTRAIT_WIDTH = PORTRAIT[0] - 2 * MARGIN
LANDSCAPE_WIDTH = LANDSCAPE[0] - 2 * MARGIN

INK = colors.HexColor("#1a1a1c")
MUTED = colors.HexColor("#4d4d4d")
RULE = colors.HexColor("#949497")
HEAD = colors.HexColor("#e6e6e6")
STRIPE = colors.HexColor("#f6f6f9")
TOTAL = colors.HexColor("#e8ebf5")
ACCENT = colors.HexColor("#0017c1")

CELL_SIZE = 8.0
HEAD_SIZE = 7.5
PAD = 3.0
CHART_WIDTH = PORTRAIT_WIDTH  # every chart is drawn at the portrait width
CHART_MAX_HEIGHT = PORTRAIT[1] - MARGIN - BOTTOM - 30 * mm  # with its heading and caption on the page


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=9.5, leading=14, textColor=INK, wordWrap="CJK")
    return {
        "base": base,
        "city": ParagraphStyle("city", parent=base, fontSize=11, leading=16, textColor=MUTED),
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=28, spaceAfter=2 * mm),
        "period": ParagraphStyle("period", parent=base, fontSize=12, leading=18, spaceAfter=4 * mm),
        "h2": ParagraphStyle("h2", parent=base, fontSize=14, leading=20, textColor=ACCENT, spaceBefore=5 * mm,
                             spaceAfter=2 * mm),
        "h3": ParagraphStyle("h3", parent=base, fontSize=11, leading=16, spaceBefore=4 * mm, spaceAfter=1.5 * mm),
        "caption": ParagraphStyle("caption", parent=base, fontSize=8.5, leading=12, textColor=MUTED,
                                  spaceBefore=1 * mm, spaceAfter=1 * mm),
        "note": ParagraphStyle("note", parent=base, fontSize=8, leading=11.5, textColor=MUTED, spaceBefore=1 * mm),
        "cell": ParagraphStyle("cell", parent=base, fontSize=CELL_SIZE, leading=CELL_SIZE + 2.5),
        "num": ParagraphStyle("num", parent=base, fontSize=CELL_SIZE, leading=CELL_SIZE + 2.5, alignment=TA_RIGHT),
        "th": ParagraphStyle("th", parent=base, fontSize=HEAD_SIZE, leading=HEAD_SIZE + 2.5, alignment=TA_CENTER),
        "card_label": ParagraphStyle("card_label", parent=base, fontSize=9, leading=12),
        "card_value": ParagraphStyle("card_value", parent=base, fontSize=18, leading=24, textColor=ACCENT),
        "card_note": ParagraphStyle("card_note", parent=base, fontSize=7.5, leading=10, textColor=MUTED),
    }


def _p(text, style) -> Paragraph:
    return Paragraph(escape("" if text is None else str(text)), style)


# --- charts -----------------------------------------------------------------------------


def chart_drawing(chart: chartlib.Chart, font: str, width: float = CHART_WIDTH,
                  max_height: float = CHART_MAX_HEIGHT) -> Drawing:
    """The chart's shapes as a ReportLab drawing `width` points wide (y flipped upwards),
    smaller when that would be taller than `max_height` (a chart never splits a page)."""
    scale = min(width / chart.width, max_height / chart.height)
    height = chart.height
    group = Group()
    for s in chart.shapes:
        if s.kind == "rect":
            group.add(Rect(s.x, height - s.y - s.h, s.w, s.h, fillColor=colors.HexColor(s.fill),
                           strokeColor=colors.HexColor(s.stroke) if s.stroke else None, strokeWidth=0))
        elif s.kind == "line":
            group.add(Line(s.x, height - s.y, s.w, height - s.h, strokeColor=colors.HexColor(s.stroke),
                           strokeWidth=0.8, strokeDashArray=[6, 4] if s.dashed else None))
        elif s.kind == "text":
            group.add(String(s.x, height - s.y, s.text, fontName=font, fontSize=s.size,
                             fillColor=colors.HexColor(s.fill or chartlib.INK), textAnchor=s.anchor))
    group.transform = (scale, 0, 0, scale, 0, 0)
    drawing = Drawing(width, height * scale)
    drawing.initialFontName = font  # the renderer's starting font (else Helvetica is referenced)
    drawing.add(group)
    return drawing


# --- tables -----------------------------------------------------------------------------


def _measure(table: ReportTable, font: str) -> tuple[list[float], list[float]]:
    """The natural and the minimum width of every column.

    Numbers never wrap: a numeric column is at least as wide as its widest cell, and its
    heading may wrap down to four characters a line. Text wraps (CJK, anywhere), but short
    names (部局, 種類: up to eight characters) stay on one line."""
    cells = table.formatted_rows() + ([table.formatted_total()] if table.total is not None else [])
    natural, minimum = [], []

    def chars(n: float) -> float:
        return n * HEAD_SIZE + 2 * PAD

    for index, column in enumerate(table.columns):
        texts = [row[index] for row in cells]
        widest = max([stringWidth(t, font, CELL_SIZE) for t in texts] or [0]) + 2 * PAD + 1
        head = stringWidth(column.label, font, HEAD_SIZE) + 2 * PAD + 1
        if column.numeric:
            minimum.append(max(widest, min(head, chars(4))))
            natural.append(max(widest, min(head, chars(9))))
        else:
            short = max([stringWidth(t, font, CELL_SIZE) for t in texts if len(t) <= 8] or [0]) + 2 * PAD + 1
            natural.append(max(widest, min(head, chars(8))))
            minimum.append(min(natural[-1], max(short, min(head, chars(4)), 5 * CELL_SIZE + 2 * PAD)))
    return natural, minimum


def column_widths(table: ReportTable, font: str) -> tuple[list[float], bool]:
    """(widths, landscape?): portrait when every column fits there at its minimum width,
    otherwise landscape. Between minimum and natural width, the room is shared in
    proportion to what each column lacks; a table narrower than the page keeps its natural
    widths (a five-column table is not stretched across the page)."""
    natural, minimum = _measure(table, font)
    is_landscape = sum(minimum) > PORTRAIT_WIDTH
    available = LANDSCAPE_WIDTH if is_landscape else PORTRAIT_WIDTH
    if sum(natural) <= available:
        return natural, is_landscape
    room = available - sum(minimum)
    if room < 0:  # wider than a landscape page even at the minimum: shrink every column alike
        factor = available / sum(minimum)
        return [w * factor for w in minimum], is_landscape
    lacking = [n - m for n, m in zip(natural, minimum, strict=True)]
    total = sum(lacking)
    return [m + room * need / total for m, need in zip(minimum, lacking, strict=True)], is_landscape


def pdf_table(table: ReportTable, font: str, styles, widths: list[float]) -> Table:
    headers = table.header_rows()
    width = len(table.columns)
    data: list[list] = [["" for _ in range(width)] for _ in headers]
    spans: list[tuple] = []
    taken: set[tuple[int, int]] = set()
    for level, header in enumerate(headers):
        col = 0
        for cell in header:
            while (level, col) in taken:
                col += 1
            data[level][col] = _p(cell["text"], styles["th"])
            last_col, last_row = col + cell["colspan"] - 1, level + cell["rowspan"] - 1
            taken.update((r, c) for r in range(level, last_row + 1) for c in range(col, last_col + 1))
            if (last_col, last_row) != (col, level):
                spans.append(("SPAN", (col, level), (last_col, last_row)))
            col = last_col + 1
    body = table.formatted_rows()
    total = table.formatted_total()
    for cells in body + ([total] if total is not None else []):
        data.append([
            cell if column.numeric else _p(cell, styles["cell"])
            for cell, column in zip(cells, table.columns, strict=True)
        ])
    head = len(headers)
    result = Table(data, colWidths=widths, repeatRows=head, hAlign="LEFT", splitInRow=0)
    commands = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("FONTSIZE", (0, head), (-1, -1), CELL_SIZE),
        ("LEADING", (0, head), (-1, -1), CELL_SIZE + 2.5),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("BACKGROUND", (0, 0), (-1, head - 1), HEAD),
        ("LINEBELOW", (0, head - 1), (-1, head - 1), 1, MUTED),
        ("GRID", (0, 0), (-1, -1), 0.4, RULE),
        ("VALIGN", (0, 0), (-1, head - 1), "MIDDLE"),
        ("VALIGN", (0, head), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LEFTPADDING", (0, 0), (-1, -1), PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), PAD),
        *spans,
    ]
    for index, column in enumerate(table.columns):
        if column.numeric:
            commands.append(("ALIGN", (index, head), (index, -1), "RIGHT"))
    for number in range(head + 1, head + len(body), 2):
        commands.append(("BACKGROUND", (0, number), (-1, number), STRIPE))
    if total is not None:
        commands += [("BACKGROUND", (0, -1), (-1, -1), TOTAL), ("LINEABOVE", (0, -1), (-1, -1), 1, MUTED)]
    result.setStyle(TableStyle(commands))
    return result


def _headline_cards(plan: Layout, styles) -> Table | None:
    if not plan.headlines:
        return None
    per_row = 3
    cells = [
        [_p(h.label, styles["card_label"]), _p(h.value, styles["card_value"]), _p(h.note, styles["card_note"])]
        for h in plan.headlines
    ]
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    while len(rows[-1]) < per_row:
        rows[-1].append("")
    width = PORTRAIT_WIDTH / per_row
    table = Table(rows, colWidths=[width] * per_row, hAlign="LEFT")
    commands = [("FONTNAME", (0, 0), (-1, -1), styles["base"].fontName),
                ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8), ("LEFTPADDING", (0, 0), (-1, -1), 8)]
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell:
                commands += [("BOX", (c, r), (c, r), 0.6, RULE), ("LINEBEFORE", (c, r), (c, r), 3, ACCENT)]
    table.setStyle(TableStyle(commands))
    return table


# --- the document -----------------------------------------------------------------------


def _numbered_canvas(font: str, footer: str):
    return numbered_canvas(
        font, footer, margin=MARGIN, baseline=8 * mm, rule_gap=4 * mm, size=8, rule_colour=RULE, text_colour=MUTED
    )


class _Document(BaseDocTemplate):
    def __init__(self, target, **kwargs):
        super().__init__(target, pagesize=PORTRAIT, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                         bottomMargin=BOTTOM, **kwargs)

        def page_size(size):
            def on_page(canvas, _doc):
                canvas.setPageSize(size)
            return on_page

        self.addPageTemplates([
            PageTemplate(id="portrait", pagesize=PORTRAIT, onPage=page_size(PORTRAIT), frames=[
                Frame(MARGIN, BOTTOM, PORTRAIT_WIDTH, PORTRAIT[1] - MARGIN - BOTTOM, id="p", leftPadding=0,
                      rightPadding=0, topPadding=0, bottomPadding=0)]),
            PageTemplate(id="landscape", pagesize=LANDSCAPE, onPage=page_size(LANDSCAPE), frames=[
                Frame(MARGIN, BOTTOM, LANDSCAPE_WIDTH, LANDSCAPE[1] - MARGIN - BOTTOM, id="l", leftPadding=0,
                      rightPadding=0, topPadding=0, bottomPadding=0)]),
        ])


def story(plan: Layout, font: str) -> list:
    styles = _styles(font)
    flow: list = [
        _p(plan.municipality, styles["city"]),
        _p("DX推進の状況（本部会報告）", styles["title"]),
        _p(f"対象期間: {plan.period_label}" + (f"　対象部局: {plan.scope}" if plan.scope else ""), styles["period"]),
    ]
    cards = _headline_cards(plan, styles)
    if cards is not None:
        flow += [_p("主な指標", styles["h2"]), cards]
    # The first page also says what follows and how to read it.
    if plan.sections:
        flow.append(_p("この報告の内容", styles["h2"]))
        for number, section in enumerate(plan.sections, start=1):
            flow.append(_p(f"{number}. {section.title}", styles["base"]))
            flow.extend(_p(f"　・{t.title}", styles["note"]) for t in section.tables)
    flow.append(_p("この報告について", styles["h2"]))
    about = [f"端数処理: {plan.rounding}", "増減の△は減少を表します。率の増減の単位はポイントです。",
             "図の数値はすべて、図の後の表に載せています。", *plan.notes]
    if plan.generated_at:
        about.append(f"作成日時: {plan.generated_at}")
    flow.extend(_p("・" + text, styles["note"]) for text in about)
    flow.append(PageBreak())
    orientation = "portrait"

    def turn(to: str) -> None:
        nonlocal orientation
        if to != orientation:
            flow.extend([NextPageTemplate(to), PageBreak()])
            orientation = to

    for section in plan.sections:
        # The section's heading and text go with the first chart or table rows below them.
        lead = [_p(section.title, styles["h2"])] + [_p(text, styles["base"]) for text in section.paragraphs]
        flow.append(CondPageBreak(60 * mm))
        for table in section.tables:
            widths, wide = column_widths(table, font)
            heading = _p(table.title, styles["h3"])
            if table.figures:
                turn("portrait")
                first = True
                for chart in table.figures:
                    drawing = chart_drawing(chart, font)
                    caption = _p(f"図: {chart.title}（数値は表「{table.title}」）", styles["caption"])
                    flow.append(KeepTogether(lead + ([heading] if first else []) + [drawing, caption]))
                    lead, first = [], False
                heading = None
            turn("landscape" if wide else "portrait")
            caption = _p(f"表: {table.title}", styles["caption"])
            block = lead + ([heading, caption] if heading is not None else [caption])
            lead = []
            flow.append(CondPageBreak(30 * mm))
            flow.extend(block)
            flow.append(pdf_table(table, font, styles, widths))
            flow.extend(_p(note, styles["note"]) for note in table.notes)
            flow.append(Spacer(1, 3 * mm))
        flow.extend(lead)  # a section without tables: its text alone
        turn("portrait")
    return flow


def to_pdf(report: dict, path) -> None:
    """Write the report as an A4 PDF to `path` (a file name or a binary file object)."""
    font = font_name()
    plan = layout(report)
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    footer = f"{plan.municipality}　DX推進の状況　{plan.period_label}".strip()
    doc = _Document(path, title=plan.title, author=plan.municipality, subject="DX推進の状況（本部会報告）",
                    creator="Tenohira")
    doc.build(story(plan, font), canvasmaker=_numbered_canvas(font, footer))
