"""Typical counter congestion computed from POS transactions and counter applications
(insights.congestion), stored through reservations and shown on /congestion/ when no
live reading exists."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client

from tenohira.catalog.models import Department, Procedure, Section
from tenohira.core.fiscal import JST
from tenohira.insights import congestion as typical
from tenohira.insights.models import ExternalApplication, PosTransaction
from tenohira.reservations import congestion
from tenohira.reservations.models import Counter, Facility, TypicalCongestion

pytestmark = pytest.mark.django_db
_keys = itertools.count()

# Two Mondays and one Tuesday of June 2023 (ordinary business days).
MONDAYS = (dt.date(2023, 6, 5), dt.date(2023, 6, 12))
TUESDAY = dt.date(2023, 6, 6)


@pytest.fixture
def counter():
    section = Section.objects.create(department=Department.objects.create(name="市民部"), name="市民課")
    hall = Facility.objects.create(code="honcho", name="本庁舎", section=section)
    return Counter.objects.create(code="shimin", name="市民課 住民記録窓口", facility=hall, section=section,
                                  pos_facility="市民課")


def pay(day: dt.date, hour: int, n: int, facility: str = "市民課", minute: int = 10) -> None:
    PosTransaction.objects.bulk_create([
        PosTransaction(at=dt.datetime.combine(day, dt.time(hour, minute), tzinfo=JST), facility=facility,
                       fee_item="住民票の写し", amount=300, method="現金", cashless=False, source_key=f"k{next(_keys)}")
        for _ in range(n)
    ])


def test_visitors_per_weekday_and_hour_are_averaged_over_that_weekdays_days(counter):
    pay(MONDAYS[0], 9, 10)
    pay(MONDAYS[1], 9, 20)   # Monday 9時台: (10 + 20) / 2 = 15
    pay(MONDAYS[0], 14, 6)   # Monday 14時台: 6 / 2 Mondays = 3
    pay(TUESDAY, 10, 4)      # Tuesday 10時台: 4 / 1
    pay(MONDAYS[0], 9, 50, facility="美術館")  # another POS facility: not this counter's
    # 23:30 UTC on Sunday is 08:30 JST on Monday: hours and weekdays are read in Japan time.
    PosTransaction.objects.create(at=dt.datetime(2023, 6, 11, 23, 30, tzinfo=dt.UTC), facility="市民課",
                                  fee_item="x", amount=300, method="現金", cashless=False, source_key="utc")
    results = typical.compute()
    assert [(r.counter.code, r.rows) for r in results] == [("shimin", 4)]
    assert results[0].basis.startswith("POS ")
    rows = {(t.weekday, t.hour): (t.visitors, t.level) for t in TypicalCongestion.objects.filter(counter=counter)}
    # The 08:30 JST payment falls on the second Monday: Monday still averages over 2 days.
    assert rows == {
        (0, 8): (Decimal("0.5"), 0),   # 1 / 2 Mondays, 3 % of the busiest
        (0, 9): (Decimal("15.0"), 3),  # the busiest hour
        (0, 14): (Decimal("3.0"), 0),  # 20 %
        (1, 10): (Decimal("4.0"), 1),  # 27 %
    }


def test_counter_applications_count_where_they_exceed_the_payments(counter):
    procedure = Procedure.objects.create(code="SMN-010", section=counter.section, name="転入届")
    counter.procedures.add(procedure)
    pay(MONDAYS[0], 9, 2)
    for n in range(6):  # 6 applications at the counter in Monday's 9時台, none paid
        ExternalApplication.objects.create(
            procedure_name="転入届", procedure=procedure, channel="窓口", source_key=f"a{n}",
            submitted_at=dt.datetime.combine(MONDAYS[0], dt.time(9, 5 + n), tzinfo=JST),
        )
    ExternalApplication.objects.create(  # online: not a counter visit
        procedure_name="転入届", procedure=procedure, channel="online", source_key="online",
        submitted_at=dt.datetime.combine(MONDAYS[0], dt.time(10, 0), tzinfo=JST),
    )
    typical.compute()
    row = TypicalCongestion.objects.get(counter=counter)
    assert (row.weekday, row.hour, row.visitors) == (0, 9, Decimal("6.0"))  # max(2, 6), not 8
    assert "POS" in row.basis and "他システムの窓口申請" in row.basis


def test_a_counter_without_records_keeps_its_rows(counter):
    congestion.store_typical(counter, [congestion.TypicalRow(0, 9, Decimal(3))], basis="デモ用の例")
    assert typical.compute()[0].rows == 0
    assert TypicalCongestion.objects.get(counter=counter).basis == "デモ用の例"


def test_the_command_computes_and_reports(counter, capsys):
    pay(MONDAYS[0], 9, 3)
    call_command("insights", "typical-congestion", "--counter", "shimin", "--from", "2023-06-01", "--to", "2023-06-30")
    out = capsys.readouterr().out
    assert "窓口の混み具合 市民課 住民記録窓口: 1 時間帯（POS 2023-06-01〜2023-06-30）" in out
    call_command("insights", "typical-congestion", "--from", "2023-07-01", "--to", "2023-07-31")
    assert "記録がないため変更しません" in capsys.readouterr().out
    assert TypicalCongestion.objects.filter(counter=counter).count() == 1


def test_the_typical_level_is_shown_when_there_is_no_live_reading(counter, monkeypatch):
    pay(MONDAYS[0], 9, 12)
    pay(MONDAYS[0], 11, 2)
    typical.compute()
    # A Monday at 09:40 in 2025: no reading, so the page shows the usual level of 9時台.
    monkeypatch.setattr(congestion, "now", lambda: dt.datetime(2025, 6, 9, 9, 40, tzinfo=JST))
    html = Client().get("/congestion/").content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "いつもの混み具合（目安）: 大変混んでいます" in text
    assert "月曜日のいつもの混み具合（目安）" in text
    assert "9時台 大変混んでいます" in text and "11時台 空いています" in text


def test_importing_pos_transactions_recomputes_the_typical_congestion(counter, tmp_path, capsys):
    path = tmp_path / "pos.csv"
    path.write_text(
        "日時,施設,料金項目,金額,支払方法\n"
        "2023-06-05 09:10,市民課,住民票の写し,300,現金\n"
        "2023-06-05 09:20,市民課,住民票の写し,300,クレジットカード\n"
        "2023-06-05 10:05,市民課,印鑑登録証明書,300,現金\n",
        encoding="utf-8",
    )
    call_command("insights", "import-pos", str(path))
    out = capsys.readouterr().out
    assert "取り込みました" in out and "窓口の混み具合 市民課 住民記録窓口: 2 時間帯" in out
    rows = dict(TypicalCongestion.objects.filter(counter=counter).values_list("hour", "visitors"))
    assert rows == {9: Decimal("2.0"), 10: Decimal("1.0")}  # Monday 5 June 2023
