"""領収書: the PDF a resident downloads once the fee is paid.

Drawn like the 受付票 (applications.receipt_pdf: the same embedded Japanese TrueType
font, A4, text that can be searched and read back). It names the payer (宛名: the
applicant's name as submitted), the amount, the revenue item (科目), the 調定番号 and
受付番号, when it was paid and how, and the city as the issuer.
"""

from __future__ import annotations

import io

from django.conf import settings
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from tenohira.applications.receipt_pdf import (
    CONTENT_WIDTH,
    INK,
    MARGIN,
    RULE,
    SHADE,
    _numbered_canvas,
    _styles,
    _text,
    font_name,
    submitted_at_text,
)
from tenohira.payments.registry import register

METHOD_LABELS = {"card": "クレジットカード", "paypay": "PayPay", "konbini": "コンビニ払い", "payeasy": "ペイジー",
                 "cash": "現金"}


def method_text(payment) -> str:
    provider = register.get(payment.provider)
    provider_label = (provider.label if provider is not None and provider.label else payment.provider)
    method = METHOD_LABELS.get(payment.method, payment.method)
    return provider_label if not method or method == provider_label else f"{provider_label}（{method}）"


def render_payment_receipt(assessment, payment) -> bytes:
    font = font_name()
    styles = _styles(font)
    city = settings.MUNICIPALITY_NAME
    submission = assessment.submission
    payer = submission.applicant_name or "（申請者）"
    paid_at = payment.captured_at or assessment.paid_at
    rows = [
        ("金額", f"{payment.amount:,}円"),
        ("但し書き", f"{assessment.procedure.name}の手数料として"),
        ("科目", assessment.fee_item.name),
        ("調定番号", assessment.number),
        ("受付番号", submission.receipt_number),
        ("お支払い日時", submitted_at_text(paid_at) if paid_at else ""),
        ("お支払い方法", method_text(payment)),
    ]
    table = Table([[Paragraph(label, styles["label"]), Paragraph(_text(value), styles["base"])] for label, value in rows],
                  colWidths=[36 * mm, CONTENT_WIDTH - 36 * mm], hAlign="LEFT")
    table.setStyle(TableStyle([
        ("BOX", (0, 0), (-1, -1), 1, INK),
        ("LINEBELOW", (0, 0), (-1, -2), 0.5, RULE),
        ("BACKGROUND", (0, 0), (0, -1), SHADE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
        ("LEFTPADDING", (0, 0), (-1, -1), 8),
    ]))
    story = [
        Paragraph(_text(city), styles["municipality"]),
        Paragraph("領収書", styles["title"]),
        Paragraph(f"{_text(payer)} 様", styles["receipt"]),
        Spacer(1, 4 * mm),
        Paragraph(f"金額　{payment.amount:,}円", styles["receipt"]),
        Spacer(1, 2 * mm),
        Paragraph("上記の金額を領収しました。", styles["base"]),
        Spacer(1, 4 * mm),
        table,
        Spacer(1, 6 * mm),
        Paragraph(f"発行者　{_text(city)}", styles["base"]),
        Spacer(1, 2 * mm),
        Paragraph("この領収書は電子的に発行したものです。"
                  "お問い合わせの際は、受付番号をお伝えください。", styles["note"]),
    ]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, bottomMargin=22 * mm,
        title=f"領収書 {assessment.number}", author=city, subject=assessment.procedure.name, creator="Tenohira",
    )
    footer = f"{city}　領収書　調定番号 {assessment.number}"
    doc.build(story, canvasmaker=_numbered_canvas(font, footer))
    return buffer.getvalue()
