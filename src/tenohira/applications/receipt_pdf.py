"""受付票: the PDF receipt a resident downloads from the completion page.

It shows what was received (municipality, procedure, 受付番号, 申請日時 in Japan time) and
every answer as the check-your-answers page showed it (Submission.summary), so a resident
can keep or print proof of the application and staff can read the same text back.

Drawn with ReportLab and a TrueType Japanese font that ReportLab embeds as a subset with
a ToUnicode map, so the text can be searched and extracted (pdftotext, pypdf). Debian's
Noto CJK fonts are OpenType/CFF collections that ReportLab cannot embed; the IPAex
Gothic font (Debian package fonts-ipaexfont-gothic) is TrueType and is what we look for.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from xml.sax.saxutils import escape

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    CondPageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from tenohira.core.fiscal import local
from tenohira.core.pdf import numbered_canvas
from tenohira.core.site import public_url

FONT_NAME = "TenohiraGothic"

#: Where Debian and Ubuntu put a TrueType Japanese Gothic font, best first. A site may
#: name its own file in settings.RECEIPT_FONT_PATH (tried before these).
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",  # fonts-ipaexfont-gothic
    "/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf",  # the same, older packaging
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",  # fonts-ipafont-gothic
    "/usr/share/fonts/truetype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",  # Debian's alternative, if TrueType
)

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
LABEL_WIDTH = 58 * mm

INK = colors.HexColor("#1a1a1c")
MUTED = colors.HexColor("#626264")
RULE = colors.HexColor("#949497")
SHADE = colors.HexColor("#f1f1f4")
ACCENT = colors.HexColor("#0017c1")  # デジタル庁デザインシステムの primary blue


class ReceiptFontMissing(RuntimeError):
    """No Japanese TrueType font to embed: the receipt cannot be drawn."""


@lru_cache(maxsize=1)
def font_name() -> str:
    """Register the first usable Japanese TrueType font (once per process)."""
    configured = getattr(settings, "RECEIPT_FONT_PATH", "") or ""
    candidates = ([configured] if configured else []) + list(FONT_CANDIDATES)
    tried = []
    for path in candidates:
        if not os.path.isfile(path):
            tried.append(f"{path}（ありません）")
            continue
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, path))
        except Exception as exc:  # a CFF/OpenType font or a broken file: try the next one
            tried.append(f"{path}（使えません: {exc}）")
            continue
        return FONT_NAME
    raise ReceiptFontMissing(
        "受付票（PDF）に使う日本語フォントが見つかりません。Debian/Ubuntu では "
        "`apt-get install fonts-ipaexfont-gothic` でインストールしてください"
        "（または settings.RECEIPT_FONT_PATH に TrueType フォント（.ttf）のパスを指定します）。"
        " 探した場所: " + "、".join(tried)
    )


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=10, leading=15, textColor=INK, wordWrap="CJK")
    return {
        "base": base,
        "municipality": ParagraphStyle("municipality", parent=base, fontSize=11, leading=16, textColor=MUTED),
        "title": ParagraphStyle("title", parent=base, fontSize=24, leading=32, alignment=TA_CENTER,
                                spaceBefore=2 * mm, spaceAfter=6 * mm),
        "label": ParagraphStyle("label", parent=base, textColor=INK),
        "receipt": ParagraphStyle("receipt", parent=base, fontSize=20, leading=26),
        "note": ParagraphStyle("note", parent=base, fontSize=9.5, leading=14, textColor=MUTED),
        "heading": ParagraphStyle("heading", parent=base, fontSize=13, leading=18, spaceBefore=6 * mm,
                                  spaceAfter=2 * mm, textColor=ACCENT),
        "section": ParagraphStyle("section", parent=base, fontSize=11.5, leading=16, spaceBefore=4 * mm,
                                  spaceAfter=1.5 * mm),
        "th": ParagraphStyle("th", parent=base, fontSize=9, leading=13, textColor=MUTED),
    }


def _text(value) -> str:
    """Paragraph markup for a value a resident typed: escaped, line breaks kept."""
    text = "" if value is None else str(value)
    return escape(text).replace("\r\n", "\n").replace("\n", "<br/>")


def submitted_at_text(moment) -> str:
    """申請日時 as residents read it: 2024年4月1日 10:05 (Japan time)."""
    at = local(moment)
    return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}"


def _answers_table(items: list[dict], styles) -> Table:
    rows = [[Paragraph("項目", styles["th"]), Paragraph("内容", styles["th"])]]
    for item in items:
        rows.append([
            Paragraph(_text(item.get("label", "")), styles["label"]),
            Paragraph(_text(item.get("value", "")), styles["base"]),
        ])
    table = Table(
        rows, colWidths=[LABEL_WIDTH, CONTENT_WIDTH - LABEL_WIDTH], repeatRows=1, splitInRow=1, hAlign="LEFT"
    )
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("BACKGROUND", (0, 1), (0, -1), colors.HexColor("#f8f8fb")),
        ("GRID", (0, 0), (-1, -1), 0.5, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
        ("LEFTPADDING", (0, 0), (-1, -1), 6),
        ("RIGHTPADDING", (0, 0), (-1, -1), 6),
    ]))
    return table


def _header_table(submission, styles, secret: str | None = None) -> Table:
    rows = [
        [Paragraph("手続き", styles["label"]), Paragraph(_text(submission.procedure.name), styles["base"])],
        [Paragraph("受付番号", styles["label"]), Paragraph(_text(submission.receipt_number), styles["receipt"])],
        [Paragraph("申請日時", styles["label"]), Paragraph(submitted_at_text(submission.submitted_at), styles["base"])],
    ]
    if secret:
        rows.append([Paragraph("確認コード", styles["label"]), Paragraph(_text(secret), styles["receipt"])])
    table = Table(rows, colWidths=[32 * mm, CONTENT_WIDTH - 32 * mm], hAlign="LEFT")
    table.setStyle(TableStyle([
        ("BOX", (0, 0), (-1, -1), 1, INK),
        ("LINEBELOW", (0, 0), (-1, -2), 0.5, RULE),
        ("BACKGROUND", (0, 0), (0, -1), SHADE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
        ("LEFTPADDING", (0, 0), (-1, -1), 8),
    ]))
    return table


def _numbered_canvas(font: str, footer: str):
    return numbered_canvas(
        font, footer, margin=MARGIN, baseline=10 * mm, rule_gap=4.5 * mm, size=8.5, rule_colour=RULE, text_colour=MUTED
    )


def render_receipt_pdf(submission, secret: str | None = None) -> bytes:
    """The 受付票 of a submission as A4 PDF bytes (one page or more).

    `secret` is the status code, known only just after submission: the counter prints it
    so a resident without e-mail can follow the application on the status page."""
    font = font_name()
    styles = _styles(font)
    municipality = settings.MUNICIPALITY_NAME
    story = [
        Paragraph(_text(municipality), styles["municipality"]),
        Paragraph("受付票", styles["title"]),
        _header_table(submission, styles, secret),
        Spacer(1, 3 * mm),
        *([Paragraph(
            "申請の状況は、受付番号と確認コードで次のページから確かめられます: "
            + _text(public_url("/status/")),
            styles["note"],
        )] if secret else [Paragraph(
            "申請の状況は、受付番号と、受付のメールに書かれた確認コードで次のページから確かめられます: "
            + _text(public_url("/status/")),
            styles["note"],
        )]),
        Paragraph(
            "次の内容で申請を受け付けました。お問い合わせの際は、受付番号をお伝えください。"
            "この受付票は申請を受け付けたことを示すもので、許可や決定の通知ではありません。",
            styles["note"],
        ),
        Paragraph("申請の内容", styles["heading"]),
    ]
    sections = submission.summary or []
    for section in sections:
        items = section.get("items") or []
        # A heading never ends a page alone: start a new page when fewer than a few rows fit.
        story.append(CondPageBreak(35 * mm))
        story.append(Paragraph(_text(section.get("title", "")), styles["section"]))
        if items:
            story.append(_answers_table(items, styles))
        else:
            story.append(Paragraph("（このページの回答はありません）", styles["note"]))
    if not sections:
        story.append(Paragraph("（回答はありません）", styles["note"]))

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=22 * mm,
        title=f"受付票 {submission.receipt_number}", author=municipality,
        subject=submission.procedure.name, creator="Tenohira",
    )
    footer = f"{municipality}　受付票　受付番号 {submission.receipt_number}"
    doc.build(story, canvasmaker=_numbered_canvas(font, footer))
    return buffer.getvalue()
