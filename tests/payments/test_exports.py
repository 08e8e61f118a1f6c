"""収納データ (CP932 CSV) and 日計表 (XLSX read back, PDF text through pdftotext)."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from openpyxl import load_workbook

from tenohira.applications.models import Submission
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.core.fiscal import JST
from tenohira.forms.services import publish
from tenohira.payments import daily, exports
from tenohira.payments.models import Assessment, FeeItem, Payment, Refund

pytestmark = pytest.mark.django_db

SCHEMA = {"title": "テスト", "steps": [{"key": "a", "title": "a", "fields": [
    {"key": "n", "type": "text", "label": "名前"}]}]}
DAY = dt.date(2026, 12, 1)


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=JST)


@pytest.fixture
def world(db):
    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    procedure = Procedure.objects.create(code="PAYX", section=section, name="住民票の写しの交付請求")
    version, _ = publish(procedure, SCHEMA)
    submission = Submission.objects.create(
        receipt_number="PAYX-20261201-0001", procedure=procedure, section=section, form_version=version,
        answers={}, status_secret_hash="x", submitted_at=timezone.now(),
    )
    items = {
        "juminhyo": FeeItem.objects.create(code="1401", name="住民票等交付手数料"),
        "gomi": FeeItem.objects.create(code="1502", name="粗大ごみ処理手数料"),
    }
    clerk = get_user_model().objects.create_user("kaikei-test")
    return {"procedure": procedure, "submission": submission, "items": items, "clerk": clerk}


def pay(world, item: str, amount: int, provider: str, method: str, captured_at, *, state=Payment.State.CAPTURED,
        settled_on=None) -> Payment:
    n = Assessment.objects.count() + 1
    assessment = Assessment.objects.create(
        number=f"R8-{n:06d}", submission=world["submission"], procedure=world["procedure"],
        fee_item=world["items"][item], timing="at_submission", amount_assessed=amount, amount_due=amount,
        state=Assessment.State.PAID,
    )
    return Payment.objects.create(
        assessment=assessment, provider=provider, method=method, provider_ref=f"ref-{n}" if provider != "counter"
        else "", idempotency_key=f"k-{n}", amount=amount, state=state, captured_at=captured_at,
        settled_on=settled_on, facility="本庁舎 市民課" if provider == "counter" else "",
    )


@pytest.fixture
def day_of_payments(world):
    pay(world, "juminhyo", 300, "stripe_card", "card", at(DAY, 9), settled_on=DAY + dt.timedelta(days=5))
    pay(world, "juminhyo", 600, "paypay", "paypay", at(DAY, 10))
    pay(world, "juminhyo", 300, "counter", "cash", at(DAY, 11))
    pay(world, "gomi", 2500, "konbini", "konbini", at(DAY, 12))
    pay(world, "gomi", 2500, "counter", "qr", at(DAY, 13))
    refunded = pay(world, "gomi", 1000, "stripe_card", "card", at(DAY - dt.timedelta(days=3), 9),
                   state=Payment.State.REFUNDED)
    Refund.objects.create(payment=refunded, amount=1000, reason="取下げ", idempotency_key="r-1",
                          requested_by=world["clerk"], requested_at=at(DAY, 8), state=Refund.State.DONE,
                          done_at=at(DAY, 15))
    # Not money: an open attempt and one the day before (JST: 23:30 on 11/30 is not 12/1).
    pay(world, "juminhyo", 300, "stripe_card", "card", None, state=Payment.State.AWAITING)
    pay(world, "juminhyo", 300, "stripe_card", "card", at(DAY, 0) - dt.timedelta(minutes=30))


def test_daily_summary_per_fee_item_and_channel(day_of_payments):
    report = daily.summary(DAY)
    juminhyo, gomi = report["rows"]
    assert (juminhyo["code"], juminhyo["count"], juminhyo["amount"]) == ("1401", 3, 1200)
    assert (juminhyo["online_card"], juminhyo["online_paypay"], juminhyo["counter_cash"]) == (300, 600, 300)
    assert (gomi["count"], gomi["amount"], gomi["online_konbini"], gomi["counter_cashless"]) == (2, 5000, 2500, 2500)
    assert (gomi["refund_count"], gomi["refund_amount"], gomi["net"]) == (1, 1000, 4000)
    assert report["total"]["amount"] == 6200 and report["total"]["net"] == 5200


def test_daily_xlsx_reads_back(day_of_payments, tmp_path):
    path = tmp_path / "d.xlsx"
    call_command("payments", "daily-report", "--date", DAY.isoformat(), "--format", "xlsx", "-o", str(path),
                 stdout=io.StringIO())
    sheet = load_workbook(path).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "日計表（令和8年12月1日）"
    header = values[3]
    assert header[:4] == ["科目コード", "科目名", "収納件数", "収納額（円）"]
    rows = {row[1]: dict(zip(header, row, strict=True)) for row in values[4:]}
    assert rows["住民票等交付手数料"]["収納額（円）"] == 1200
    assert rows["粗大ごみ処理手数料"]["還付額（円）"] == 1000
    assert rows["合計"]["差引（円）"] == 5200
    assert rows["合計"]["窓口（現金）"] == 300


def test_daily_pdf_holds_the_figures_as_text(day_of_payments, tmp_path):
    # scripts/bootstrap --test installs poppler-utils: a missing pdftotext is a broken setup, not a skip.
    assert shutil.which("pdftotext"), "pdftotext missing: run scripts/bootstrap --test (poppler-utils)"
    path = tmp_path / "d.pdf"
    call_command("payments", "daily-report", "--date", DAY.isoformat(), "--format", "pdf", "-o", str(path),
                 stdout=io.StringIO())
    assert path.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "日計表（令和8年12月1日）" in text
    assert "住民票等交付手数料" in text and "粗大ごみ処理手数料" in text
    assert "1,200" in text and "5,200" in text and "合計" in text


def test_receipts_csv_is_cp932_with_the_finance_columns(day_of_payments, tmp_path):
    path = tmp_path / "r.csv"
    out = io.StringIO()
    call_command("payments", "export-receipts", "--from", DAY.isoformat(), "--to", DAY.isoformat(), "-o", str(path),
                 stdout=out)
    text = path.read_bytes().decode("cp932")
    lines = text.split("\r\n")
    assert lines[0] == "調定番号,科目コード,科目名,金額,調定日,収納日,入金日,支払方法,受付番号"
    body = [line.split(",") for line in lines[1:] if line]
    assert len(body) == 5  # the refunded one was received on 11/28, the open one never
    first = body[0]
    assert first[1:4] == ["1401", "住民票等交付手数料", "300"]
    assert first[5:9] == ["2026-12-01", "2026-12-06", "クレジットカード", "PAYX-20261201-0001"]
    assert [row[7] for row in body] == ["クレジットカード", "PayPay", "窓口（現金）", "コンビニ払い", "窓口（QRコード決済）"]
    assert "5 件" in out.getvalue()


def test_characters_cp932_cannot_hold_are_reported_not_replaced(day_of_payments, world, tmp_path):
    FeeItem.objects.filter(code="1502").update(name="𠮷野町 粗大ごみ処理手数料")
    path = tmp_path / "r.csv"
    with pytest.raises(CommandError) as refused:
        call_command("payments", "export-receipts", "--from", DAY.isoformat(), "--to", DAY.isoformat(), "-o",
                     str(path), stdout=io.StringIO())
    assert "5行目「科目名」の「𠮷」" in str(refused.value)
    assert not path.exists()
    with pytest.raises(exports.ExportRefused):
        exports.receipts_csv(DAY, DAY)


def test_a_period_is_bounded(world):
    with pytest.raises(exports.ExportRefused):
        exports.receipts_csv(DAY, DAY + dt.timedelta(days=400))
    with pytest.raises(exports.ExportRefused):
        exports.receipts_csv(DAY, DAY - dt.timedelta(days=1))
