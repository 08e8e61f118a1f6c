"""Counter congestion (窓口の混雑状況): what residents see before they come, and the writes
behind it.

Two kinds of facts, shown in this order of trust:

* **A current reading** (QueueReading): the waiting count (and minutes) posted by a
  queue-ticket machine (発券機, api.py) or entered by staff (backoffice.views_counters).
  A reading older than CONGESTION_CURRENT_MINUTES (default 15) is not current: a machine
  that stopped posting must not show a quiet counter all afternoon.
* **Typical congestion** (TypicalCongestion, いつもの混み具合): visitors per weekday and
  hour, computed by insights from POS transactions and counter applications and stored
  here with `store_typical`, with a level 0..3 from `level_for`.

Outside office hours (core.calendar) the page says 「営業時間外」 whatever the readings say.

Ticket machines authenticate with a key of which only the SHA-256 is stored; the first
characters are kept as a prefix to find the row, and the hash is compared in constant time.
A key is 256 random bits, so a plain hash is enough (no stretching: nobody can guess it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from tenohira.core import calendar
from tenohira.core.fiscal import JST
from tenohira.reservations.models import (
    Counter,
    QueueReading,
    Resource,
    TicketMachine,
    TypicalCongestion,
)

#: Bounds of what a reading may say; beyond them the machine or the clerk made a mistake.
MAX_WAITING = 999
MAX_WAIT_MINUTES = 600
#: A machine's own time may run this far ahead of ours (clock drift) …
MAX_CLOCK_AHEAD = dt.timedelta(minutes=5)
#: … and a reading sent late (a queue flushed after a network outage) this far behind.
MAX_READING_AGE = dt.timedelta(hours=24)

KEY_PREFIX = "tnhq_"
PREFIX_LENGTH = 12

#: Level names (混雑の度合い). The level of an hour is its visitors relative to the
#: counter's own busiest hour of the week (see level_for): POS and application records
#: count only a part of the visitors, so their ratio means more than their number.
LEVELS = {0: "空いています", 1: "やや混んでいます", 2: "混んでいます", 3: "大変混んでいます"}
#: Upper bounds (exclusive) of the share of the busiest hour for levels 0, 1 and 2.
LEVEL_SHARES = (Decimal("0.25"), Decimal("0.50"), Decimal("0.75"))


class Invalid(ValueError):
    """A reading or a row that cannot be stored; the message is for the person who sent it."""


def now() -> dt.datetime:
    """The clock of this module (tests freeze it here; everything below reads it)."""
    return timezone.now()


def current_for() -> dt.timedelta:
    return dt.timedelta(minutes=int(getattr(settings, "CONGESTION_CURRENT_MINUTES", 15)))


# --- ticket machines --------------------------------------------------------------------


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def add_machine(name: str, counter_codes: list[str]) -> tuple[TicketMachine, str]:
    """Register a ticket machine for these counters; returns it and its key (shown once)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise Invalid("発券機の名前を100文字以内で指定してください。")
    codes = list(dict.fromkeys(counter_codes))
    if not codes:
        raise Invalid("発券機が送る窓口のコードを1つ以上指定してください。")
    counters = list(Counter.objects.filter(code__in=codes))
    unknown = sorted(set(codes) - {counter.code for counter in counters})
    if unknown:
        raise Invalid(f"窓口コード {', '.join(unknown)} はありません。")
    machine = TicketMachine(name=name)
    key = _new_key(machine)
    machine.save()
    machine.counters.set(counters)
    return machine, key


def rotate_key(machine: TicketMachine) -> str:
    """A new key for `machine` (the old one stops working at once); returned once."""
    key = _new_key(machine)
    machine.save(update_fields=["key_prefix", "key_hash"])
    return key


def _new_key(machine: TicketMachine) -> str:
    for _attempt in range(5):
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        prefix = key[:PREFIX_LENGTH]
        if not TicketMachine.objects.filter(key_prefix=prefix).exclude(pk=machine.pk).exists():
            machine.key_prefix, machine.key_hash = prefix, digest(key)
            return key
    raise IntegrityError("could not find a free key prefix")  # 64**7 prefixes: never in practice


def machine_for_key(presented: str) -> TicketMachine | None:
    """The active machine whose key this is, or None. Found by the prefix, then the whole
    key's hash compared in constant time (the prefix alone proves nothing)."""
    if not presented.startswith(KEY_PREFIX) or len(presented) > 200:
        return None
    machine = TicketMachine.objects.filter(key_prefix=presented[:PREFIX_LENGTH], active=True).first()
    if machine is None or not secrets.compare_digest(machine.key_hash, digest(presented)):
        return None
    return machine


# --- readings ---------------------------------------------------------------------------


def check_numbers(waiting, wait_minutes) -> None:
    """Refuse what no counter can mean (the API's and the staff page's one rule)."""
    if isinstance(waiting, bool) or not isinstance(waiting, int) or not 0 <= waiting <= MAX_WAITING:
        raise Invalid(f"待ち人数は 0 以上 {MAX_WAITING} 以下の整数で入力してください。")
    if wait_minutes is not None and (
        isinstance(wait_minutes, bool) or not isinstance(wait_minutes, int) or not 0 <= wait_minutes <= MAX_WAIT_MINUTES
    ):
        raise Invalid(f"待ち時間は 0 以上 {MAX_WAIT_MINUTES} 以下の整数（分）で入力してください。")


def record_reading(counter: Counter, *, waiting: int, wait_minutes: int | None = None,
                   source: str, machine: TicketMachine | None = None, user=None,
                   at: dt.datetime | None = None) -> QueueReading:
    """Store one reading of `counter`. `at` (the machine's own time) defaults to now; a time
    too far ahead or behind is refused, since it would show a wrong 「現在」."""
    check_numbers(waiting, wait_minutes)
    moment = now()
    if at is not None:
        if at.tzinfo is None or at.utcoffset() is None:
            at = at.replace(tzinfo=JST)
        if at > moment + MAX_CLOCK_AHEAD:
            raise Invalid("at が未来の時刻です。発券機の時計を確かめてください。")
        if at < moment - MAX_READING_AGE:
            raise Invalid("at が24時間より前の時刻です。古いデータは送らないでください。")
    with transaction.atomic():
        reading = QueueReading.objects.create(
            counter=counter, waiting=waiting, wait_minutes=wait_minutes, source=source, machine=machine,
            recorded_by=user if getattr(user, "pk", None) else None, recorded_at=at or moment,
        )
        if machine is not None:
            TicketMachine.objects.filter(pk=machine.pk).update(last_seen_at=moment)
    return reading


def estimated_minutes(counter: Counter, reading: QueueReading) -> int:
    """The machine's own estimate when it sent one, else waiting × minutes per person."""
    if reading.wait_minutes is not None:
        return reading.wait_minutes
    return min(reading.waiting * counter.minutes_per_person, MAX_WAIT_MINUTES)


# --- typical congestion -----------------------------------------------------------------


@dataclass(frozen=True)
class TypicalRow:
    """Visitors in one hour of one weekday (0 = Monday), on average."""

    weekday: int
    hour: int
    visitors: Decimal


def level_for(visitors: Decimal, busiest: Decimal) -> int:
    """0..3 by share of the counter's busiest hour: under 25 % 空いています, under 50 %
    やや混んでいます, under 75 % 混んでいます, else 大変混んでいます. An hour with no visitors is 0."""
    if busiest <= 0 or visitors <= 0:
        return 0
    share = Decimal(visitors) / Decimal(busiest)
    for level, bound in enumerate(LEVEL_SHARES):
        if share < bound:
            return level
    return 3


@transaction.atomic
def store_typical(counter: Counter, rows, *, basis: str, computed_at: dt.datetime | None = None) -> int:
    """Replace the typical congestion of `counter` with `rows` (TypicalRow or dicts with
    weekday, hour, visitors); levels are computed here so they follow one rule everywhere.
    Returns the number of rows stored."""
    parsed: dict[tuple[int, int], Decimal] = {}
    for row in rows:
        values = row if isinstance(row, dict) else row.__dict__
        try:
            weekday, hour = int(values["weekday"]), int(values["hour"])
            visitors = Decimal(str(values["visitors"]))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise Invalid(f"いつもの混雑の行が読めません: {values!r}") from exc
        if not (0 <= weekday <= 6 and 0 <= hour <= 23) or not visitors.is_finite() or visitors < 0:
            raise Invalid(f"曜日は0〜6、時は0〜23、来庁者は0以上にしてください: {values!r}")
        if (weekday, hour) in parsed:
            raise Invalid(f"同じ曜日と時の行が2つあります: 曜日 {weekday} {hour}時")
        parsed[(weekday, hour)] = visitors.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    busiest = max(parsed.values(), default=Decimal(0))
    stamp = computed_at or now()
    TypicalCongestion.objects.filter(counter=counter).delete()
    TypicalCongestion.objects.bulk_create([
        TypicalCongestion(counter=counter, weekday=weekday, hour=hour, visitors=visitors,
                          level=level_for(visitors, busiest), basis=basis[:100], computed_at=stamp)
        for (weekday, hour), visitors in sorted(parsed.items())
    ])
    return len(parsed)


# --- what residents see -----------------------------------------------------------------


@dataclass
class HourLevel:
    hour: int
    level: int

    @property
    def label(self) -> str:
        return LEVELS[self.level]

    @property
    def span(self) -> str:
        return f"{self.hour}時台"


@dataclass
class CounterStatus:
    """One counter on the congestion page (and in the procedure page's panel)."""

    counter: Counter
    outside_hours: bool
    closed_reason: str | None
    reading: QueueReading | None = None
    wait_minutes: int | None = None
    typical_level: int | None = None
    today: list[HourLevel] = field(default_factory=list)
    weekday_name: str = ""
    booking: Resource | None = None

    @property
    def reading_time(self) -> str:
        return f"{self.reading.recorded_at.astimezone(JST):%H:%M}" if self.reading else ""

    @property
    def typical_label(self) -> str:
        return LEVELS[self.typical_level] if self.typical_level is not None else ""

    def sentences(self) -> list[str]:
        """The status in plain sentences (the procedure page's panel has no table)."""
        opens, closes = calendar.office_hours()
        hours = f"受付時間は開庁日の {opens:%H:%M}〜{closes:%H:%M} です。"
        if self.outside_hours:
            why = f"本日は閉庁日です（{self.closed_reason}）。" if self.closed_reason else ""
            return [f"営業時間外です。{why}{hours}"]
        if self.reading is not None:
            return [f"待っている人: {self.reading.waiting}人、待ち時間の目安: 約{self.wait_minutes}分"
                    f"（{self.reading_time} 現在）"]
        if self.typical_level is not None:
            return [f"いつもの混み具合（目安）: この時間は「{self.typical_label}」"]
        return ["この窓口の混雑の情報はまだありません。"]


def counter_statuses(counters=None, *, at: dt.datetime | None = None) -> list[CounterStatus]:
    """The status of each active counter (or of `counters`) at `at` (default now): four
    queries whatever the number of counters."""
    moment = at or now()
    local = moment.astimezone(JST)
    today = local.date()
    opens, closes = calendar.office_hours()
    outside = calendar.is_outside_office_hours(moment)
    reason = calendar.closed_reason(today)
    queryset = Counter.objects.filter(active=True).select_related("facility", "section")
    if counters is not None:
        queryset = queryset.filter(pk__in=[c.pk for c in counters])
    latest = QueueReading.objects.filter(counter=OuterRef("pk")).order_by("-recorded_at", "-pk").values("pk")[:1]
    rows = list(queryset.annotate(latest_id=Subquery(latest)))
    fresh_after = moment - current_for()
    readings = {
        r.pk: r for r in QueueReading.objects.filter(
            pk__in=[c.latest_id for c in rows if c.latest_id], recorded_at__gt=fresh_after, recorded_at__lte=moment + MAX_CLOCK_AHEAD,
        )
    }
    typical: dict[int, list[TypicalCongestion]] = {}
    for t in TypicalCongestion.objects.filter(counter__in=rows, weekday=today.weekday()).order_by("hour"):
        typical.setdefault(t.counter_id, []).append(t)
    bookings = counter_resources(rows)
    statuses = []
    for counter in rows:
        hours = typical.get(counter.pk, [])
        # The table shows the hours the offices are open (an hour that opens at 8:30 counts).
        shown = [HourLevel(t.hour, t.level) for t in hours if opens.hour <= t.hour < closes.hour + (closes.minute > 0)]
        status = CounterStatus(
            counter=counter, outside_hours=outside, closed_reason=reason,
            today=shown if reason is None else [], weekday_name=calendar.WEEKDAY_NAMES[today.weekday()],
            booking=bookings.get(counter.pk),
        )
        if not outside:
            reading = readings.get(counter.latest_id)
            if reading is not None:
                status.reading, status.wait_minutes = reading, estimated_minutes(counter, reading)
            now_hour = next((t for t in hours if t.hour == local.hour), None)
            if now_hour is not None:
                status.typical_level = now_hour.level
        statuses.append(status)
    return statuses


def counter_resources(counters) -> dict[int, Resource]:
    """来庁予約: the active COUNTER resource at each counter's facility and section, if any
    (a counter's procedures are booked through it)."""
    found: dict[int, Resource] = {}
    pairs = {(c.facility_id, c.section_id) for c in counters}
    if not pairs:
        return found
    resources = Resource.objects.filter(
        kind=Resource.Kind.COUNTER, active=True, facility_id__in={f for f, _ in pairs},
        section_id__in={s for _, s in pairs},
    ).select_related("procedure").order_by("order", "pk")
    by_pair: dict[tuple[int, int], Resource] = {}
    for resource in resources:
        by_pair.setdefault((resource.facility_id, resource.section_id), resource)
    for counter in counters:
        resource = by_pair.get((counter.facility_id, counter.section_id))
        if resource is not None:
            found[counter.pk] = resource
    return found


def bring_list(resource: Resource) -> list[str]:
    """持ち物 as items: one per line, or separated by 、 outside brackets
    (「本人確認書類（マイナンバーカード、運転免許証など）」 stays one item)."""
    items: list[str] = []
    for line in (resource.bring or "").splitlines():
        depth, start = 0, 0
        for index, char in enumerate(line):
            if char in "（(":
                depth += 1
            elif char in "）)":
                depth = max(depth - 1, 0)
            elif char == "、" and depth == 0:
                items.append(line[start:index])
                start = index + 1
        items.append(line[start:])
    return [item.strip() for item in items if item.strip()]
