"""消込: a settlement file matched against payments (payments.reconcile), and the command.

A small provider registered here reads the card gateway's CSV (transaction_id, amount,
fee, settled_on) so these tests do not wait for the real adapters; it refuses bad lines
all at once, with their numbers, as every provider's parse_settlement must.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tenohira.applications.models import Submission
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.core.fiscal import JST
from tenohira.forms.services import publish
from tenohira.payments import reconcile
from tenohira.payments.models import Assessment, FeeItem, Payment, PaymentEvent, SettlementImport
from tenohira.payments.registry import Provider, SettlementLine, register

pytestmark = pytest.mark.django_db

SCHEMA = {"title": "テスト", "steps": [{"key": "a", "title": "a", "fields": [
    {"key": "n", "type": "text", "label": "名前"}]}]}


class CsvSettlementProvider(Provider):
    name = "testcard"
    label = "テスト用カード"

    def parse_settlement(self, data: bytes) -> list[SettlementLine]:
        text = data.decode("utf-8")
        lines, problems = [], []
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if number == 1 and row and row[0] == "transaction_id":
                continue
            try:
                ref, amount, fee, settled = row
                lines.append(SettlementLine(number, ref, Decimal(amount), Decimal(fee),
                                            dt.date.fromisoformat(settled)))
            except (ValueError, InvalidOperation):
                problems.append(f"{number}行目: 読み取れません。")
        if problems:
            raise ValueError("\n".join(problems))
        return lines


class NoSettlementProvider(Provider):
    name = "testcounter"
    label = "窓口（テスト）"
    online = False


@pytest.fixture(autouse=True)
def providers():
    register.register(CsvSettlementProvider)
    register.register(NoSettlementProvider)
    yield
    register._providers.pop("testcard", None)
    register._providers.pop("testcounter", None)


@pytest.fixture
def world(db):
    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    procedure = Procedure.objects.create(code="PAYT", section=section, name="住民票の写しの交付請求")
    version, _ = publish(procedure, SCHEMA)
    submission = Submission.objects.create(
        receipt_number="PAYT-0001", procedure=procedure, section=section, form_version=version, answers={},
        status_secret_hash="x", submitted_at=timezone.now(),
    )
    fee_item = FeeItem.objects.create(code="1401", name="住民票等交付手数料")
    return {"procedure": procedure, "submission": submission, "fee_item": fee_item}


def make_payment(world, ref: str, amount: int = 300, *, state=Payment.State.CAPTURED, captured_at=None,
                 expires_at=None, provider="testcard") -> Payment:
    n = Assessment.objects.count() + 1
    assessment = Assessment.objects.create(
        number=f"R8-{n:06d}", submission=world["submission"], procedure=world["procedure"],
        fee_item=world["fee_item"], timing="at_submission", amount_assessed=amount, amount_due=amount,
        state=Assessment.State.PAID, expires_at=expires_at,
    )
    return Payment.objects.create(
        assessment=assessment, provider=provider, method="card", provider_ref=ref, idempotency_key=f"k-{ref}",
        amount=amount, state=state, captured_at=captured_at or timezone.now() - dt.timedelta(days=2),
    )


def settlement(*rows) -> bytes:
    out = ["transaction_id,amount,fee,settled_on"]
    out += [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(out) + "\n").encode()


def today() -> dt.date:
    return timezone.localtime(timezone.now(), JST).date()


def test_one_unmatched_one_duplicate_one_mismatched_exactly_and_the_rest_reconciled(world):
    payments = [make_payment(world, f"pi_{i}") for i in range(5)]
    data = settlement(
        ("pi_0", 300, 10, today()),
        ("pi_1", 300, 10, today()),
        ("pi_404", 300, 10, today()),       # line 4: unmatched
        ("pi_1", 300, 10, today()),         # line 5: duplicate of line 3
        ("pi_2", 350, 11, today()),         # line 6: mismatched
        ("pi_3", 300, 10, today()),
        ("pi_4", 300, 10, today()),
    )
    record = reconcile.import_settlement(data, provider="testcard", file_name="2026-12-01.csv")

    assert reconcile.summary(record) == {"unmatched": 1, "duplicate": 1, "mismatched": 1, "late": 0}
    assert [e["line"] for e in record.report["unmatched"]] == [4]
    assert record.report["unmatched"][0]["transaction_id"] == "pi_404"
    assert [e["line"] for e in record.report["duplicate"]] == [5]
    assert [e["line"] for e in record.report["mismatched"]] == [6]
    assert record.lines == 7 and record.matched == 4

    for payment in payments:
        payment.refresh_from_db()
        payment.assessment.refresh_from_db()
    reconciled = [p for p in payments if p.provider_ref != "pi_2"]
    assert all(p.state == Payment.State.RECONCILED for p in reconciled)
    assert all(p.assessment.state == Assessment.State.RECONCILED for p in reconciled)
    assert all(p.settlement_id == record.pk and p.settled_on == today() and p.provider_fee == 10 for p in reconciled)
    mismatched = payments[2]
    assert mismatched.state == Payment.State.CAPTURED and mismatched.settlement_id is None
    assert mismatched.assessment.state == Assessment.State.PAID
    # Every move is in the history, as payments.states records it.
    events = PaymentEvent.objects.filter(kind="reconcile")
    assert events.filter(payment__isnull=False, to_state=Payment.State.RECONCILED).count() == 4
    assert [e.detail["assessment"] for e in events] == [{"from": "paid", "to": "reconciled"}] * 4


def test_a_payment_reconciled_by_an_earlier_file_is_a_duplicate(world):
    make_payment(world, "pi_a")
    make_payment(world, "pi_b")
    first = reconcile.import_settlement(settlement(("pi_a", 300, 10, today())), provider="testcard", file_name="1.csv")
    second = reconcile.import_settlement(
        settlement(("pi_a", 300, 10, today()), ("pi_b", 300, 10, today())), provider="testcard", file_name="2.csv")
    assert reconcile.summary(second) == {"unmatched": 0, "duplicate": 1, "mismatched": 0, "late": 0}
    assert second.report["duplicate"][0]["previous_import"] == first.pk
    assert Payment.objects.get(provider_ref="pi_a").settlement_id == first.pk


def test_late_payout_and_payment_after_the_deadline_are_reconciled_and_reported(world):
    now = timezone.now()
    make_payment(world, "pi_slow", captured_at=now - dt.timedelta(days=20))
    make_payment(world, "pi_after", captured_at=now - dt.timedelta(days=1), expires_at=now - dt.timedelta(days=2))
    make_payment(world, "pi_ok", captured_at=now - dt.timedelta(days=3))
    record = reconcile.import_settlement(
        settlement(("pi_slow", 300, 10, today()), ("pi_after", 300, 10, today()), ("pi_ok", 300, 10, today())),
        provider="testcard", file_name="late.csv")
    assert [e["transaction_id"] for e in record.report["late"]] == ["pi_slow", "pi_after"]
    assert "日後の入金" in record.report["late"][0]["message"]
    assert "支払期限" in record.report["late"][1]["message"]
    assert record.matched == 3
    assert set(Payment.objects.values_list("state", flat=True)) == {Payment.State.RECONCILED}


def test_late_days_is_a_setting(world, settings):
    settings.PAYMENTS_SETTLEMENT_LATE_DAYS = 1
    make_payment(world, "pi_x", captured_at=timezone.now() - dt.timedelta(days=3))
    record = reconcile.import_settlement(settlement(("pi_x", 300, 10, today())), provider="testcard",
                                         file_name="x.csv")
    assert len(record.report["late"]) == 1


def test_the_same_file_is_refused_the_second_time(world):
    make_payment(world, "pi_a")
    data = settlement(("pi_a", 300, 10, today()))
    reconcile.import_settlement(data, provider="testcard", file_name="a.csv")
    with pytest.raises(reconcile.SettlementRefused) as refused:
        reconcile.import_settlement(data, provider="testcard", file_name="a-copy.csv")
    assert "取込み済み" in refused.value.problems[0]
    assert SettlementImport.objects.count() == 1


def test_a_malformed_file_changes_nothing_and_names_every_bad_line(world):
    make_payment(world, "pi_a")
    make_payment(world, "pi_b")
    data = settlement(("pi_a", 300, 10, today()), ("pi_b", "三百", 10, today()), ("pi_c", 300, 10, "昨日"))
    with pytest.raises(reconcile.SettlementRefused) as refused:
        reconcile.import_settlement(data, provider="testcard", file_name="bad.csv")
    assert refused.value.problems == ["3行目: 読み取れません。", "4行目: 読み取れません。"]
    assert SettlementImport.objects.count() == 0
    assert set(Payment.objects.values_list("state", flat=True)) == {Payment.State.CAPTURED}
    assert not PaymentEvent.objects.exists()


def test_a_payment_moved_meanwhile_rolls_the_whole_import_back(world, monkeypatch):
    make_payment(world, "pi_a")
    make_payment(world, "pi_b")
    original = reconcile._classify

    def refund_in_between(*args, **kwargs):
        matches = original(*args, **kwargs)
        Payment.objects.filter(provider_ref="pi_b").update(state=Payment.State.REFUNDED)
        return matches

    monkeypatch.setattr(reconcile, "_classify", refund_in_between)
    with pytest.raises(reconcile.SettlementRefused):
        reconcile.import_settlement(settlement(("pi_a", 300, 10, today()), ("pi_b", 300, 10, today())),
                                    provider="testcard", file_name="race.csv")
    assert SettlementImport.objects.count() == 0
    assert Payment.objects.get(provider_ref="pi_a").state == Payment.State.CAPTURED


def test_a_payment_that_never_took_the_money_is_mismatched(world):
    make_payment(world, "pi_open", state=Payment.State.AWAITING)
    record = reconcile.import_settlement(settlement(("pi_open", 300, 10, today())), provider="testcard",
                                         file_name="o.csv")
    assert len(record.report["mismatched"]) == 1 and record.matched == 0
    assert Payment.objects.get().state == Payment.State.AWAITING


def test_another_providers_payment_does_not_match(world):
    make_payment(world, "pi_a", provider="other")
    record = reconcile.import_settlement(settlement(("pi_a", 300, 10, today())), provider="testcard",
                                         file_name="p.csv")
    assert len(record.report["unmatched"]) == 1


def test_a_provider_without_settlement_files_and_an_unknown_one_are_refused(world):
    with pytest.raises(reconcile.SettlementRefused) as refused:
        reconcile.import_settlement(b"x", provider="testcounter", file_name="c.csv")
    assert "入金明細の取込みがありません" in refused.value.problems[0]
    with pytest.raises(reconcile.SettlementRefused) as refused:
        reconcile.import_settlement(b"x", provider="nosuch", file_name="c.csv")
    assert "登録されていません" in refused.value.problems[0]


def test_too_many_lines_refused_before_parsing(world, monkeypatch):
    monkeypatch.setattr(reconcile, "MAX_LINES", 3)
    calls = []
    monkeypatch.setattr(CsvSettlementProvider, "parse_settlement", lambda self, data: calls.append(1) or [])
    with pytest.raises(reconcile.SettlementRefused):
        reconcile.import_settlement(b"h\n1\n2\n3\n4\n5\n", provider="testcard", file_name="big.csv")
    assert calls == []


def test_dry_run_reports_and_keeps_nothing(world):
    make_payment(world, "pi_a")
    record = reconcile.import_settlement(settlement(("pi_a", 300, 10, today()), ("pi_z", 1, 0, today())),
                                         provider="testcard", file_name="d.csv", dry_run=True)
    assert record.matched == 1 and len(record.report["unmatched"]) == 1
    assert SettlementImport.objects.count() == 0
    assert Payment.objects.get().state == Payment.State.CAPTURED


def test_command_prints_counts_and_problem_lines_and_refuses_with_status_1(world, tmp_path):
    make_payment(world, "pi_a")
    path = tmp_path / "s.csv"
    path.write_bytes(settlement(("pi_a", 300, 10, today()), ("pi_q", 300, 10, today())))
    out = io.StringIO()
    call_command("payments", "import-settlement", str(path), "--provider", "testcard", stdout=out)
    text = out.getvalue()
    assert "消込 1 件" in text and "該当する支払いがない 1 件" in text
    assert "3行目" in text and "pi_q" in text
    with pytest.raises(CommandError) as refused:
        call_command("payments", "import-settlement", str(path), "--provider", "testcard", stdout=io.StringIO())
    assert "取込み済み" in str(refused.value)
