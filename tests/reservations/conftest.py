"""Fixtures of the reservations tests: a facility with resources and slots made through
the real services (opening rules → generate_slots)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tenohira.core.fiscal import JST


@pytest.fixture
def section(db):
    from tenohira.catalog.models import Department, Section

    department = Department.objects.create(name="保健福祉部", order=1)
    return Section.objects.create(department=department, name="保健センター", order=1)


@pytest.fixture
def facility(section):
    from tenohira.reservations.models import Facility

    return Facility.objects.create(code="hoken-center", name="保健センター", section=section,
                                   address="中央1-1-1")


@pytest.fixture
def make_resource(facility, section):
    """make_resource(code, **fields) → a Resource with no rules and no slots."""
    from tenohira.reservations.models import Resource

    def make(code="room-a", **fields):
        values = {"name": "会議室A", "kind": Resource.Kind.ROOM, "facility": facility, "section": section,
                  "closes_hours_before": 0, "change_hours_before": 0, "opens_days_ahead": 400}
        values.update(fields)
        return Resource.objects.create(code=code, **values)

    return make


def in_days(days: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    day = timezone.now().astimezone(JST).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=JST)


@pytest.fixture
def make_slot():
    """make_slot(resource, days_ahead=3, hour=10, capacity=1, kinds={code: places})."""
    from tenohira.reservations.models import ResourceKind, Slot, SlotKind

    def make(resource, days_ahead=3, hour=10, capacity=1, minutes=60, kinds=None, **fields):
        start = in_days(days_ahead, hour)
        slot = Slot.objects.create(resource=resource, starts_at=start, ends_at=start + dt.timedelta(minutes=minutes),
                                   capacity=capacity, **fields)
        for order, (code, places) in enumerate((kinds or {}).items()):
            kind, _ = ResourceKind.objects.get_or_create(resource=resource, code=code,
                                                         defaults={"name": code, "order": order})
            SlotKind.objects.create(slot=slot, kind=kind, capacity=places)
        return slot

    return make


@pytest.fixture
def person():
    from tenohira.reservations.services import Person

    def make(n=1, **fields):
        values = {"name": f"予約 太郎{n}", "email": f"taro{n}@example.jp", "phone": "090-1234-5678"}
        values.update(fields)
        return Person(**values)

    return make
