"""The demo city's counters: 本庁舎 (市民課 住民記録窓口, 国民健康保険課 窓口) and 北行政センター
市民窓口 with their congestion, the 来庁予約 for moving (引越し手続きの来庁予約, weekday
slots of 30 minutes), and a ticket machine whose key is printed (a new one each run: only
its hash is kept).

Typical congestion here is an example shape (basis 「デモ用の例」) so the page has something
to show; a real city computes it from its POS and application records with
`tenohira typical_congestion`, which replaces these rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from tenohira.catalog.models import Procedure, Section
from tenohira.core.site import public_url
from tenohira.reservations import congestion
from tenohira.reservations.demo.base import _slots, facility, resource, rule
from tenohira.reservations.models import Counter, Resource, TicketMachine

MACHINE_NAME = "本庁舎1階 発券機（デモ）"
# Visitors per hour on an ordinary day (8時台 opens at 8:30) and by weekday: Monday and
# Friday are busier, as city halls report; a counter's scale multiplies both.
HOURS = {8: 6, 9: 18, 10: 22, 11: 17, 12: 14, 13: 16, 14: 13, 15: 12, 16: 8, 17: 1}
WEEKDAYS = {0: Decimal("1.3"), 1: Decimal("1.0"), 2: Decimal("0.9"), 3: Decimal("0.9"), 4: Decimal("1.1")}

BRING = "本人確認書類（マイナンバーカード、運転免許証など）\n転出証明書（マイナンバーカードで転出届をした方は不要）\nマイナンバーカード（お持ちの方全員分）\n委任状（代理の方の場合）"


def counter(code: str, name: str, place, section, procedures: list[str], *, pos: str = "", minutes: int = 5,
            order: int = 0) -> Counter:
    found, _ = Counter.objects.update_or_create(code=code, defaults={
        "name": name, "facility": place, "section": section, "pos_facility": pos,
        "minutes_per_person": minutes, "order": order, "active": True,
    })
    found.procedures.set(Procedure.objects.filter(name__in=procedures))
    return found


def example_typical(item: Counter, scale: Decimal) -> None:
    rows = [congestion.TypicalRow(weekday, hour, Decimal(visitors) * factor * scale)
            for weekday, factor in WEEKDAYS.items() for hour, visitors in HOURS.items()]
    congestion.store_typical(item, rows, basis="デモ用の例")


@transaction.atomic
def seed() -> str:
    hall = facility("honcho", "本庁舎", "市民課", "本町一丁目1-1", 0)
    north = facility("kita-gyosei-center", "北行政センター", "市民課", "北町三丁目2-5", 3)
    moving = ["転入届", "転出届", "転居届"]
    residents = counter("shimin-juki", "市民課 住民記録窓口", hall, hall.section, moving, pos="市民課", minutes=6)
    kokuho_section = Section.objects.filter(name="国民健康保険課").first()
    made = [residents]
    if kokuho_section is not None:
        kokuho = counter("kokuho", "国民健康保険課 窓口", hall, kokuho_section,
                         ["国民健康保険の加入・脱退の届出", "国民健康保険高額療養費の支給申請", "被保険者関係届"],
                         minutes=8, order=1)
        made.append(kokuho)
    kita = counter("kita-shimin", "北行政センター 市民窓口", north, north.section, moving, minutes=5, order=2)
    made.append(kita)
    for item, scale in zip(made, (Decimal("1.0"), Decimal("0.5"), Decimal("0.3")), strict=False):
        example_typical(item, scale)

    visit = resource(
        "hikkoshi-raicho", name="引越し手続きの来庁予約", facility=hall, section=hall.section,
        kind=Resource.Kind.COUNTER,
        description="転入・転出・転居の手続きに来る日時を予約できます。予約した方は専用窓口で待たずに手続きできます。",
        keywords="引越し 転入 転出 転居 来庁予約 住所変更 窓口", bring=BRING,
        procedure=Procedure.objects.filter(code="SMN-014").first(),
        opens_days_ahead=30, closes_hours_before=2, change_hours_before=2, max_active_per_person=1, max_places=1,
    )
    rule(visit, weekdays="01234", start=dt.time(9, 0), end=dt.time(16, 30), slot_minutes=30, capacity=3)
    slots = _slots(visit)

    machine = TicketMachine.objects.filter(name=MACHINE_NAME).first()
    if machine is None:
        machine, key = congestion.add_machine(MACHINE_NAME, [residents.code, *(c.code for c in made[1:2])])
    else:
        key = congestion.rotate_key(machine)
    return (f"窓口: {len(made)} 窓口の混雑状況（/congestion/）・来庁予約（予約枠 {slots} 件）\n"
            f"    発券機のキー（{MACHINE_NAME}）: {key}\n"
            f"    例: curl -X POST -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
            f"-d '{{\"waiting\": 12}}' {public_url(f'/api/v1/counters/{residents.code}/queue')}")
