"""Facilities and the first-come resources of the demo: 乳幼児健診 with its three kinds of
examination in one session, a class for expectant parents, meeting rooms with a fee."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from tenohira.catalog.models import Procedure, Section
from tenohira.core.fiscal import JST
from tenohira.reservations.models import Facility, OpeningRule, Resource, ResourceKind
from tenohira.reservations.services import generate_slots

DAYS = 75

CHECKUP_QUESTIONS = {
    "title": "健診の予約",
    "steps": [{
        "key": "child",
        "title": "お子さんについて",
        "fields": [
            {"key": "child_name", "type": "name", "label": "お子さんの氏名", "required": True},
            {"key": "child_birth", "type": "date", "label": "お子さんの生年月日", "required": True},
            {"key": "concern", "type": "textarea", "label": "相談したいこと（任意）", "required": False,
             "max_length": 400},
        ],
    }],
}


def facility(code: str, name: str, section: str, address: str, order: int) -> Facility:
    found, _ = Facility.objects.update_or_create(
        code=code, defaults={"name": name, "section": Section.objects.get(name=section), "address": address,
                             "order": order},
    )
    return found


def resource(code: str, **fields) -> Resource:
    found, _ = Resource.objects.update_or_create(code=code, defaults=fields)
    return found


def rule(res: Resource, **fields) -> None:
    if not res.rules.exists():
        OpeningRule.objects.create(resource=res, valid_from=timezone.now().astimezone(JST).date(), **fields)


def kinds(res: Resource, names: list[tuple[str, str]]) -> None:
    for order, (code, name) in enumerate(names):
        ResourceKind.objects.update_or_create(resource=res, code=code, defaults={"name": name, "order": order})


@transaction.atomic
def seed() -> str:
    health = facility("hoken-center", "保健センター", "こども家庭支援課", "中央二丁目5-1", 1)
    hall = facility("chuo-kominkan", "中央公民館", "中央公民館", "中央一丁目3-20", 2)
    checkup = resource(
        "nyuyoji-kenshin", name="乳幼児健診", facility=health, section=health.section, kind=Resource.Kind.CHECKUP,
        description="4か月児、1歳6か月児、3歳児の健康診査です。対象の月齢のお子さんの健診日を選んでください。",
        keywords="健診 乳幼児 4か月 1歳6か月 3歳 赤ちゃん 子ども",
        bring="母子健康手帳、問診票、バスタオル（4か月児）",
        questions=CHECKUP_QUESTIONS, opens_days_ahead=60, closes_hours_before=24, change_hours_before=24,
        max_active_per_person=3,
        procedure=Procedure.objects.filter(name__contains="乳幼児健康診査").first(),
    )
    kinds(checkup, [("4m", "4か月児健診"), ("18m", "1歳6か月児健診"), ("3y", "3歳児健診")])
    rule(checkup, weekdays="13", start=dt.time(13, 0), end=dt.time(15, 30), slot_minutes=30, capacity=12,
         kind_capacities={"4m": 4, "18m": 4, "3y": 4})
    mothers = resource(
        "mama-papa-kyoshitsu", name="パパママ教室", facility=health, section=health.section,
        kind=Resource.Kind.CLASS, description="出産を控えた方とパートナーのための教室です（2回で1コース）。",
        keywords="教室 妊娠 出産 パパ ママ 両親学級", bring="母子健康手帳、筆記用具", max_places=2,
        opens_days_ahead=60, closes_hours_before=48,
    )
    rule(mothers, weekdays="5", start=dt.time(10, 0), end=dt.time(12, 0), slot_minutes=120, capacity=20,
         business_days_only=False)
    made = 0
    for code, name in (("room-1", "第1会議室（30人）"), ("room-2", "和室（20人）")):
        room = resource(
            f"kominkan-{code}", name=name, facility=hall, section=hall.section, kind=Resource.Kind.ROOM,
            description="サークル活動や会議に使えます。", keywords="会議室 部屋 集会 サークル 公民館",
            fee_yen=600, pay_within_days=7, opens_days_ahead=90, closes_hours_before=24, change_hours_before=72,
            max_active_per_person=4,
        )
        rule(room, weekdays="0123456", start=dt.time(9, 0), end=dt.time(21, 0), slot_minutes=180, capacity=1,
             business_days_only=False)
        made += _slots(room)
    made += _slots(checkup) + _slots(mothers)
    return f"予約: 乳幼児健診・パパママ教室・公民館の部屋（予約枠 {made} 件を作成）"


def _slots(res: Resource) -> int:
    today = timezone.now().astimezone(JST).date()
    return generate_slots(res, today, today + dt.timedelta(days=DAYS))
