"""What residents are told about a booking: e-mail (through the outbox, in the booking's
transaction) with the booking as an iCalendar file (RFC 5545, `icalendar`).

The e-mail names the resource, the day and time, the place, what to bring and the link to
see, change or cancel; it holds no answers to the booking's questions (they may be health
details). Nothing is sent to a booking without an e-mail address (counter and phone
bookings): staff tell the resident there.
"""

from __future__ import annotations

import datetime as dt

import icalendar
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from tenohira.core import outbox
from tenohira.core.fiscal import JST
from tenohira.core.site import public_url
from tenohira.reservations.models import Booking

WEEKDAYS = "月火水木金土日"


def when(booking: Booking) -> str:
    start = booking.slot.starts_at.astimezone(JST)
    end = booking.slot.ends_at.astimezone(JST)
    return f"{start.year}年{start.month}月{start.day}日（{WEEKDAYS[start.weekday()]}）{start:%H:%M}～{end:%H:%M}"


def manage_url(booking: Booking) -> str:
    return public_url(reverse("reservations:booking", args=[booking.token]))


def ical(booking: Booking, *, cancelled: bool = False) -> str:
    """The booking as one VEVENT; a cancellation is the same UID with STATUS:CANCELLED and a
    higher SEQUENCE, so calendar apps remove the event they imported."""
    resource = booking.resource
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Tenohira//reservations//JA")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = icalendar.Event()
    event.add("uid", f"booking-{booking.number}@{settings.DEFAULT_FROM_EMAIL.rpartition('@')[2] or 'localhost'}")
    event.add("dtstamp", timezone.now())
    event.add("dtstart", booking.slot.starts_at.astimezone(JST))
    event.add("dtend", booking.slot.ends_at.astimezone(JST))
    title = f"{resource.name}（{booking.kind.name}）" if booking.kind_id else resource.name
    event.add("summary", f"{settings.MUNICIPALITY_NAME} {title}")
    event.add("location", place_of(booking))
    lines = [f"予約番号: {booking.number}"]
    if resource.bring:
        lines.append(f"持ち物: {resource.bring}")
    lines.append(f"確認・変更・取消し: {manage_url(booking)}")
    event.add("description", "\n".join(lines))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("sequence", 1 if cancelled else 0)
    cal.add_component(event)
    return cal.to_ical().decode()


def _attachment(booking: Booking, *, cancelled: bool = False) -> dict:
    return {"filename": f"yoyaku-{booking.number}.ics", "content_type": "text/calendar",
            "content": ical(booking, cancelled=cancelled)}


def _send(booking: Booking, kind: str, subject: str, lines: list[str], *, cancelled: bool = False) -> None:
    if not booking.email:
        return
    city = settings.MUNICIPALITY_NAME
    body = "\n".join([f"{booking.name} 様", "", f"{city}です。", *lines, "", f"{city}（このメールには返信できません）", ""])
    outbox.enqueue(
        kind=kind, to=booking.email, subject=f"【{city}】{subject}", body=body,
        reference=f"booking:{booking.number}", attachments=[_attachment(booking, cancelled=cancelled)],
    )


def place_of(booking: Booking) -> str:
    """Where the resident goes — or, for a 粗大ごみ collection, where the city comes: the
    address given in the application (not repeated here: the e-mail and the calendar file
    carry no more personal data than they need)."""
    resource = booking.resource
    if resource.kind == resource.Kind.COLLECTION:
        return "お申し込みの住所（ご指定の場所に出してください）"
    return resource.facility.name + (f"（{resource.facility.address}）" if resource.facility.address else "")


def _summary(booking: Booking) -> list[str]:
    resource = booking.resource
    lines = [
        f"予約番号: {booking.number}",
        f"予約: {resource.name}" + (f"（{booking.kind.name}）" if booking.kind_id else ""),
        f"日時: {when(booking)}",
        f"場所: {place_of(booking)}",
    ]
    if booking.places > 1:
        lines.append(f"人数・枠数: {booking.places}")
    if resource.bring:
        lines.append(f"持ち物: {resource.bring}")
    if booking.amount_due and booking.paid_at is None:
        due = booking.pay_by.astimezone(JST) if booking.pay_by else None
        pay = f"使用料: {booking.amount_due:,}円"
        if due:
            pay += f"（{due.month}月{due.day}日 {due:%H:%M}までにお支払いください。お支払いがないときは予約を取り消します）"
        lines.append(pay)
    return lines


def booked(booking: Booking) -> None:
    if booking.state == Booking.State.PROVISIONAL:
        subject, head = "仮予約を受け付けました", "次の仮予約を受け付けました。担当課が確認して、予約が確定したらお知らせします。"
    elif booking.state == Booking.State.OFFERED:
        return  # the waiting list sends its own offer
    else:
        subject, head = "予約が確定しました", "次のとおり予約を受け付けました。"
    deadline = booking.resource.change_hours_before
    _send(booking, "reservation_booked", subject, [
        head, "", *_summary(booking), "",
        "予定表に入れるときは、添付の予定ファイル（.ics）を開いてください。",
        f"確認・変更・取消しは、開始の{deadline}時間前まで次のページからできます。",
        manage_url(booking),
    ])


def confirmed(booking: Booking) -> None:
    _send(booking, "reservation_confirmed", "予約が確定しました",
          ["仮予約を確認し、予約を確定しました。", "", *_summary(booking), "", manage_url(booking)])


def cancelled(booking: Booking, *, reason: str = "") -> None:
    lines = ["次の予約を取り消しました。", "", *_summary(booking)]
    if reason:
        lines += ["", f"理由: {reason}"]
    _send(booking, "reservation_cancelled", "予約を取り消しました", lines, cancelled=True)


def reminder(booking: Booking) -> None:
    _send(booking, "reservation_reminder", "明日のご予約のお知らせ", [
        "明日は次のご予約の日です。", "", *_summary(booking), "",
        "来られなくなったときは、次のページから取り消してください。", manage_url(booking),
    ])


def reminder_due(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Bookings starting tomorrow (JST) are reminded from 10:00 today."""
    now = now or timezone.now()
    tomorrow = now.astimezone(JST).date() + dt.timedelta(days=1)
    start = dt.datetime.combine(tomorrow, dt.time(0), tzinfo=JST)
    return start, start + dt.timedelta(days=1)
