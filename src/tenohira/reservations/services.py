"""Every write of a booking: taking places, giving them back, and making slots from rules.

Taking places is one conditional UPDATE on the slot (and on the slot's kind), so two
requests for the last place can never both succeed: PostgreSQL holds the row's lock
between them and re-checks the condition for the second, SQLite writes one at a time, and
the CHECK constraints on Slot and SlotKind refuse anything that would still overbook. A
refusal raises before any row of the booking is written (the transaction rolls back the
slot's count too). Giving places back is conditional on the booking's state, so a double
tap on 取消し, a sweep and a clerk acting at the same moment return them exactly once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from tenohira.core import calendar
from tenohira.core.fiscal import JST
from tenohira.reservations import notify, selectors
from tenohira.reservations.errors import LimitReached, NotAllowed, OutsideWindow, SlotFull
from tenohira.reservations.models import (
    CANCELLABLE,
    HOLDING,
    Booking,
    OpeningRule,
    Resource,
    ResourceKind,
    Slot,
    SlotKind,
)

S = Booking.State

# Hooks other modules add (waitlist: offer a freed place to the next person before it is
# freed for everyone). Each takes (slot, kind, places) inside the transaction and returns
# the number of places it kept; the rest are freed.
_release_hooks: list = []


def on_release(function):
    if function not in _release_hooks:
        _release_hooks.append(function)
    return function


@dataclass
class Person:
    """Who books: what the booking page asks (氏名, フリガナ, メール, 電話)."""

    name: str
    email: str = ""
    phone: str = ""
    name_kana: str = ""
    account: object | None = None

    @property
    def key(self) -> str:
        return person_key(account=self.account, email=self.email, name=self.name, phone=self.phone)


def person_key(*, account=None, email: str = "", name: str = "", phone: str = "") -> str:
    """The limit per person counts against a signed-in account, else the e-mail address,
    else the name and telephone number (counter and phone bookings)."""
    if account is not None:
        basis = f"account:{account.pk}"
    elif email:
        basis = f"email:{email.strip().lower()}"
    else:
        basis = f"phone:{''.join(ch for ch in phone if ch.isdigit())}:{name.strip()}"
    return hashlib.sha256(basis.encode()).hexdigest()


@dataclass
class Request:
    slot_id: int
    person: Person
    kind_code: str = ""
    places: int = 1
    answers: dict = field(default_factory=dict)
    channel: str = Booking.Channel.WEB
    request_key: str = ""
    staff_user: object | None = None  # a clerk booking at the counter or on the phone
    submission: object | None = None




def _check_window(slot: Slot, *, staff: bool) -> None:
    now = timezone.now()
    if slot.starts_at <= now:
        raise OutsideWindow("この枠はもう始まっているか、終わっています。")
    if staff:
        return  # the counter may book inside the closing hours (a walk-in, a phone call)
    earliest, latest = selectors.window_of(slot.resource, now)
    if slot.starts_at < earliest:
        raise OutsideWindow(
            f"この枠のインターネットでの予約は、{slot.resource.closes_hours_before}時間前で締め切りました。"
            "お急ぎの方は担当課へお電話ください。",
            alternatives=selectors.alternatives(slot),
        )
    if slot.starts_at >= latest:
        raise OutsideWindow(f"この枠の予約は、{slot.resource.opens_days_ahead}日前から受け付けます。")


def _check_limit(resource: Resource, key: str, places: int, *, staff: bool) -> None:
    if connection.vendor == "postgresql":
        # Two requests of one person at once would both count the other as not yet made.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int(key[:15], 16)])
    if staff:
        return
    held = Booking.objects.filter(
        resource=resource, person_key=key, state__in=HOLDING, slot__starts_at__gt=timezone.now()
    ).count()
    if held >= resource.max_active_per_person:
        raise LimitReached(
            f"{resource.name}の予約は、1人{resource.max_active_per_person}件までです。"
            "ご予約済みのものを取り消すか、終わってからお申し込みください。"
        )


def book(request: Request) -> Booking:
    """Take the places and write the booking, or raise BookingRefused with the reason (and
    the nearest alternatives when the slot was full). A request whose key was seen before
    returns that booking (a double tap books once)."""
    if request.request_key:
        existing = Booking.objects.filter(request_key=request.request_key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            return _book(request)
    except IntegrityError:
        # The same key committed by a twin request a moment ago: that is this booking.
        if request.request_key:
            existing = Booking.objects.filter(request_key=request.request_key).first()
            if existing is not None:
                return existing
        raise


def _book(request: Request) -> Booking:
    slot = Slot.objects.select_related("resource").filter(pk=request.slot_id).first()
    if slot is None:
        raise NotAllowed("この予約枠は見つかりません。")
    resource = slot.resource
    staff = request.staff_user is not None
    if not resource.active:
        raise NotAllowed("この予約は、いまは受け付けていません。")
    if slot.lottery_id is not None and request.channel not in (Booking.Channel.LOTTERY,):
        from tenohira.reservations.models import Lottery

        if slot.lottery.state != Lottery.State.DRAWN:
            raise NotAllowed("この枠は抽選で決まります。抽選への申込みをご利用ください。")
    places = int(request.places or 1)
    if places < 1 or (places > resource.max_places and not staff):
        raise NotAllowed(f"1回に予約できるのは{resource.max_places}までです。")
    kind = None
    if request.kind_code:
        kind = ResourceKind.objects.filter(resource=resource, code=request.kind_code).first()
        if kind is None:
            raise NotAllowed("この予約の種別は選べません。")
    elif resource.kinds.exists():
        raise NotAllowed("種別を選んでください。")
    # A lottery's winner was given the slot by the published draw: the booking window and
    # the limit per person were the lottery's to apply (one entry per person), and a
    # refusal here would make the bookings differ from the published result.
    drawn = request.channel == Booking.Channel.LOTTERY and slot.lottery_id is not None
    _check_window(slot, staff=staff or drawn)
    key = request.person.key
    _check_limit(resource, key, places, staff=staff or drawn)

    taken = Slot.objects.filter(pk=slot.pk, blocked=False, booked__lte=F("capacity") - places).update(
        booked=F("booked") + places
    )
    if not taken:
        raise SlotFull(_full_message(slot), alternatives=selectors.alternatives(slot, kind=kind, places=places))
    if kind is not None:
        taken = SlotKind.objects.filter(slot=slot, kind=kind, booked__lte=F("capacity") - places).update(
            booked=F("booked") + places
        )
        if not taken:
            raise SlotFull(
                f"{kind.name}の{_full_message(slot)}",
                alternatives=selectors.alternatives(slot, kind=kind, places=places),
            )

    now = timezone.now()
    state = S.PROVISIONAL if resource.requires_review and not staff else S.CONFIRMED
    booking = Booking(
        slot=slot, resource=resource, kind=kind, places=places, state=state, channel=request.channel,
        name=request.person.name, name_kana=request.person.name_kana, email=request.person.email,
        phone=request.person.phone, answers=request.answers or {}, account=request.person.account,
        person_key=key, submission=request.submission, request_key=request.request_key or None,
        booked_by=request.staff_user, fee_yen=resource.fee_yen * places,
        confirmed_at=now if state == S.CONFIRMED else None,
    )
    if booking.fee_yen and resource.pay_within_days:
        booking.pay_by = min(now + dt.timedelta(days=resource.pay_within_days), slot.starts_at)
    booking.save(force_insert=True)
    notify.booked(booking)
    return booking


def _full_message(slot: Slot) -> str:
    local = slot.starts_at.astimezone(JST)
    return (
        f"{local.month}月{local.day}日 {local:%H:%M}の枠は、たった今いっぱいになりました。"
        "近い日時の空きをご覧ください。"
    )


def _give_back(booking: Booking) -> None:
    """Return a booking's places (called once, by whoever moved it out of HOLDING)."""
    places = booking.places
    kept = 0
    for hook in _release_hooks:
        kept += hook(booking.slot, booking.kind, places - kept, freed_by=booking)
        if kept >= places:
            return
    free = places - kept
    Slot.objects.filter(pk=booking.slot_id).update(booked=F("booked") - free)
    if booking.kind_id is not None:
        SlotKind.objects.filter(slot_id=booking.slot_id, kind_id=booking.kind_id).update(booked=F("booked") - free)


def end(booking: Booking, to_state: str, *, from_states=HOLDING, reason: str = "", **fields) -> bool:
    """Move a holding booking to a state that gives its places back (取消し, 期限切れ, お受け
    できない). True for the one caller that moved it; False if it had already moved."""
    if to_state in HOLDING:
        raise ValueError(f"{to_state} keeps the places; use a state that ends the booking")
    now = timezone.now()
    with transaction.atomic():
        moved = Booking.objects.filter(pk=booking.pk, state__in=from_states).update(
            state=to_state, cancelled_at=now, cancel_reason=reason[:200], **fields
        )
        if not moved:
            return False
        booking.refresh_from_db()
        _give_back(booking)
    return True


def cancel(booking: Booking, *, by_resident: bool = True, staff_user=None, reason: str = "") -> bool:
    """取消し by the resident (until the change deadline) or by staff (any time before it
    ends). True if this call cancelled it; False if it was already ended."""
    if by_resident:
        deadline = booking.slot.starts_at - dt.timedelta(hours=booking.resource.change_hours_before)
        if timezone.now() >= deadline and booking.state != S.OFFERED:
            raise NotAllowed(
                f"取消しは{booking.resource.change_hours_before}時間前までです。担当課へお電話ください。"
            )
        from_states = CANCELLABLE
    else:
        from_states = HOLDING
    done = end(booking, S.CANCELLED, from_states=from_states, reason=reason or ("ご本人による取消し" if by_resident else "職員による取消し"))
    if done:
        notify.cancelled(booking)
    return done


def change_deadline(booking: Booking) -> dt.datetime:
    """Until when the resident may change or cancel the booking themselves."""
    return booking.slot.starts_at - dt.timedelta(hours=booking.resource.change_hours_before)


def change_key(booking: Booking) -> str:
    """The request key of the booking that replaces `booking` on a change: a second tap on
    変更する (or a resent request) finds the booking the first one made."""
    return f"change:{booking.pk}"


def replacement_of(booking: Booking) -> Booking | None:
    """The booking a change made from `booking`, if it was changed."""
    return Booking.objects.filter(request_key=change_key(booking)).first()


def change(booking: Booking, new_slot_id: int, *, kind_code: str | None = None) -> Booking:
    """変更 by the resident: book another slot of the same resource with the same details and
    end this booking, in one transaction: either both happen or neither (a refusal of the
    new slot raises BookingRefused and the old booking keeps its places). The old booking's
    places are given back first, so the limit per person counts the booking once and the
    waiting list is offered the freed place. Allowed until the change deadline."""
    done = replacement_of(booking)
    if done is not None:
        return done
    if booking.state not in (S.PROVISIONAL, S.CONFIRMED):
        raise NotAllowed("この予約は変更できません。")
    if timezone.now() >= change_deadline(booking):
        raise NotAllowed(
            f"変更は{booking.resource.change_hours_before}時間前までです。担当課へお電話ください。"
        )
    current_kind = booking.kind.code if booking.kind_id else ""
    kind_code = current_kind if kind_code is None else kind_code
    if int(new_slot_id) == booking.slot_id and kind_code == current_kind:
        raise NotAllowed("いまの予約と同じ日時です。ほかの日時を選んでください。")
    new_slot = Slot.objects.filter(pk=new_slot_id, resource_id=booking.resource_id).first()
    if new_slot is None:
        raise NotAllowed("この予約枠は見つかりません。")
    request = Request(
        slot_id=new_slot.pk,
        person=Person(name=booking.name, email=booking.email, phone=booking.phone, name_kana=booking.name_kana,
                      account=booking.account),
        kind_code=kind_code, places=booking.places, answers=booking.answers, channel=booking.channel,
        request_key=change_key(booking), submission=booking.submission,
    )
    try:
        with transaction.atomic():
            if not end(booking, S.CANCELLED, from_states=(S.PROVISIONAL, S.CONFIRMED), reason="日時の変更"):
                # Ended a moment ago: by a twin request of this change, or cancelled.
                done = replacement_of(booking)
                if done is not None:
                    return done
                raise NotAllowed("この予約はすでに取り消されています。")
            new = _book(request)
            notify.cancelled(booking, reason=f"日時の変更（変更後の予約番号 {new.number}）")
            return new
    except IntegrityError:
        # A twin request committed the change a moment ago: that is this change.
        done = replacement_of(booking)
        if done is not None:
            return done
        raise


def generate_slots(resource: Resource, start: dt.date, end_day: dt.date) -> int:
    """Make the slots the opening rules give for start..end_day (both included); slots that
    exist already are kept as they are (their bookings, blocks and capacity). Returns the
    number of slots made."""
    cal = calendar.current()
    rules = list(resource.rules.all())
    kinds = {k.code: k for k in resource.kinds.all()}
    made: list[Slot] = []
    kind_rows: list[tuple[Slot, ResourceKind, int]] = []
    existing = set(
        Slot.objects.filter(resource=resource, starts_at__date__gte=start - dt.timedelta(days=1),
                            starts_at__date__lte=end_day + dt.timedelta(days=1))
        .values_list("starts_at", flat=True)
    )
    day = start
    while day <= end_day:
        for rule in rules:
            if not _rule_applies(rule, day, cal):
                continue
            at = dt.datetime.combine(day, rule.start, tzinfo=JST)
            finish = dt.datetime.combine(day, rule.end, tzinfo=JST)
            step = dt.timedelta(minutes=rule.slot_minutes)
            while at + step <= finish:
                if at not in existing:
                    slot = Slot(resource=resource, starts_at=at, ends_at=at + step, capacity=rule.capacity)
                    made.append(slot)
                    existing.add(at)
                    for code, places in (rule.kind_capacities or {}).items():
                        if code in kinds:
                            kind_rows.append((slot, kinds[code], int(places)))
                at += step
        day += dt.timedelta(days=1)
    with transaction.atomic():
        Slot.objects.bulk_create(made, batch_size=1000)
        SlotKind.objects.bulk_create(
            [SlotKind(slot=slot, kind=kind, capacity=places) for slot, kind, places in kind_rows], batch_size=1000
        )
    return len(made)


def _rule_applies(rule: OpeningRule, day: dt.date, cal) -> bool:
    if day < rule.valid_from or (rule.valid_until and day > rule.valid_until):
        return False
    if str(day.weekday()) not in rule.weekdays:
        return False
    return not (rule.business_days_only and not cal.is_business_day(day))


def send_reminders(*, limit: int = 200, now: dt.datetime | None = None) -> int:
    """E-mail the bookings that start tomorrow (JST), once each: the row is marked in the
    same transaction as its outbox message."""
    now = now or timezone.now()
    start, end_at = notify.reminder_due(now)
    sent = 0
    with transaction.atomic():
        due = list(
            # Lock the bookings only: PostgreSQL cannot lock the nullable side of the outer
            # join that select_related("kind") makes.
            Booking.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state__in=(S.CONFIRMED,), reminded_at__isnull=True,
                    slot__starts_at__gte=start, slot__starts_at__lt=end_at)
            .select_related("slot", "resource__facility", "kind")[:limit]
        )
        for booking in due:
            notify.reminder(booking)
            sent += 1
        Booking.objects.filter(pk__in=[b.pk for b in due]).update(reminded_at=now)
    return sent
