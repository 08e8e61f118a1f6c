"""粗大ごみ: the collection day of an application is a real booking on the resident's
district route (a Resource of kind COLLECTION with `district` set, one slot per
collection day, its capacity the households the crew can visit that day).

The form asks the district, then offers the free days of that district's route through a
`reservation_slot` field (forms.extensions: this module is the slot source). The place
is taken when the application is sent, inside the submission's transaction: if the day
filled up in the meantime, the submission is refused (applications.signals.
SubmissionRefused) and the resident is sent back to choose another day, every answer
kept. A rejected or withdrawn application gives its place back (once).

Nothing here is specific to 粗大ごみ but the words: any form may book a slot of any
resource this way (`resource` instead of `resource_kind` on the field).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.urls import reverse

from tenohira.applications import extensions
from tenohira.applications.models import Submission
from tenohira.applications.signals import SubmissionRefused
from tenohira.core.fiscal import JST
from tenohira.forms.extensions import SlotOption, SlotSource
from tenohira.forms.fields import FieldError, name_of
from tenohira.reservations import selectors, services
from tenohira.reservations.errors import BookingRefused, OutsideWindow, SlotFull
from tenohira.reservations.models import HOLDING, Booking, Resource, Slot

WEEKDAYS = "月火水木金土日"
#: The most days one page offers (two months of weekly collection days fit easily).
MAX_OPTIONS = 60

FULL_MESSAGE = "選んだ収集日は、直前に予約がいっぱいになりました。ほかの日を選んでください。"
CLOSED_MESSAGE = "選んだ収集日は、申込みの受付期間を過ぎました。ほかの日を選んでください。"

#: Application states that end the booking with it, and the reason the resident reads.
ENDING_STATES = {
    Submission.Status.REJECTED: "申請をお受けできなかったため",
    Submission.Status.WITHDRAWN: "申請が取り下げられたため",
}


# --- the slot source of the form engine ----------------------------------------------------


def resources_for(field, answers) -> list[Resource]:
    """The resources a `reservation_slot` field books on, given the answers so far: the
    field's resource, or the active resources of its kind in the chosen district."""
    found = Resource.objects.filter(active=True).select_related("facility")
    code = field.option("resource")
    found = found.filter(code=code) if code else found.filter(kind=field.option("resource_kind"))
    district_field = field.option("district_field")
    if district_field:
        district = answers.get(district_field) if answers is not None else None
        if not district:
            return []
        found = found.filter(district=str(district))
    return list(found.order_by("order", "pk")[:5])


def _time(moment: dt.datetime) -> str:
    return f"{moment.hour}:{moment:%M}"


def day_label(slot: Slot, *, year: bool = False) -> str:
    start, end = slot.starts_at.astimezone(JST), slot.ends_at.astimezone(JST)
    day = f"{start.year}年{start.month}月{start.day}日" if year else f"{start.month}月{start.day}日"
    return f"{day}（{WEEKDAYS[start.weekday()]}）{_time(start)}～{_time(end)}"


def slot_options(field, answers) -> list[SlotOption]:
    """The days with a free place inside each resource's booking window, soonest first."""
    resources = resources_for(field, answers)
    options: list[SlotOption] = []
    for resource in resources:
        earliest, latest = selectors.window_of(resource)
        slots = (
            selectors.bookable_slots([resource.pk]).filter(starts_at__gte=earliest, starts_at__lt=latest)
            .order_by("starts_at")[:MAX_OPTIONS]
        )
        for slot in slots:
            where = f"{resource.name} " if len(resources) > 1 else ""
            options.append(SlotOption(str(slot.pk), f"{where}{day_label(slot)} 空き {slot.free}", slot.free))
    return options[:MAX_OPTIONS]


def validate_slot(field, value, answers):
    """The slot must be one of the field's resources (the chosen district's route).
    Whether it still has a place, and is still inside the booking window, is decided when
    the application is sent (services.book): a check here would also run on every later
    reading of the answers (the check page, a correction after 差戻し), when the day is
    full because of this very booking."""
    district_field = field.option("district_field")
    if district_field and not (answers is not None and answers.get(district_field)):
        raise FieldError(f"{name_of(field)}を選ぶ前に、地区を選んでください。")
    resources = resources_for(field, answers)
    slot = Slot.objects.filter(pk=value, resource__in=[r.pk for r in resources]).first()
    if slot is None:
        raise FieldError(f"{name_of(field)}を、表示された日から選んでください。")
    return slot.pk


def slot_label(field, value) -> str:
    slot = Slot.objects.select_related("resource").filter(pk=value).first() if str(value).isdigit() else None
    if slot is None:
        return "（見つからない予約枠）"
    where = slot.resource.district or slot.resource.name
    return f"{day_label(slot, year=True)}（{where}）"


SOURCE = SlotSource(options=slot_options, validate=validate_slot, label=slot_label)


# --- the application's booking ------------------------------------------------------------


def _slot_fields(submission: Submission):
    schema = submission.form_version.parsed()
    return [f for f in schema.all_fields() if f.type == "reservation_slot" and submission.answers.get(f.key)]


def _person(submission: Submission) -> services.Person:
    """Who the booking is for: the application's name, e-mail, telephone and account."""
    schema = submission.form_version.parsed()
    kana, phone = "", ""
    for fld in schema.all_fields():
        value = submission.answers.get(fld.key)
        if fld.type == "name" and value and not kana:
            kana = f"{value.get('family_kana', '')} {value.get('given_kana', '')}".strip()
        if fld.type == "phone" and value and not phone:
            phone = str(value)
    return services.Person(
        name=submission.applicant_name or "（氏名なし）", email=submission.email, phone=phone, name_kana=kana,
        account=_account_of(submission),
    )


def _account_of(submission: Submission):
    from tenohira.identity.models import AccountApplication

    where = Q(submission_id=submission.pk)
    if submission.draft_id:
        where |= Q(draft_id=submission.draft_id)
    link = AccountApplication.objects.filter(where).select_related("account").first()
    return link.account if link is not None else None


def book_on_submission(sender, submission: Submission, **kwargs) -> None:
    """Take the chosen day's place in the submission's transaction, or refuse the
    submission (nothing stored) with the reason, by the field."""
    for fld in _slot_fields(submission):
        _book_or_refuse(submission, fld, key=f"application:{submission.receipt_number}:{fld.key}")


def _book_or_refuse(submission: Submission, fld, *, key: str) -> Booking:
    """Book the day the answer names for the application, or refuse the submission (or its
    resubmission) with the reason, shown by the field."""
    request = services.Request(
        slot_id=int(submission.answers[fld.key]), person=_person(submission),
        channel=Booking.Channel.APPLICATION, submission=submission, request_key=key[:64],
    )
    try:
        return services.book(request)
    except SlotFull:
        raise SubmissionRefused(FULL_MESSAGE, field_key=fld.key) from None
    except OutsideWindow:
        raise SubmissionRefused(CLOSED_MESSAGE, field_key=fld.key) from None
    except BookingRefused as exc:
        raise SubmissionRefused(exc.message, field_key=fld.key) from None


def move_with_correction(sender, submission: Submission, from_status: str, to_status: str, **kwargs) -> None:
    """再提出 after a 差戻し that changed the collection day (or the district): the booking
    moves with the answer, in the resubmission's transaction — the old day's place is given
    back and the new day's taken, or, when the new day filled up meanwhile, the
    resubmission is refused (nothing stored, the old booking kept) with the reason."""
    if to_status != Submission.Status.RESUBMITTED:
        return
    for fld in _slot_fields(submission):
        wanted = int(submission.answers[fld.key])
        current = (
            Booking.objects.filter(submission=submission, state__in=HOLDING)
            .select_related("slot", "resource__facility", "kind").order_by("-pk").first()
        )
        if current is not None and current.slot_id == wanted:
            continue
        if current is not None:
            services.end(current, Booking.State.CANCELLED, reason="申請の修正で収集日を変更")
        _book_or_refuse(submission, fld, key=f"application:{submission.receipt_number}:{fld.key}:v{submission.version}")


def end_with_application(sender, submission: Submission, from_status: str, to_status: str, **kwargs) -> None:
    """却下 or 取下げ: the application's bookings end and give their places back, once."""
    reason = ENDING_STATES.get(to_status)
    if reason is None:
        return
    for booking in Booking.objects.filter(submission=submission, state__in=HOLDING).select_related(
        "slot", "resource__facility", "kind"
    ):
        services.cancel(booking, by_resident=False, reason=reason)


def submission_panel(submission: Submission, *, audience: str) -> list[extensions.Panel]:
    """The collection day (or other booking) of an application, with the link to its page."""
    panels = []
    bookings = Booking.objects.filter(submission=submission).select_related("slot", "resource").order_by("pk")
    for booking in bookings:
        resource = booking.resource
        title = "収集日" if resource.kind == Resource.Kind.COLLECTION else f"{resource.name}の予約"
        panel = extensions.Panel(
            title=title, lines=[day_label(booking.slot, year=True)],
            action_url=reverse("reservations:booking", args=[booking.token]), action_label="予約の内容を見る",
        )
        if resource.district:
            panel.lines.append(f"{resource.district}（{resource.name}）")
        panel.lines.append(f"予約番号: {booking.number}")
        if booking.state in HOLDING:
            panel.tone = "success"
            if resource.kind == Resource.Kind.COLLECTION:
                start = booking.slot.starts_at.astimezone(JST)
                panel.lines.append(f"当日の朝{_time(start)}までに、申し込んだ品物を出してください。")
        else:
            panel.tone = "warning"
            panel.lines.append(f"この予約は{booking.get_state_display()}になりました。"
                               + (f"（{booking.cancel_reason}）" if booking.cancel_reason else ""))
        panels.append(panel)
    return panels
