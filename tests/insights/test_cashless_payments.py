"""The cashless figures count Tenohira's own payments (online and at counters), next to
the imported POS data, never twice: a facility with imported data is counted from it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tenohira.applications.models import Submission
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.core.fiscal import JST
from tenohira.forms.services import publish
from tenohira.insights import kpi_cashless
from tenohira.insights.models import FacilityCashless, PosTransaction
from tenohira.payments.models import Assessment, FeeItem, Payment

pytestmark = pytest.mark.django_db

SCHEMA = {"title": "テスト", "steps": [{"key": "a", "title": "a", "fields": [
    {"key": "n", "type": "text", "label": "名前"}]}]}
START, END = dt.date(2026, 4, 1), dt.date(2026, 4, 30)


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 4, day, hour, tzinfo=JST)


@pytest.fixture
def world(db):
    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    procedure = Procedure.objects.create(code="CLS", section=section, name="住民票の写しの交付請求")
    version, _ = publish(procedure, SCHEMA)
    submission = Submission.objects.create(
        receipt_number="CLS-1", procedure=procedure, section=section, form_version=version, answers={},
        status_secret_hash="x", submitted_at=timezone.now(),
    )
    item = FeeItem.objects.create(code="1401", name="住民票等交付手数料")
    return {"procedure": procedure, "submission": submission, "item": item}


def pay(world, amount, provider, method, when, facility="", state=Payment.State.CAPTURED):
    n = Assessment.objects.count() + 1
    assessment = Assessment.objects.create(
        number=f"R8-{n:06d}", submission=world["submission"], procedure=world["procedure"], fee_item=world["item"],
        timing="at_submission", amount_assessed=amount, amount_due=amount, state=Assessment.State.PAID,
    )
    Payment.objects.create(assessment=assessment, provider=provider, method=method, idempotency_key=f"k{n}",
                           provider_ref="" if provider == "counter" else f"ref{n}", amount=amount, state=state,
                           captured_at=when, facility=facility)


def pos(facility, amount, method, cashless, when, key):
    PosTransaction.objects.create(at=when, facility=facility, fee_item="住民票等交付手数料", amount=amount,
                                  method=method, cashless=cashless, source_key=key)


def test_online_and_counter_payments_are_counted_and_pos_facilities_not_twice(world):
    pos("本庁舎 市民課", 300, "現金", False, at(1), "a")
    pos("本庁舎 市民課", 300, "PayPay", True, at(2), "b")
    pay(world, 300, "counter", "card", at(2), facility="本庁舎 市民課")  # also rung up on the POS: left out
    pay(world, 500, "counter", "qr", at(3), facility="図書館")
    pay(world, 200, "counter", "cash", at(3), facility="図書館")
    pay(world, 300, "stripe_card", "card", at(4))
    pay(world, 600, "konbini", "konbini", at(5))  # cash at the shop's till
    pay(world, 300, "stripe_card", "card", None, state=Payment.State.AWAITING)  # no money
    pay(world, 999, "stripe_card", "card", dt.datetime(2026, 3, 31, 23, tzinfo=JST))  # before the period

    section = kpi_cashless.section(START, END)
    facilities = {f["facility"]: f for f in section["facilities"]}
    assert set(facilities) == {"本庁舎 市民課", "図書館", "オンライン"}
    assert facilities["本庁舎 市民課"]["source"] == "pos" and facilities["本庁舎 市民課"]["sales_yen"] == 600
    library = facilities["図書館"]
    assert (library["source"], library["sales_yen"], library["cashless_yen"], library["transactions"]) == (
        "payments", 700, 500, 2)
    online = facilities["オンライン"]
    assert (online["sales_yen"], online["cashless_yen"], online["cash_yen"]) == (900, 300, 600)
    assert online["source_label"] == "てのひらの収納"

    total = section["total"]
    assert (total["sales_yen"], total["cashless_yen"], total["transactions"], total["cashless_transactions"]) == (
        2200, 1100, 6, 3)
    assert section["fee_items"] == [{"fee_item": "住民票等交付手数料", **{k: total[k] for k in (
        "sales_yen", "cash_yen", "cashless_yen", "transactions", "cashless_transactions", "ratio_by_count")},
        "ratio_by_amount": kpi_cashless.pct(1100, 2200)}]
    methods = {m["method"]: m for m in section["methods"]}
    assert methods["窓口（QRコード決済）"]["amount_yen"] == 500 and methods["コンビニ払い"]["cashless"] is False
    assert section["months"][0]["sales_yen"] == 2200
    assert section["payments"] == {
        "transactions": 4, "amount_yen": 1600, "facilities": ["オンライン", "図書館"],
        "left_to_imported": {"transactions": 1, "amount_yen": 300, "facilities": ["本庁舎 市民課"]},
    }
    # Congestion is the counters' POS only.
    assert sum(h["transactions"] for h in section["congestion"]["by_hour"]) == 2


def test_a_facility_with_a_yearly_total_is_counted_from_it(world):
    FacilityCashless.objects.create(year=2026, facility="図書館", sales=10_000, cash=6_000, cashless=4_000)
    pay(world, 500, "counter", "qr", at(3), facility="図書館")
    pay(world, 300, "stripe_card", "card", at(4))
    section = kpi_cashless.section(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    facilities = {f["facility"]: f for f in section["facilities"]}
    assert facilities["図書館"]["sales_yen"] == 10_000 and facilities["図書館"]["source"] == "totals"
    assert facilities["オンライン"]["sales_yen"] == 300
    assert section["total"]["sales_yen"] == 10_300
    assert section["payments"]["left_to_imported"]["amount_yen"] == 500


def test_payments_alone_give_counts_and_months(world):
    pay(world, 300, "paypay", "paypay", at(10))
    section = kpi_cashless.section(START, END)
    assert section["total"]["transactions"] == 1 and section["total"]["ratio_by_count"] == kpi_cashless.pct(1, 1)
    assert [m["sales_yen"] for m in section["months"]] == [300]
