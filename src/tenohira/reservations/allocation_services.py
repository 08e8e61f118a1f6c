"""Allocation (割当て) writes: lotteries, provisional bookings (仮予約 → 本予約) and fees.

Every state change is a conditional UPDATE on the row's current state, so a double click,
two clerks or a clerk and a sweep act exactly once; the one that moved the row does the
rest (e-mail, bookings, places). The staff pages (backoffice.views_lottery) check who
may act in which section; what is checked here holds for every caller (the second person
of a 減免, the lottery's dates).
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.urls import reverse
from django.utils import timezone

from tenohira.audit.services import record as audit
from tenohira.core import outbox
from tenohira.core.fiscal import JST
from tenohira.core.site import public_url
from tenohira.reservations import lottery as draw_rule
from tenohira.reservations import notify, services
from tenohira.reservations.errors import NotAllowed
from tenohira.reservations.models import (
    Booking,
    FeeReduction,
    Lottery,
    LotteryEntry,
    Resource,
    Slot,
)

S = Booking.State
L = Lottery.State
E = LotteryEntry.State


# --- e-mail -------------------------------------------------------------------------


def mail(to: str, kind: str, subject: str, name: str, lines: list[str], reference: str) -> None:
    """A plain message through the outbox (in the caller's transaction); none without an address."""
    if not to:
        return
    city = settings.MUNICIPALITY_NAME
    body = "\n".join([f"{name} 様", "", f"{city}です。", *lines, "", f"{city}（このメールには返信できません）", ""])
    outbox.enqueue(kind=kind, to=to, subject=f"【{city}】{subject}", body=body, reference=reference)


def local_text(moment: dt.datetime) -> str:
    local = moment.astimezone(JST)
    return f"{local.year}年{local.month}月{local.day}日（{notify.WEEKDAYS[local.weekday()]}）{local:%H:%M}"


# --- lotteries ----------------------------------------------------------------------


def create_lottery(resource: Resource, *, title: str, period_start: dt.date, period_end: dt.date,
                   entries_close_at: dt.datetime, draw_at: dt.datetime | None = None,
                   entries_open_at: dt.datetime | None = None, max_wishes: int = 3,
                   priority_rules: list | None = None, user=None) -> Lottery:
    """A lottery for the resource's free slots in period_start..period_end (JST): those slots
    are held for it (services.book refuses them until it is drawn). The seed is made now;
    only its SHA-256 is shown until the draw."""
    now = timezone.now()
    entries_open_at = entries_open_at or now
    draw_at = draw_at or entries_close_at
    if period_end < period_start:
        raise NotAllowed("利用期間の末日が初日より前です。")
    if entries_close_at <= entries_open_at:
        raise NotAllowed("申込み締切は申込み開始より後にしてください。")
    if draw_at < entries_close_at:
        raise NotAllowed("抽選日時は申込み締切より後にしてください。")
    if not 1 <= int(max_wishes) <= 10:
        raise NotAllowed("希望の数は1から10までです。")
    seed = secrets.token_hex(32)
    first = dt.datetime.combine(period_start, dt.time(0), tzinfo=JST)
    last = dt.datetime.combine(period_end + dt.timedelta(days=1), dt.time(0), tzinfo=JST)
    with transaction.atomic():
        lottery = Lottery.objects.create(
            resource=resource, title=title, period_start=period_start, period_end=period_end,
            entries_open_at=entries_open_at, entries_close_at=entries_close_at, draw_at=draw_at,
            max_wishes=int(max_wishes), priority_rules=priority_rules or [], seed=seed,
            seed_hash=draw_rule.seed_hash(seed),
        )
        held = Slot.objects.filter(resource=resource, starts_at__gte=first, starts_at__lt=last,
                                   lottery__isnull=True, booked=0, blocked=False).update(lottery=lottery)
        if not held:
            raise NotAllowed("この期間に抽選にできる空いた枠がありません。")
        audit("reservations.lottery.create", user=user, target=f"lottery:{lottery.pk}",
              detail={"resource": resource.code, "slots": held, "seed_hash": lottery.seed_hash})
    return lottery


def accepting(lottery: Lottery, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return lottery.state == L.OPEN and lottery.entries_open_at <= now < lottery.entries_close_at


def lottery_slots(lottery: Lottery) -> list[Slot]:
    return list(lottery.slots.filter(blocked=False).order_by("starts_at"))


def enter(lottery: Lottery, person: services.Person, *, wishes: list[int], priority: int = 0, places: int = 1,
          answers: dict | None = None, request_key: str = "") -> LotteryEntry:
    """申込み: one entry per person (person_key) and lottery; a repeated request_key returns
    the entry it made. Wishes are slot ids of the lottery, most wanted first."""
    if request_key:
        found = LotteryEntry.objects.filter(request_key=request_key).first()
        if found is not None:
            return found
    if not accepting(lottery):
        raise NotAllowed("この抽選の申込みは受け付けていません（締め切ったか、まだ始まっていません）。")
    wishes = [int(w) for w in wishes]
    if not wishes:
        raise NotAllowed("希望の日時を1つ以上選んでください。")
    if len(wishes) > lottery.max_wishes:
        raise NotAllowed(f"希望は{lottery.max_wishes}つまでです。")
    if len(set(wishes)) != len(wishes):
        raise NotAllowed("同じ日時を2回選んでいます。")
    valid = set(lottery.slots.filter(blocked=False).values_list("pk", flat=True))
    if not set(wishes) <= valid:
        raise NotAllowed("選べない日時が含まれています。")
    groups = len(lottery.priority_rules or []) or 1
    if not 0 <= int(priority) < groups:
        raise NotAllowed("区分を選んでください。")
    places = int(places or 1)
    if not 1 <= places <= lottery.resource.max_places:
        raise NotAllowed(f"1回に申し込めるのは{lottery.resource.max_places}までです。")
    key = person.key
    for _attempt in range(5):
        try:
            with transaction.atomic():
                # The lottery's row lock serialises numbering on PostgreSQL; SQLite writes
                # one at a time, and a clash of numbers is retried.
                Lottery.objects.select_for_update().filter(pk=lottery.pk).first()
                if LotteryEntry.objects.filter(lottery=lottery, person_key=key).exclude(state=E.WITHDRAWN).exists():
                    raise NotAllowed("この抽選には、すでに申し込まれています。申込みは1人1件です。")
                number = (LotteryEntry.objects.filter(lottery=lottery).aggregate(n=Max("number"))["n"] or 0) + 1
                entry = LotteryEntry.objects.create(
                    lottery=lottery, number=number, wishes=wishes, priority=int(priority), places=places,
                    name=person.name, email=person.email, phone=person.phone, answers=answers or {},
                    account=person.account, person_key=key, request_key=request_key or None,
                )
                _entered_mail(entry)
                return entry
        except IntegrityError:
            if request_key:
                found = LotteryEntry.objects.filter(request_key=request_key).first()
                if found is not None:
                    return found
            if LotteryEntry.objects.filter(lottery=lottery, person_key=key).exclude(state=E.WITHDRAWN).exists():
                raise NotAllowed("この抽選には、すでに申し込まれています。申込みは1人1件です。") from None
    raise NotAllowed("混み合っています。もう一度お試しください。")


def entry_url(entry: LotteryEntry) -> str:
    return public_url(reverse("reservations:lottery_entry", args=[entry.token]))


def _entered_mail(entry: LotteryEntry) -> None:
    lottery = entry.lottery
    mail(entry.email, "reservation_lottery_entered", "抽選の申込みを受け付けました", entry.name, [
        f"{lottery.title}の抽選の申込みを受け付けました。", "",
        f"申込番号: {entry.number}",
        f"申込み締切: {local_text(lottery.entries_close_at)}",
        f"抽選日: {local_text(lottery.draw_at)}", "",
        "結果はメールでお知らせします。申込みの確認・取下げは次のページからできます。", entry_url(entry),
    ], reference=f"lottery:{lottery.pk}:{entry.number}")


def withdraw_entry(entry: LotteryEntry) -> bool:
    """取下げ before the entries close; True for the call that withdrew it."""
    if not accepting(entry.lottery):
        raise NotAllowed("申込みの締切を過ぎたため、取り下げられません。")
    return bool(LotteryEntry.objects.filter(pk=entry.pk, state=E.ENTERED).update(state=E.WITHDRAWN))


def close(lottery: Lottery, user=None) -> bool:
    """受付終了 (early, by staff; the draw closes a lottery whose closing time has passed)."""
    with transaction.atomic():
        moved = Lottery.objects.filter(pk=lottery.pk, state=L.OPEN).update(state=L.CLOSED)
        if moved:
            audit("reservations.lottery.close", user=user, target=f"lottery:{lottery.pk}")
    lottery.refresh_from_db()
    return bool(moved)


def entry_rows(lottery: Lottery) -> list[draw_rule.EntryRow]:
    """The entries as published: everything the draw uses, no names."""
    return [
        draw_rule.EntryRow(number=n, priority=p, places=places, wishes=tuple(int(w) for w in wishes))
        for n, p, places, wishes in lottery.entries.exclude(state=E.WITHDRAWN).order_by("number")
        .values_list("number", "priority", "places", "wishes")
    ]


def draw(lottery: Lottery, user=None) -> draw_rule.Result:
    """抽選: reveal the seed, run lottery.draw on the entries and the slots' free places, book
    the winning slot of every winner (channel LOTTERY, through services.book) and tell every
    entrant. All or nothing, once: the lottery's state moves to DRAWN in the same
    transaction, and a second call finds it drawn."""
    now = timezone.now()
    with transaction.atomic():
        locked = Lottery.objects.select_for_update().get(pk=lottery.pk)
        if locked.state == L.DRAWN:
            raise NotAllowed("この抽選は抽選済みです。")
        if locked.state == L.OPEN and now < locked.entries_close_at:
            raise NotAllowed("申込みの受付中です。締め切ってから抽選してください。")
        capacities = {
            slot_id: max(capacity - booked, 0)
            for slot_id, capacity, booked in locked.slots.filter(blocked=False).values_list("pk", "capacity", "booked")
        }
        rows = entry_rows(locked)
        result = draw_rule.draw(locked.seed, rows, capacities)
        Lottery.objects.filter(pk=locked.pk).update(
            state=L.DRAWN, drawn_at=now, result_digest=result.digest,
            capacities={str(k): v for k, v in capacities.items()},
        )
        locked.refresh_from_db()
        entries = {e.number: e for e in locked.entries.exclude(state=E.WITHDRAWN).select_related("account")}
        for number in result.order:
            entry = entries[number]
            slot_id = result.won[number]
            if slot_id is None:
                LotteryEntry.objects.filter(pk=entry.pk).update(state=E.LOST)
                _result_mail(entry, None)
                continue
            booking = services.book(services.Request(
                slot_id=slot_id, places=entry.places, answers=entry.answers, channel=Booking.Channel.LOTTERY,
                person=services.Person(name=entry.name, email=entry.email, phone=entry.phone, account=entry.account),
                request_key=f"lottery:{locked.pk}:{number}",
            ))
            LotteryEntry.objects.filter(pk=entry.pk).update(state=E.WON, booking=booking)
            _result_mail(entry, booking)
        audit("reservations.lottery.draw", user=user, target=f"lottery:{locked.pk}",
              detail={"entries": len(rows), "winners": len(result.winners), "digest": result.digest})
    lottery.refresh_from_db()
    return result


def _result_mail(entry: LotteryEntry, booking: Booking | None) -> None:
    lottery = entry.lottery
    results = public_url(reverse("reservations:lottery_results", args=[lottery.pk]))
    if booking is None:
        lines = [f"{lottery.title}の抽選の結果、申込番号 {entry.number} は落選となりました。",
                 "空いている枠は、先着順の予約やキャンセル待ちをご利用ください。"]
        subject = "抽選の結果のお知らせ（落選）"
    else:
        lines = [f"{lottery.title}の抽選の結果、申込番号 {entry.number} は当選しました。",
                 f"当選した日時: {notify.when(booking)}（予約番号 {booking.number}）",
                 "予約の内容と予定ファイル（.ics）は、別のメールでお送りしています。"]
        subject = "抽選の結果のお知らせ（当選）"
    mail(entry.email, "reservation_lottery_result", subject, entry.name,
         [*lines, "", "抽選の方法と結果（シードと全申込み）は次のページで公開しています。", results],
         reference=f"lottery:{lottery.pk}:{entry.number}")


def due_lotteries(now: dt.datetime | None = None):
    """Lotteries whose draw time has come and that are not drawn yet (for the sweep)."""
    now = now or timezone.now()
    return Lottery.objects.filter(state__in=(L.OPEN, L.CLOSED), draw_at__lte=now, entries_close_at__lte=now)


# --- provisional bookings (仮予約 → 本予約) -------------------------------------------


def confirm(booking: Booking, user) -> bool:
    """本予約: a provisional booking confirmed after review; True for the call that did it."""
    now = timezone.now()
    with transaction.atomic():
        moved = Booking.objects.filter(pk=booking.pk, state=S.PROVISIONAL).update(state=S.CONFIRMED, confirmed_at=now)
        if not moved:
            return False
        booking.refresh_from_db()
        audit("reservations.booking.confirm", user=user, target=f"booking:{booking.number}")
        notify.confirmed(booking)
    return True


def reject(booking: Booking, user, reason: str) -> bool:
    """お受けできない: the provisional booking ends and its places are freed (the waiting list
    is offered them first). The resident is told why."""
    reason = (reason or "").strip()
    if not reason:
        raise NotAllowed("お受けできない理由を書いてください（ご本人にお知らせします）。")
    with transaction.atomic():
        if not services.end(booking, S.REJECTED, from_states=(S.PROVISIONAL,), reason=reason):
            return False
        booking.refresh_from_db()
        audit("reservations.booking.reject", user=user, target=f"booking:{booking.number}", detail={"reason": reason})
        mail(booking.email, "reservation_rejected", "仮予約をお受けできませんでした", booking.name, [
            "次の仮予約は、確認の結果お受けできませんでした。", "",
            f"予約番号: {booking.number}", f"予約: {booking.resource.name}", f"日時: {notify.when(booking)}", "",
            f"理由: {reason}", "", "ご不明な点は担当課へお問い合わせください。",
        ], reference=f"booking:{booking.number}")
    return True


# --- fees (使用料) -------------------------------------------------------------------


def record_payment(booking: Booking, user, *, method: str = "counter") -> bool:
    """The fee was paid (at the counter, by transfer): the booking is no longer cancelled at
    pay_by. True for the call that recorded it."""
    with transaction.atomic():
        moved = Booking.objects.filter(
            pk=booking.pk, paid_at__isnull=True, state__in=(S.PROVISIONAL, S.CONFIRMED, S.CHECKED_IN)
        ).update(paid_at=timezone.now())
        if moved:
            audit("reservations.fee.paid", user=user, target=f"booking:{booking.number}",
                  detail={"amount": booking.amount_due, "method": method[:30]})
    booking.refresh_from_db()
    return bool(moved)


def request_reduction(booking: Booking, user, *, amount_yen: int, reason: str) -> FeeReduction:
    """減免の申請 by one member of staff; it changes nothing until another approves it."""
    reason = (reason or "").strip()
    if not reason:
        raise NotAllowed("減免の理由を書いてください。")
    amount_yen = int(amount_yen)
    if not 0 < amount_yen <= booking.fee_yen:
        raise NotAllowed(f"減免額は1円から{booking.fee_yen:,}円までです。")
    if booking.paid_at is not None or booking.state not in (S.PROVISIONAL, S.CONFIRMED):
        raise NotAllowed("支払済みか終わった予約は減免できません。")
    try:
        with transaction.atomic():
            reduction = FeeReduction.objects.create(booking=booking, amount_yen=amount_yen, reason=reason[:200],
                                                    requested_by=user)
            audit("reservations.fee.reduction_request", user=user, target=f"booking:{booking.number}",
                  detail={"amount": amount_yen, "reason": reason[:200]})
    except IntegrityError:
        raise NotAllowed("この予約には、承認を待っている減免があります。") from None
    return reduction


def decide_reduction(reduction: FeeReduction, user, *, approve: bool, comment: str = "") -> bool:
    """減免の承認・却下 by a second person (never the one who asked). An approval lowers the
    amount due; a full exemption removes the payment deadline."""
    if reduction.requested_by_id == getattr(user, "pk", None):
        raise NotAllowed("減免を申請した職員は、自分で承認・却下できません。ほかの職員に依頼してください。")
    now = timezone.now()
    with transaction.atomic():
        moved = FeeReduction.objects.filter(pk=reduction.pk, state=FeeReduction.State.PENDING).update(
            state=FeeReduction.State.APPROVED if approve else FeeReduction.State.REFUSED,
            decided_by=user, decided_at=now, comment=(comment or "")[:200],
        )
        if not moved:
            return False
        reduction.refresh_from_db()
        booking = reduction.booking
        if approve:
            fields = {"reduction_yen": reduction.amount_yen, "reduction_reason": reduction.reason}
            if reduction.amount_yen >= booking.fee_yen:
                fields["pay_by"] = None
            Booking.objects.filter(pk=booking.pk).update(**fields)
        audit("reservations.fee.reduction_approve" if approve else "reservations.fee.reduction_refuse",
              user=user, target=f"booking:{booking.number}",
              detail={"amount": reduction.amount_yen, "requested_by": reduction.requested_by_id,
                      "comment": (comment or "")[:200]})
    return True


UNPAID_REASON = "支払期限までに使用料のお支払いがなかったため"


def lapse_unpaid(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Cancel (LAPSED) the bookings whose fee is unpaid at pay_by, and tell the resident.
    A booking with a 減免 waiting for its decision is left until it is decided."""
    now = now or timezone.now()
    pending = FeeReduction.objects.filter(state=FeeReduction.State.PENDING).values("booking_id")
    due = list(
        Booking.objects.filter(state__in=(S.PROVISIONAL, S.CONFIRMED), paid_at__isnull=True, pay_by__lte=now,
                               fee_yen__gt=F("reduction_yen"))
        .exclude(pk__in=pending).select_related("slot", "resource__facility", "kind")[:limit]
    )
    done = 0
    for booking in due:
        with transaction.atomic():
            # Locked and re-read: a payment recorded since the list was read wins (its UPDATE
            # waits for this lock and then finds the booking ended, or this finds it paid).
            still = Booking.objects.select_for_update().filter(pk=booking.pk, paid_at__isnull=True,
                                                               pay_by__lte=now, fee_yen__gt=F("reduction_yen"))
            if not still.exists():
                continue
            if services.end(booking, S.LAPSED, from_states=(S.PROVISIONAL, S.CONFIRMED), reason=UNPAID_REASON):
                notify.cancelled(booking, reason=UNPAID_REASON)
                done += 1
    return done
