"""粗大ごみ collection routes of the demo city: one route per district (東・西・南・北地区),
collected on fixed weekdays (business days only), one slot per day (8:30–12:00) for 30
households. A day opens 60 days ahead and closes 7 days before (the form's 「申込みの7日後
から」), and a booking may be changed or cancelled until 3 days before. Safe to run again."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from tenohira.catalog.models import Procedure
from tenohira.core.fiscal import JST
from tenohira.reservations.demo.base import facility, resource, rule
from tenohira.reservations.models import Resource
from tenohira.reservations.services import generate_slots

DAYS = 75
HOUSEHOLDS_PER_DAY = 30

#: (code, district, collection weekdays 0=月…6=日, towns for the form's hint)
ROUTES = [
    ("sodai-higashi", "東地区", "03", "月曜日・木曜日"),
    ("sodai-nishi", "西地区", "14", "火曜日・金曜日"),
    ("sodai-minami", "南地区", "2", "水曜日"),
    ("sodai-kita", "北地区", "24", "水曜日・金曜日"),
]


@transaction.atomic
def seed() -> str:
    center = facility("kankyo-hozen-center", "環境保全センター", "３Ｒ推進課", "東部町2-1", 5)
    procedure = Procedure.objects.filter(code="SDG").first()
    today = timezone.now().astimezone(JST).date()
    made = 0
    for order, (code, district, weekdays, days) in enumerate(ROUTES):
        route = resource(
            code, name=f"粗大ごみ収集（{district}）", facility=center, section=center.section,
            kind=Resource.Kind.COLLECTION, district=district, procedure=procedure, order=order,
            description=f"{district}の粗大ごみの戸別収集です。収集日は{days}です（祝日と年末年始を除く）。",
            keywords="粗大ごみ 大型ごみ 収集 家具 自転車 布団",
            bring="粗大ごみ処理券（品物1点ごとに貼ってください）",
            opens_days_ahead=60, closes_hours_before=7 * 24, change_hours_before=3 * 24,
            max_active_per_person=2, max_places=1, fee_yen=0, pay_within_days=0,
        )
        rule(route, weekdays=weekdays, start=dt.time(8, 30), end=dt.time(12, 0), slot_minutes=210,
             capacity=HOUSEHOLDS_PER_DAY, business_days_only=True)
        made += generate_slots(route, today, today + dt.timedelta(days=DAYS))
    return f"予約: 粗大ごみの収集（{len(ROUTES)}地区、収集日 {made} 日分を作成）"
