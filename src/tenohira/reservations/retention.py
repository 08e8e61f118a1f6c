"""保存期間: the personal data of bookings, lottery entries and waiting lists is erased a
while after the day they were for (RESERVATIONS_RETENTION_DAYS after the slot ends,
default 365), by `tenohira reservations purge` (a dry run unless --apply).

Erased, not deleted: the rows keep what the figures need (which resource, which day, the
state, 来所・来所なし, the channel, who at the counter booked it) and lose who it was
(氏名, フリガナ, e-mail, phone, the answers, the account). A booking that belongs to an
application follows the application's own retention (applications.retention) for the
application; the booking's copy of the name goes here like any other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from tenohira.audit.services import record as audit
from tenohira.reservations.models import Booking, LotteryEntry, WaitlistEntry

ERASED_NAME = "（保存期間を過ぎたため削除）"


def retention_days() -> int:
    return int(getattr(settings, "RESERVATIONS_RETENTION_DAYS", 365))


@dataclass
class Result:
    cutoff: dt.datetime
    bookings: int
    lottery_entries: int
    waitlist_entries: int
    applied: bool

    def summary(self) -> str:
        verb = "削除しました" if self.applied else "削除の対象です（--apply で削除します）"
        return (f"{self.cutoff:%Y-%m-%d} より前に終わった枠の個人情報: 予約 {self.bookings} 件、"
                f"抽選の申込み {self.lottery_entries} 件、キャンセル待ち {self.waitlist_entries} 件を{verb}。")


def _due(now: dt.datetime):
    cutoff = now - dt.timedelta(days=retention_days())
    bookings = Booking.objects.filter(slot__ends_at__lt=cutoff).exclude(name=ERASED_NAME)
    entries = LotteryEntry.objects.filter(lottery__period_end__lt=cutoff.date()).exclude(name=ERASED_NAME)
    waiting = WaitlistEntry.objects.filter(slot__ends_at__lt=cutoff).exclude(name=ERASED_NAME)
    return cutoff, bookings, entries, waiting


def _unique_key(prefix: str):
    # person_key is unique per lottery and per slot's waiting list: each erased row its own.
    return Concat(Value(prefix), Cast(F("pk"), output_field=Booking._meta.get_field("person_key")))


def purge(*, apply: bool = False, now: dt.datetime | None = None, user=None) -> Result:
    now = now or timezone.now()
    cutoff, bookings, entries, waiting = _due(now)
    if not apply:
        return Result(cutoff, bookings.count(), entries.count(), waiting.count(), applied=False)
    with transaction.atomic():
        erased_bookings = bookings.update(
            name=ERASED_NAME, name_kana="", email="", phone="", answers={}, account=None,
            person_key=_unique_key("erased:"), request_key=None,
        )
        erased_entries = entries.update(
            name=ERASED_NAME, email="", phone="", answers={}, account=None, person_key=_unique_key("erased:"),
            request_key=None,
        )
        erased_waiting = waiting.update(
            name=ERASED_NAME, name_kana="", email="", phone="", answers={}, account=None,
            person_key=_unique_key("erased:"),
        )
        result = Result(cutoff, erased_bookings, erased_entries, erased_waiting, applied=True)
        audit("retention.reservations_purge", user=user, target="reservations",
              detail={"cutoff": cutoff.isoformat(), "bookings": erased_bookings, "lottery_entries": erased_entries,
                      "waitlist_entries": erased_waiting})
    return result
