"""日計表: what the city received on one day, per fee item (歳入科目), for the 会計管理者.

Received (収納) is a payment that took the money (payments.states.MONEY_RECEIVED) with
its capture time on that day in Japan time; a payment refunded later still counts on the
day it was received, and its refund (還付, done) counts on the day it was paid back, so
a day's figures never change after the day. Net (差引) = received − refunded.

The money is split by how it came: online by card, PayPay or convenience store / Pay-easy;
at the counter in cash or cashless (card, QR, e-money). The same figures give the PDF
(A4 landscape, Japanese font embedded) and the XLSX.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
from collections import defaultdict

from django.db.models import Count, Sum

from tenohira.core.fiscal import JST
from tenohira.payments.models import Payment, Refund
from tenohira.payments.registry import register
from tenohira.payments.states import MONEY_RECEIVED

#: The ways money comes in, in the order the 日計表 shows them.
CHANNELS = {
    "online_card": "オンライン（カード）",
    "online_paypay": "オンライン（PayPay）",
    "online_konbini": "オンライン（コンビニ・ペイジー）",
    "counter_cash": "窓口（現金）",
    "counter_cashless": "窓口（キャッシュレス）",
}
#: Plain names of payment methods (Payment.method), for the 収納データ and the pages.
METHOD_LABELS = {
    "card": "クレジットカード",
    "paypay": "PayPay",
    "konbini": "コンビニ払い",
    "payeasy": "ペイジー",
    "cash": "現金",
    "qr": "QRコード決済",
    "emoney": "電子マネー",
    "e_money": "電子マネー",
}
COUNTER_CASH_METHODS = {"cash"}


def is_counter(provider: str) -> bool:
    plugin = register.get(provider)
    if plugin is not None:
        return not plugin.online
    return provider == "counter"


def channel(provider: str, method: str) -> str:
    """Which column of the 日計表 a payment belongs in."""
    if is_counter(provider):
        return "counter_cash" if method in COUNTER_CASH_METHODS else "counter_cashless"
    if provider == "paypay" or method == "paypay":
        return "online_paypay"
    if provider == "konbini" or method in {"konbini", "payeasy"}:
        return "online_konbini"
    return "online_card"


def _method_entry(provider: str, method: str):
    """The provider's own description of a method (contrib.counter.METHODS: label and
    whether cashless), when it has one."""
    plugin = register.get(provider)
    if plugin is None:
        return None
    methods = getattr(plugin, "METHODS", None)
    if methods is None:
        methods = getattr(sys.modules.get(type(plugin).__module__), "METHODS", None)
    return methods.get(method) if isinstance(methods, dict) else None


def cashless(provider: str, method: str) -> bool:
    """Cashless in the national definition (credit, debit, e-money, QR/barcode, bank
    transfer): cash at the counter is not, and neither is a convenience-store payment
    (paid in cash at the shop's till); Pay-easy (a bank's online transfer) is."""
    if is_counter(provider):
        entry = _method_entry(provider, method)
        if isinstance(entry, dict) and "cashless" in entry:
            return bool(entry["cashless"])
        flag = getattr(entry, "cashless", None)
        if flag is not None:
            return bool(flag)
        return method not in COUNTER_CASH_METHODS
    return not (method == "konbini" or (provider == "konbini" and method != "payeasy"))


def method_label(provider: str, method: str) -> str:
    """「クレジットカード」, 「窓口（現金）」 …: how the resident paid, in words."""
    plugin = register.get(provider)
    entry = _method_entry(provider, method)
    if isinstance(entry, dict):
        label = str(entry.get("label", ""))
    elif isinstance(entry, str):
        label = entry
    else:
        label = str(getattr(entry, "label", "") or "")
    label = label or METHOD_LABELS.get(method) or (str(plugin.label) if plugin and plugin.label else method or provider)
    return f"窓口（{label}）" if is_counter(provider) else label


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=JST)
    return start, start + dt.timedelta(days=1)


def _empty(code: str, name: str) -> dict:
    return {"code": code, "name": name, "count": 0, "amount": 0, **{key: 0 for key in CHANNELS},
            "refund_count": 0, "refund_amount": 0, "net": 0}


def summary(day: dt.date) -> dict:
    """{"date", "rows": [per fee item], "total"}: every figure a whole yen or a count."""
    start, end = day_bounds(day)
    rows: dict[str, dict] = {}
    received = (
        Payment.objects.filter(state__in=MONEY_RECEIVED, captured_at__gte=start, captured_at__lt=end)
        .values("assessment__fee_item__code", "assessment__fee_item__name", "provider", "method")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by()
    )
    for row in received:
        code, name = row["assessment__fee_item__code"], row["assessment__fee_item__name"]
        entry = rows.setdefault(code, _empty(code, name))
        entry["count"] += row["count"]
        entry["amount"] += row["amount"] or 0
        entry[channel(row["provider"], row["method"])] += row["amount"] or 0
    refunds = (
        Refund.objects.filter(state=Refund.State.DONE, done_at__gte=start, done_at__lt=end)
        .values("payment__assessment__fee_item__code", "payment__assessment__fee_item__name")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by()
    )
    for row in refunds:
        code = row["payment__assessment__fee_item__code"]
        entry = rows.setdefault(code, _empty(code, row["payment__assessment__fee_item__name"]))
        entry["refund_count"] += row["count"]
        entry["refund_amount"] += row["amount"] or 0
    total = defaultdict(int)
    ordered = [rows[code] for code in sorted(rows)]
    for entry in ordered:
        entry["net"] = entry["amount"] - entry["refund_amount"]
        for key, value in entry.items():
            if isinstance(value, int):
                total[key] += value
    total = {**_empty("", "合計"), **total}
    return {"date": day, "rows": ordered, "total": total}


COLUMNS = [
    ("code", "科目コード"), ("name", "科目名"), ("count", "収納件数"), ("amount", "収納額（円）"),
    *CHANNELS.items(),
    ("refund_count", "還付件数"), ("refund_amount", "還付額（円）"), ("net", "差引（円）"),
]


def title(day: dt.date) -> str:
    from tenohira.core.wareki import format_wareki

    return f"日計表（{format_wareki(day)}）"


def to_xlsx(report: dict) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "日計表"
    sheet.append([title(report["date"])])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(["収納日", report["date"].isoformat()])
    sheet.append([])
    sheet.append([label for _key, label in COLUMNS])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for entry in [*report["rows"], report["total"]]:
        sheet.append([entry[key] for key, _label in COLUMNS])
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":  # a 科目名 starting with = is text, never a formula
                cell.data_type = "s"
            if isinstance(cell.value, int):
                cell.number_format = "#,##0"
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    widths = [12, 28, 10, 14, 16, 16, 20, 14, 18, 10, 14, 14]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[chr(64 + index)].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def to_pdf(report: dict) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from tenohira.applications.receipt_pdf import font_name
    from tenohira.core.pdf import numbered_canvas

    font = font_name()
    rule = colors.HexColor("#949497")
    heading = ParagraphStyle("h", fontName=font, fontSize=14, leading=20)
    small = ParagraphStyle("s", fontName=font, fontSize=9, leading=13)
    cell = ParagraphStyle("c", fontName=font, fontSize=8, leading=10)
    head = [Paragraph(label, cell) for _key, label in COLUMNS]
    body = []
    for entry in [*report["rows"], report["total"]]:
        body.append([
            Paragraph(str(entry[key]), cell) if key in {"code", "name"} else f"{entry[key]:,}"
            for key, _label in COLUMNS
        ])
    widths = [18 * mm, 48 * mm, 14 * mm, 20 * mm, 20 * mm, 20 * mm, 24 * mm, 18 * mm, 22 * mm, 14 * mm, 18 * mm,
              20 * mm]
    table = Table([head, *body], colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), font, 8),
        ("GRID", (0, 0), (-1, -1), 0.5, rule),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e6e6")),
        ("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#e8ebf5")),
        ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    story = [Paragraph(title(report["date"]), heading),
             Paragraph(f"収納日 {report['date'].isoformat()}（日本時間）　差引 = 収納額 − 還付額", small),
             Spacer(1, 5 * mm), table]
    if not report["rows"]:
        story.append(Paragraph("この日の収納・還付はありません。", small))
    buffer = io.BytesIO()
    margin = 12 * mm
    canvas = numbered_canvas(font, f"日計表 {report['date'].isoformat()}", margin=margin, baseline=8 * mm,
                             rule_gap=4, size=7, rule_colour=rule, text_colour=colors.HexColor("#4d4d4d"))
    document = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=margin, rightMargin=margin,
                                 topMargin=margin, bottomMargin=16 * mm, title=title(report["date"]),
                                 author="Tenohira")
    document.build(story, canvasmaker=canvas)
    return buffer.getvalue()
