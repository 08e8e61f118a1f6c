"""Staff writes on bookings and slots (/staff/reservations/): 来所 (check-in), 来所なし
(no-show), 取消し by staff, 休止 (blocking a slot) and its lifting, making slots from the
opening rules, and booking on behalf of a resident at the counter or on the phone.

Who may act. reservations sits below backoffice and never imports it, so these functions
cannot ask backoffice.selectors which roles the acting user holds. Each takes `roles`: the
user's roles in the resource's own section, which the staff view reads after fetching the
resource or booking through backoffice.selectors_reservations (another section's answers
404 before anything here runs). The role names are the values of backoffice.models.Role.
A DX管理者 reads every resource's pages but acts only where they also hold a section role:
the people who answer the phone for a resource are its section's staff.

Every write appends an audit record in the same transaction as the change, so a change
that rolled back leaves no record of having happened.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from tenohira.audit.services import record as audit
from tenohira.core.fiscal import JST
from tenohira.reservations import services
from tenohira.reservations.models import HOLDING, Booking, Resource, Slot

S = Booking.State

# The values of backoffice.models.Role that matter here.
HANDLER, APPROVER, SECTION_ADMIN = "handler", "approver", "section_admin"
#: May record visits, cancel, block slots and book on a resident's behalf.
ACT_ROLES = frozenset({HANDLER, APPROVER, SECTION_ADMIN})
#: Channels a clerk books through (the web belongs to residents).
STAFF_CHANNELS = (Booking.Channel.COUNTER, Booking.Channel.PHONE)
#: Check-in may correct a no-show recorded by mistake (the resident came late).
CHECK_IN_FROM = (S.CONFIRMED, S.PROVISIONAL, S.NO_SHOW)
#: No-show may correct a check-in pressed on the wrong row.
NO_SHOW_FROM = (S.CONFIRMED, S.PROVISIONAL, S.CHECKED_IN)
MAX_REASON = 200
#: Slots are made for at most this many days at once (a year and a little).
MAX_GENERATE_DAYS = 400


class StaffActionError(Exception):
    """The booking or slot is not in a state that allows the action; the message is for
    the clerk (nothing was changed)."""


def need(roles, message: str = "この予約対象の担当課の職員だけが操作できます。") -> None:
    if not set(roles or ()) & ACT_ROLES:
        raise PermissionDenied(message)


def _reason(text: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise StaffActionError(f"{what}の理由を入力してください。")
    if len(text) > MAX_REASON:
        raise StaffActionError(f"{what}の理由は{MAX_REASON}文字以内で入力してください。")
    return text


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M")


def check_in(booking: Booking, *, user, roles, request=None) -> Booking:
    """来所: the resident came. Allowed from the slot's day on (JST); the places stay taken."""
    need(roles)
    today = timezone.now().astimezone(JST).date()
    if booking.slot.starts_at.astimezone(JST).date() > today:
        raise StaffActionError("来所の記録は、予約の当日からできます。")
    with transaction.atomic():
        moved = Booking.objects.filter(pk=booking.pk, state__in=CHECK_IN_FROM).update(
            state=S.CHECKED_IN, checked_in_at=timezone.now()
        )
        if not moved:
            booking.refresh_from_db()
            raise StaffActionError(f"予約 {booking.number} は「{booking.get_state_display()}」なので、来所を記録できません。")
        previous = booking.state
        booking.refresh_from_db()
        audit("reservation_action", user=user, target=booking.number, request=request,
              detail={"action": "check_in", "from": previous, "resource": booking.resource.code})
    return booking


def no_show(booking: Booking, *, user, roles, request=None) -> Booking:
    """来所なし: the resident did not come. Only once the slot has begun; the place is not
    given back (the time has passed), and the count per resource shows it."""
    need(roles)
    if booking.slot.starts_at > timezone.now():
        raise StaffActionError("来所なしは、予約の時刻を過ぎてから記録できます。")
    with transaction.atomic():
        moved = Booking.objects.filter(pk=booking.pk, state__in=NO_SHOW_FROM).update(
            state=S.NO_SHOW, checked_in_at=None
        )
        if not moved:
            booking.refresh_from_db()
            raise StaffActionError(f"予約 {booking.number} は「{booking.get_state_display()}」なので、来所なしにできません。")
        previous = booking.state
        booking.refresh_from_db()
        audit("reservation_action", user=user, target=booking.number, request=request,
              detail={"action": "no_show", "from": previous, "resource": booking.resource.code})
    return booking


def cancel_by_staff(booking: Booking, *, user, roles, reason: str, request=None) -> Booking:
    """取消し by a clerk (a phone call, a closure): any time before the booking ended. The
    places come back once (services.cancel); the resident is told by e-mail if they gave
    an address."""
    need(roles)
    reason = _reason(reason, "取消し")
    with transaction.atomic():
        done = services.cancel(booking, by_resident=False, staff_user=user, reason=reason)
        if not done:
            booking.refresh_from_db()
            raise StaffActionError(f"予約 {booking.number} は既に「{booking.get_state_display()}」です。")
        audit("reservation_action", user=user, target=booking.number, request=request,
              detail={"action": "cancel", "reason": reason, "places": booking.places,
                      "resource": booking.resource.code})
    booking.refresh_from_db()
    return booking


def block_slot(slot: Slot, *, user, roles, reason: str, request=None) -> list[Booking]:
    """休止: nobody can book the slot any more. Bookings already made are kept (staff call
    each resident and cancel or move them); they are returned so the page lists them."""
    need(roles)
    reason = _reason(reason, "休止")
    with transaction.atomic():
        moved = Slot.objects.filter(pk=slot.pk, blocked=False).update(blocked=True, block_reason=reason)
        if not moved:
            raise StaffActionError("この枠は既に休止しています。")
        slot.refresh_from_db()
        held = list(slot.bookings.filter(state__in=HOLDING).select_related("kind"))
        audit("reservation_action", user=user, target=f"slot:{slot.pk}", request=request,
              detail={"action": "block", "reason": reason, "resource": slot.resource.code,
                      "starts_at": _local(slot.starts_at), "bookings": [b.number for b in held]})
    return held


def unblock_slot(slot: Slot, *, user, roles, request=None) -> Slot:
    """Lift a 休止: the slot's free places can be booked again."""
    need(roles)
    with transaction.atomic():
        moved = Slot.objects.filter(pk=slot.pk, blocked=True).update(blocked=False, block_reason="")
        if not moved:
            raise StaffActionError("この枠は休止していません。")
        slot.refresh_from_db()
        audit("reservation_action", user=user, target=f"slot:{slot.pk}", request=request,
              detail={"action": "unblock", "resource": slot.resource.code, "starts_at": _local(slot.starts_at)})
    return slot


def generate(resource: Resource, start: dt.date, end: dt.date, *, user, roles, request=None) -> int:
    """Make the slots the opening rules give for start..end (services.generate_slots keeps
    slots that exist, with their bookings and blocks). Returns the number made."""
    need(roles)
    if end < start:
        raise StaffActionError("終了日は開始日と同じか、それより後の日にしてください。")
    if (end - start).days + 1 > MAX_GENERATE_DAYS:
        raise StaffActionError(f"一度に作れるのは{MAX_GENERATE_DAYS}日分までです。")
    if not resource.rules.exists():
        raise StaffActionError("この予約対象には開設ルールがありません。管理画面で開設ルールを登録してください。")
    with transaction.atomic():
        made = services.generate_slots(resource, start, end)
        audit("reservation_action", user=user, target=resource.code, request=request,
              detail={"action": "generate", "from": start.isoformat(), "to": end.isoformat(), "made": made})
    return made


def book_for_resident(slot: Slot, person: services.Person, *, user, roles, channel: str, kind_code: str = "",
                      places: int = 1, answers: dict | None = None, request_key: str = "",
                      request=None) -> Booking:
    """代理予約: a clerk books for a resident at the counter or on the phone. The same
    services.book as residents use (the same capacity, the same refusals with the nearest
    alternatives), except that a clerk may book inside the residents' closing hours and
    beyond the limit per person. Raises errors.BookingRefused unchanged."""
    need(roles)
    if channel not in STAFF_CHANNELS:
        raise StaffActionError("受付の方法（窓口・電話）を選んでください。")
    if not person.name.strip():
        raise StaffActionError("氏名を入力してください。")
    if not (person.phone.strip() or person.email.strip()):
        raise StaffActionError("連絡のため、電話番号かメールアドレスを入力してください。")
    if request_key:
        # A double tap or a resent form: the booking made by the first request, audited then.
        existing = Booking.objects.filter(request_key=request_key, booked_by=user).first()
        if existing is not None:
            return existing
    with transaction.atomic():
        booking = services.book(services.Request(
            slot_id=slot.pk, person=person, kind_code=kind_code, places=places, answers=answers or {},
            channel=channel, request_key=request_key, staff_user=user,
        ))
        audit("reservation_action", user=user, target=booking.number, request=request,
              detail={"action": "book", "channel": channel, "resource": slot.resource.code,
                      "starts_at": _local(slot.starts_at), "places": booking.places})
    return booking
