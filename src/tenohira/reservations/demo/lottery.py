"""The demo's lottery: the tennis courts of 総合体育館 are allocated by a monthly lottery for
next month, with entries open now (市内在住・在勤 drawn first). Safe to run again: a
lottery for the same month is not made twice."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from tenohira.catalog.models import Procedure, Section
from tenohira.core.fiscal import JST
from tenohira.reservations import allocation_services
from tenohira.reservations.models import Facility, Lottery, OpeningRule, Resource
from tenohira.reservations.services import generate_slots

PRIORITY = [{"code": "resident", "label": "市内在住・在勤の方"}, {"code": "other", "label": "それ以外の方"}]


@transaction.atomic
def seed() -> str:
    section = Section.objects.get(name="スポーツ振興課")
    gym, _ = Facility.objects.update_or_create(
        code="sogo-taiikukan", defaults={"name": "総合体育館", "section": section, "address": "運動公園通り1-1",
                                         "order": 3})
    court, _ = Resource.objects.update_or_create(code="sogo-tennis", defaults={
        "name": "テニスコート（A面）", "facility": gym, "section": section, "kind": Resource.Kind.ROOM,
        "description": "砂入り人工芝のテニスコートです。毎月、翌月分を抽選で決めます。抽選の後の空きは先着順で予約できます。",
        "keywords": "テニス テニスコート スポーツ 体育館 抽選", "allocation": Resource.Allocation.LOTTERY,
        "fee_yen": 1000, "pay_within_days": 7, "opens_days_ahead": 70, "closes_hours_before": 24,
        "change_hours_before": 72, "max_active_per_person": 4,
        "procedure": Procedure.objects.filter(name="体育施設使用許可申請").first(),
    })
    today = timezone.now().astimezone(JST).date()
    if not court.rules.exists():
        OpeningRule.objects.create(resource=court, weekdays="0123456", start=dt.time(9, 0), end=dt.time(17, 0),
                                   slot_minutes=120, capacity=1, business_days_only=False, valid_from=today)
    first = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    generate_slots(court, first, last)
    if Lottery.objects.filter(resource=court, period_start=first).exists():
        return ""
    now = timezone.now()
    close_at = dt.datetime.combine(min(first - dt.timedelta(days=5), today + dt.timedelta(days=10)), dt.time(17, 0),
                                   tzinfo=JST)
    close_at = max(close_at, now + dt.timedelta(days=1))
    lottery = allocation_services.create_lottery(
        court, title=f"総合体育館テニスコート {first.year}年{first.month}月分", period_start=first, period_end=last,
        entries_open_at=now, entries_close_at=close_at, draw_at=close_at + dt.timedelta(hours=1), max_wishes=3,
        priority_rules=PRIORITY,
    )
    return f"予約: 総合体育館テニスコートの抽選（{first.month}月分、{lottery.slots.count()} 枠、/reservations/lottery/{lottery.pk}/）"
