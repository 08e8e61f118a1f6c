"""収納データ: the receipts of a period as a CP932 CSV for the finance system (財務会計).

One line per payment that took the money (payments.states.MONEY_RECEIVED), by its capture
day in Japan time (収納日): 調定番号, 科目コード, 科目名, 金額, 調定日, 収納日, 入金日
(the provider's payout day, once reconciled; empty before), 支払方法, 受付番号. A refunded
payment stays on the day it was received; its refund is in the 日計表 of its own day.

Finance systems read Shift_JIS (CP932). A character CP932 cannot hold (𠮷 in a fee item's
name …) is reported with its line and column and nothing is written: replacing it with
「?」 would book the money under a name nobody typed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from tenohira.core.fiscal import JST
from tenohira.core.tabular import neutralise_formula, to_cp932_forms, unencodable
from tenohira.payments.daily import method_label
from tenohira.payments.models import Payment
from tenohira.payments.states import MONEY_RECEIVED

HEADERS = ["調定番号", "科目コード", "科目名", "金額", "調定日", "収納日", "入金日", "支払方法", "受付番号"]
#: A period longer than a fiscal year is not a finance system's import.
MAX_DAYS = 366


class ExportRefused(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _day(value: dt.datetime | None) -> str:
    return value.astimezone(JST).date().isoformat() if value else ""


def check_period(date_from: dt.date, date_to: dt.date) -> None:
    if date_to < date_from:
        raise ExportRefused(["期間の末日が初日より前です。"])
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise ExportRefused([f"期間は {MAX_DAYS} 日までです（{(date_to - date_from).days + 1} 日が指定されました）。"])


def rows(date_from: dt.date, date_to: dt.date) -> list[list[object]]:
    check_period(date_from, date_to)
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=JST)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=JST)
    payments = (
        Payment.objects.filter(state__in=MONEY_RECEIVED, captured_at__gte=start, captured_at__lt=end)
        .order_by("captured_at", "pk")
        .values_list("assessment__number", "assessment__fee_item__code", "assessment__fee_item__name", "amount",
                     "assessment__created_at", "captured_at", "settled_on", "provider", "method",
                     "assessment__submission__receipt_number")
    )
    out = []
    for number, code, name, amount, assessed, captured, settled, provider, method, receipt in payments.iterator(
        chunk_size=2000
    ):
        out.append([
            number, neutralise_formula(code), neutralise_formula(name), amount, _day(assessed), _day(captured),
            settled.isoformat() if settled else "", method_label(provider, method), receipt,
        ])
    return out


def receipts_csv(date_from: dt.date, date_to: dt.date) -> tuple[bytes, int]:
    """(the CP932 CSV, number of lines); ExportRefused listing every character CP932
    cannot hold (line numbers as the CSV shows them: the header is line 1)."""
    data = rows(date_from, date_to)
    cells = [["" if v is None else str(v) for v in row] for row in data]
    problems = unencodable(HEADERS, cells, "cp932")
    if problems:
        raise ExportRefused([
            f"{line}行目「{column}」の「{char}」（U+{ord(char):04X}）は Shift_JIS（CP932）で表せません。"
            for line, column, char in problems
        ] + ["歳入科目の名前などを直してから、もう一度書き出してください。"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows([[to_cp932_forms(c) for c in row] for row in cells])
    return buffer.getvalue().encode("cp932"), len(cells)
