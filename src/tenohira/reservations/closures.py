"""Closure days entered after the slots were made (臨時休庁, an election count): the slots of
that day whose resources open on business days only are stopped (休止) with the reason, and
opened again when the closure day is removed or moved. Bookings already made on the day
are kept: the staff day view lists them under the 休止, with their phone numbers, so the
section can call each resident (as for any 休止).

Connected to core.ClosureDay's saves and deletions (reservations.receivers_booking); the
same transaction as the change of the calendar.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef

from tenohira.core.fiscal import JST
from tenohira.reservations.models import OpeningRule, Slot

PREFIX = "閉庁日"


def _reason(closure) -> str:
    return f"{PREFIX}（{closure.reason}）" if closure.reason else PREFIX


def _slots_of(day: dt.date):
    """Slots starting on `day` (JST) of resources whose every opening rule keeps to business
    days: a resource also open on weekends and holidays is left as its staff set it."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=JST)
    any_rule = OpeningRule.objects.filter(resource=OuterRef("resource"))
    every_day_rule = OpeningRule.objects.filter(resource=OuterRef("resource"), business_days_only=False)
    return (
        Slot.objects.filter(starts_at__gte=start, starts_at__lt=start + dt.timedelta(days=1))
        .filter(Exists(any_rule)).exclude(Exists(every_day_rule))
    )


def close_day(closure) -> int:
    """Stop the day's slots (those not stopped already). Returns how many."""
    return _slots_of(closure.date).filter(blocked=False).update(blocked=True, block_reason=_reason(closure)[:200])


def reopen_day(day: dt.date) -> int:
    """Open again the slots a closure day had stopped (a 休止 staff set stays)."""
    return _slots_of(day).filter(blocked=True, block_reason__startswith=PREFIX).update(blocked=False, block_reason="")


def closure_saved(sender, instance, **kwargs) -> None:
    previous = getattr(instance, "_reservations_previous_date", None)
    if previous is not None and previous != instance.date:
        reopen_day(previous)
    close_day(instance)


def closure_changing(sender, instance, **kwargs) -> None:
    """Remember the date a closure day had, so that moving it reopens the old day."""
    instance._reservations_previous_date = (
        sender.objects.filter(pk=instance.pk).values_list("date", flat=True).first() if instance.pk else None
    )


def closure_deleted(sender, instance, **kwargs) -> None:
    reopen_day(instance.date)
