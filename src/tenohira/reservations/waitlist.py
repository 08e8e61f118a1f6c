"""キャンセル待ち: waiting lists of full slots, and the offer of a freed place.

When a booking gives places back (services.end), `offer_next` runs first, inside that
transaction: the first person waiting for the slot (same kind, places that fit) gets a
Booking in state OFFERED that keeps the freed places — Slot.booked never goes down and up
again, so nobody else can take the place in between and it is never counted twice. The
offer is e-mailed with a link to accept; it expires after RESERVATIONS_OFFER_HOLD_HOURS
(24 by default) or at the slot's start. An offer that lapses (the sweep `lapse_offers`)
or is declined ends through services.end again, which offers the place to the next
person, and so on until nobody waits and the place is free for everyone.

Each waiting entry moves WAITING → OFFERED with one conditional UPDATE: two releases at
the same moment cannot offer two places to one person.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from tenohira.core.site import public_url
from tenohira.reservations import services
from tenohira.reservations.allocation_services import local_text, mail
from tenohira.reservations.errors import NotAllowed
from tenohira.reservations.models import (
    HOLDING,
    Booking,
    Lottery,
    ResourceKind,
    Slot,
    WaitlistEntry,
)

S = Booking.State
W = WaitlistEntry.State

LAPSED_REASON = "ご案内の期限までにお申込みがなかったため"


def hold_hours() -> float:
    return float(getattr(settings, "RESERVATIONS_OFFER_HOLD_HOURS", 24))


def entry_url(entry: WaitlistEntry) -> str:
    return public_url(reverse("reservations:waitlist_entry", args=[entry.token]))


def can_join(slot: Slot, places: int = 1, kind: ResourceKind | None = None) -> bool:
    """A waiting list is for a slot that is full now (for that kind), still ahead and open."""
    if slot.blocked or not slot.resource.active or slot.starts_at <= timezone.now():
        return False
    if slot.lottery_id is not None and slot.lottery.state != Lottery.State.DRAWN:
        return False
    if kind is not None:
        row = slot.kinds.filter(kind=kind).first()
        return row is not None and row.capacity - row.booked < places
    return slot.capacity - slot.booked < places


def join(slot: Slot, person: services.Person, *, places: int = 1, kind_code: str = "",
         answers: dict | None = None) -> WaitlistEntry:
    """キャンセル待ちに登録: once per person and slot while waiting or offered."""
    slot = Slot.objects.select_related("resource", "lottery").get(pk=slot.pk)  # today's count, not the caller's
    places = int(places or 1)
    if not 1 <= places <= slot.resource.max_places:
        raise NotAllowed(f"1回に予約できるのは{slot.resource.max_places}までです。")
    kind = None
    if kind_code:
        kind = ResourceKind.objects.filter(resource=slot.resource, code=kind_code).first()
        if kind is None:
            raise NotAllowed("この予約の種別は選べません。")
    elif slot.resource.kinds.exists():
        raise NotAllowed("種別を選んでください。")
    if not can_join(slot, places, kind):
        raise NotAllowed("この枠にはキャンセル待ちを登録できません（空きがあるか、受付が終わっています）。")
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                slot=slot, kind=kind, places=places, name=person.name, name_kana=person.name_kana,
                email=person.email, phone=person.phone, answers=answers or {}, account=person.account,
                person_key=person.key,
            )
            position = WaitlistEntry.objects.filter(slot=slot, state=W.WAITING, pk__lte=entry.pk).count()
            mail(entry.email, "reservation_waitlist_joined", "キャンセル待ちを受け付けました", entry.name, [
                "次の枠のキャンセル待ちを受け付けました。空きが出たら、順にメールでご案内します。", "",
                f"予約: {slot.resource.name}" + (f"（{kind.name}）" if kind else ""),
                f"日時: {local_text(slot.starts_at)}", f"待っている順番: {position}番目", "",
                "登録の確認・取下げは次のページからできます。", entry_url(entry),
            ], reference=f"waitlist:{entry.pk}")
    except IntegrityError:
        raise NotAllowed("この枠のキャンセル待ちには、すでに登録されています。") from None
    return entry


def position(entry: WaitlistEntry) -> int | None:
    if entry.state != W.WAITING:
        return None
    return WaitlistEntry.objects.filter(slot_id=entry.slot_id, state=W.WAITING, created_at__lte=entry.created_at,
                                        pk__lte=entry.pk).count()


def offer_next(slot: Slot, kind: ResourceKind | None, places: int, *, freed_by: Booking | None = None) -> int:
    """services.on_release hook: offer up to `places` freed places to the people waiting,
    first come first. Returns the places kept by the offers (the rest are freed)."""
    if freed_by is not None and freed_by.channel == Booking.Channel.WAITLIST:
        # The booking that ended was itself an offer: close its waiting entry.
        WaitlistEntry.objects.filter(booking=freed_by, state=W.OFFERED).update(
            state=W.LAPSED if freed_by.state == S.LAPSED else W.WITHDRAWN
        )
    now = timezone.now()
    if slot.starts_at <= now or slot.blocked:
        return 0
    kept = 0
    kind_id = kind.pk if kind is not None else None
    candidates = WaitlistEntry.objects.filter(slot_id=slot.pk, kind_id=kind_id, state=W.WAITING,
                                              places__lte=places).order_by("created_at", "pk")
    for entry in candidates[:50]:
        if entry.places > places - kept:
            continue
        # Only the caller whose UPDATE moved the entry offers to it.
        if not WaitlistEntry.objects.filter(pk=entry.pk, state=W.WAITING).update(state=W.OFFERED):
            continue
        expires = min(now + dt.timedelta(hours=hold_hours()), slot.starts_at)
        resource = slot.resource
        booking = Booking.objects.create(
            slot=slot, resource=resource, kind=kind, places=entry.places, state=S.OFFERED,
            channel=Booking.Channel.WAITLIST, name=entry.name, name_kana=entry.name_kana, email=entry.email,
            phone=entry.phone, answers=entry.answers, account=entry.account, person_key=entry.person_key,
            fee_yen=resource.fee_yen * entry.places, offer_expires_at=expires,
        )
        WaitlistEntry.objects.filter(pk=entry.pk).update(booking=booking)
        entry.booking = booking
        _offer_mail(entry, booking)
        kept += entry.places
        if kept >= places:
            break
    return kept


def _offer_mail(entry: WaitlistEntry, booking: Booking) -> None:
    mail(entry.email, "reservation_waitlist_offer", "キャンセル待ちの枠に空きが出ました", entry.name, [
        "キャンセル待ちをしていた次の枠に空きが出ました。この枠をお取りしています。", "",
        f"予約: {booking.resource.name}" + (f"（{booking.kind.name}）" if booking.kind_id else ""),
        f"日時: {local_text(booking.slot.starts_at)}", "",
        f"{local_text(booking.offer_expires_at)}までに、次のページで「予約する」を押してください。",
        "期限を過ぎると、次に待っている方にご案内します。", entry_url(entry),
    ], reference=f"waitlist:{entry.pk}")


def accept(entry: WaitlistEntry) -> Booking:
    """The offered place becomes the person's booking (CONFIRMED, or PROVISIONAL where the
    resource needs review), if the offer has not expired."""
    now = timezone.now()
    booking = entry.booking
    if booking is not None and entry.state == W.ACCEPTED:
        return booking  # a double tap on 予約する
    if booking is None or entry.state != W.OFFERED:
        raise NotAllowed("この枠のご案内は終わっています。")
    resource = booking.resource
    state = S.PROVISIONAL if resource.requires_review else S.CONFIRMED
    fields = {"state": state, "confirmed_at": now if state == S.CONFIRMED else None, "created_at": now}
    if booking.fee_yen and resource.pay_within_days:
        fields["pay_by"] = min(now + dt.timedelta(days=resource.pay_within_days), booking.slot.starts_at)
    with transaction.atomic():
        moved = Booking.objects.filter(pk=booking.pk, state=S.OFFERED, offer_expires_at__gt=now).update(**fields)
        if not moved:
            booking.refresh_from_db()
            if booking.state in HOLDING and booking.state != S.OFFERED:
                return booking  # accepted a moment ago (a double tap)
            raise NotAllowed("ご案内の期限を過ぎたため、この枠はお取りできませんでした。")
        WaitlistEntry.objects.filter(pk=entry.pk, state=W.OFFERED).update(state=W.ACCEPTED)
        booking.refresh_from_db()
        from tenohira.reservations import notify

        if state == S.CONFIRMED:
            notify.confirmed(booking)
        else:
            notify.booked(booking)
    entry.refresh_from_db()
    return booking


def withdraw(entry: WaitlistEntry) -> bool:
    """取下げ: leave the list, or decline an offer (its place goes to the next person)."""
    if entry.state == W.WAITING:
        return bool(WaitlistEntry.objects.filter(pk=entry.pk, state=W.WAITING).update(state=W.WITHDRAWN))
    if entry.state == W.OFFERED and entry.booking_id:
        return services.end(entry.booking, S.CANCELLED, from_states=(S.OFFERED,), reason="キャンセル待ちのご案内を辞退")
    return False


def lapse_offers(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """The sweep: offers not accepted in time lapse (their places go to the next person)."""
    now = now or timezone.now()
    due = list(Booking.objects.filter(state=S.OFFERED, offer_expires_at__lte=now)
               .select_related("slot", "resource")[:limit])
    lapsed = 0
    for booking in due:
        with transaction.atomic():
            if services.end(booking, S.LAPSED, from_states=(S.OFFERED,), reason=LAPSED_REASON):
                lapsed += 1
                mail(booking.email, "reservation_waitlist_lapsed", "キャンセル待ちのご案内の期限が過ぎました",
                     booking.name, [
                         f"{booking.resource.name} {local_text(booking.slot.starts_at)}の枠のご案内は、"
                         "期限までにお申込みがなかったため終了しました。",
                     ], reference=f"booking:{booking.number}")
    return lapsed
