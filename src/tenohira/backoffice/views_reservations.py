"""Staff pages of the reservations (/staff/reservations/): the resources of the user's
sections, a day and a week of a resource's slots with their bookings, and the actions on
them (来所, 来所なし, 取消し, 休止, 枠の作成, 代理予約) and the exports.

Thin, like the other staff pages: the resource or booking is read through
backoffice.selectors_reservations (another section's answers 404), the user's roles in its
section are handed to reservations.staff_services, which checks them and writes the
change with its audit record. Every page or file showing bookings writes an audit record.

Forms work without JavaScript. Ending a booking (取消し) asks on a page of its own, with
the reason in a textarea (Enter there is a new line, never the button).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from urllib.parse import quote

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenohira.audit.services import record as audit
from tenohira.backoffice import selectors_reservations as scoped
from tenohira.backoffice.auth import staff_required
from tenohira.backoffice.exports import safe_file_name
from tenohira.core.fiscal import JST
from tenohira.core.tabular import cp932_missing, neutralise_formula, to_cp932_forms
from tenohira.reservations import forms as booking_forms
from tenohira.reservations import staff_services
from tenohira.reservations.errors import BookingRefused
from tenohira.reservations.models import CANCELLABLE, HOLDING, Booking
from tenohira.reservations.services import Person

WEEKDAYS = "月火水木金土日"
EXPORT_FORMATS = {"csv-utf8": "CSV（UTF-8 BOM付き）", "csv-cp932": "CSV（Shift_JIS / CP932）", "xlsx": "Excel（XLSX）"}
EXPORT_COLUMNS = ["予約番号", "開始日時", "終了日時", "施設", "予約対象", "種別", "人数・枠数", "状態", "受付の方法",
                  "氏名", "フリガナ", "電話番号", "メールアドレス", "予約日時", "来所日時", "取消しの理由"]
#: Columns a CSV for Excel keeps as numbers (a leading - is not a formula there).
_NUMERIC = [name == "人数・枠数" for name in EXPORT_COLUMNS]


YEARS_AROUND = 5


def _today() -> dt.date:
    return timezone.now().astimezone(JST).date()


def _day(raw) -> dt.date | None:
    raw = (raw or "").strip()
    if not raw or len(raw) > 10:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        return None
    # Within a few years of today: 0001-01-01 or 9999-12-31 would overflow as a moment in
    # Japan time (and the week view steps back from the day).
    return day if abs(day.year - _today().year) <= YEARS_AROUND else None


def _label(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def _day_url(resource, day: dt.date, slot_id: int | None = None) -> str:
    url = reverse("staff_reservations:day", args=[resource.code]) + f"?date={day.isoformat()}"
    return url + (f"#slot-{slot_id}" if slot_id else "")


def _slot_day(slot) -> dt.date:
    return slot.starts_at.astimezone(JST).date()


def _viewed(request, target: str, page: str, **detail) -> None:
    audit("reservation_view", user=request.user, target=target, detail={"page": page, **detail}, request=request)


def _roles(request, resource) -> set[str]:
    return scoped.roles_in(request.user, resource.section_id)


# --- the list of resources ---------------------------------------------------------------


@staff_required
@require_GET
def index(request):
    """The resources of the user's sections, grouped by facility (no personal data)."""
    facilities: dict = {}
    for resource in scoped.resources_for(request.user).order_by("facility__order", "facility__name", "order", "name"):
        facilities.setdefault(resource.facility, []).append(resource)
    return render(request, "backoffice/reservations_index.html", {
        "facilities": list(facilities.items()), "today": _today(),
    })


# --- a day and a week of a resource -------------------------------------------------------


def _period_context(request, resource, first: dt.date, last: dt.date) -> dict:
    rows = scoped.slots_between(resource, first, last)
    bookings = [b for row in rows for b in row.bookings]
    earlier = scoped.earlier_no_shows(resource, bookings, before=dt.datetime.combine(first, dt.time(0), tzinfo=JST))
    for booking in bookings:
        booking.earlier_no_shows = earlier.get(booking.person_key, 0)
    now = timezone.now()
    today = _today()
    for row in rows:
        row.started = row.slot.starts_at <= now
        row.on_or_before_today = _slot_day(row.slot) <= today
    days: dict[dt.date, list] = {}
    day = first
    while day <= last:
        days[day] = []
        day += dt.timedelta(days=1)
    for row in rows:
        days.setdefault(_slot_day(row.slot), []).append(row)
    return {
        "resource": resource, "rows": rows, "days": [(d, _label(d), r) for d, r in days.items()],
        "counts": scoped.state_counts(rows), "booking_count": len(bookings),
        "may_act": scoped.may_act(request.user, resource), "formats": EXPORT_FORMATS,
        "cancellable": CANCELLABLE,
    }


@staff_required
@require_GET
def day(request, resource_code: str):
    resource = scoped.resource_for(request.user, resource_code)
    raw = request.GET.get("date", "")
    chosen = _day(raw)
    bad_date = bool(raw) and chosen is None
    chosen = chosen or _today()
    context = _period_context(request, resource, chosen, chosen)
    context.update({
        "period": "day", "date": chosen, "date_label": _label(chosen), "typed_date": raw if bad_date else chosen.isoformat(),
        "bad_date": bad_date, "previous": chosen - dt.timedelta(days=1), "next": chosen + dt.timedelta(days=1),
        "week_start": chosen - dt.timedelta(days=chosen.weekday()),
    })
    _viewed(request, resource.code, "day", date=chosen.isoformat(), bookings=context["booking_count"])
    return render(request, "backoffice/reservations_day.html", context)


@staff_required
@require_GET
def week(request, resource_code: str):
    resource = scoped.resource_for(request.user, resource_code)
    raw = request.GET.get("date", "")
    chosen = _day(raw)
    bad_date = bool(raw) and chosen is None
    chosen = chosen or _today()
    first = chosen - dt.timedelta(days=chosen.weekday())
    last = first + dt.timedelta(days=6)
    context = _period_context(request, resource, first, last)
    context.update({
        "period": "week", "date": first, "first": first, "last": last,
        "date_label": f"{_label(first)}～{_label(last)}", "typed_date": raw if bad_date else first.isoformat(),
        "bad_date": bad_date, "previous": first - dt.timedelta(days=7), "next": first + dt.timedelta(days=7),
        "no_shows": scoped.no_shows(resource, first, last),
    })
    _viewed(request, resource.code, "week", date=first.isoformat(), bookings=context["booking_count"])
    return render(request, "backoffice/reservations_week.html", context)


# --- a booking -----------------------------------------------------------------------------


@staff_required
@require_GET
def booking(request, booking_number: str):
    found = scoped.booking_for(request.user, booking_number)
    _viewed(request, found.number, "booking", resource=found.resource.code)
    return render(request, "backoffice/reservations_booking.html", {
        "booking": found, "resource": found.resource, "may_act": scoped.may_act(request.user, found.resource),
        "day_url": _day_url(found.resource, _slot_day(found.slot), found.slot_id),
        "holding": found.state in HOLDING,
    })


def _booking_action(request, booking_number: str, action, done: str):
    found = scoped.booking_for(request.user, booking_number)
    try:
        action(found, user=request.user, roles=_roles(request, found.resource), request=request)
    except staff_services.StaffActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(number=found.number, name=found.name))
    return HttpResponseRedirect(_day_url(found.resource, _slot_day(found.slot), found.slot_id))


@staff_required
@require_POST
def check_in(request, booking_number: str):
    return _booking_action(request, booking_number, staff_services.check_in, "{name}さん（{number}）の来所を記録しました。")


@staff_required
@require_POST
def no_show(request, booking_number: str):
    return _booking_action(request, booking_number, staff_services.no_show, "{name}さん（{number}）を来所なしにしました。")


@staff_required
@require_http_methods(["GET", "POST"])
def cancel(request, booking_number: str):
    """GET: the confirmation page (with the reason). POST: the 取消し."""
    found = scoped.booking_for(request.user, booking_number)
    context = {"booking": found, "resource": found.resource, "typed": {"reason": ""},
               "day_url": _day_url(found.resource, _slot_day(found.slot), found.slot_id),
               "may_act": scoped.may_act(request.user, found.resource), "holding": found.state in HOLDING}
    if request.method == "GET":
        _viewed(request, found.number, "cancel", resource=found.resource.code)
        return render(request, "backoffice/reservations_cancel.html", context)
    reason = request.POST.get("reason", "")
    try:
        staff_services.cancel_by_staff(found, user=request.user, roles=_roles(request, found.resource),
                                       reason=reason, request=request)
    except staff_services.StaffActionError as exc:
        context.update(error=str(exc), typed={"reason": reason[:2000]})
        return render(request, "backoffice/reservations_cancel.html", context, status=400)
    messages.success(request, f"{found.name}さん（{found.number}）の予約を取り消しました。")
    return HttpResponseRedirect(context["day_url"])


# --- a slot: 休止 and its lifting -----------------------------------------------------------


def _slot_context(request, resource, slot) -> dict:
    held = list(slot.bookings.filter(state__in=HOLDING).select_related("kind").order_by("created_at", "pk"))
    return {"resource": resource, "slot": slot, "held": held, "may_act": scoped.may_act(request.user, resource),
            "day_url": _day_url(resource, _slot_day(slot), slot.pk), "typed": {"reason": ""}}


@staff_required
@require_GET
def slot(request, resource_code: str, slot_id: int):
    resource = scoped.resource_for(request.user, resource_code)
    found = scoped.slot_for(resource, slot_id)
    context = _slot_context(request, resource, found)
    _viewed(request, resource.code, "slot", slot=found.pk, bookings=len(context["held"]))
    return render(request, "backoffice/reservations_slot.html", context)


@staff_required
@require_POST
def block(request, resource_code: str, slot_id: int):
    resource = scoped.resource_for(request.user, resource_code)
    found = scoped.slot_for(resource, slot_id)
    reason = request.POST.get("reason", "")
    try:
        held = staff_services.block_slot(found, user=request.user, roles=_roles(request, resource), reason=reason,
                                         request=request)
    except staff_services.StaffActionError as exc:
        context = _slot_context(request, resource, found)
        context.update(error=str(exc), typed={"reason": reason[:2000]})
        return render(request, "backoffice/reservations_slot.html", context, status=400)
    if held:
        messages.warning(request, f"枠を休止しました。予約済みの{len(held)}件はそのままです。"
                                  "一人ずつ連絡して、取り消すか別の枠に予約し直してください。")
    else:
        messages.success(request, "枠を休止しました。")
    return HttpResponseRedirect(reverse("staff_reservations:slot", args=[resource.code, found.pk]))


@staff_required
@require_POST
def unblock(request, resource_code: str, slot_id: int):
    resource = scoped.resource_for(request.user, resource_code)
    found = scoped.slot_for(resource, slot_id)
    try:
        staff_services.unblock_slot(found, user=request.user, roles=_roles(request, resource), request=request)
    except staff_services.StaffActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "休止を解除しました。空いている場所は、また予約できます。")
    return HttpResponseRedirect(_day_url(resource, _slot_day(found), found.pk))


# --- 枠の作成 -------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def generate(request, resource_code: str):
    resource = scoped.resource_for(request.user, resource_code)
    today = _today()
    context = {"resource": resource, "rules": list(resource.rules.all()), "may_act": scoped.may_act(request.user, resource),
               "typed": {"start": today.isoformat(), "end": (today + dt.timedelta(days=30)).isoformat()}}
    if request.method == "GET":
        return render(request, "backoffice/reservations_generate.html", context)
    typed = {"start": request.POST.get("start", "")[:10], "end": request.POST.get("end", "")[:10]}
    context["typed"] = typed
    start, end = _day(typed["start"]), _day(typed["end"])
    try:
        if start is None or end is None:
            raise staff_services.StaffActionError("開始日と終了日を、2026-04-01 のように入力してください。")
        made = staff_services.generate(resource, start, end, user=request.user, roles=_roles(request, resource),
                                       request=request)
    except staff_services.StaffActionError as exc:
        context["error"] = str(exc)
        return render(request, "backoffice/reservations_generate.html", context, status=400)
    messages.success(request, f"{_label(start)}から{_label(end)}までに、{made}件の枠を作りました"
                              "（あった枠はそのままです）。")
    return HttpResponseRedirect(_day_url(resource, start))


# --- 代理予約: booking at the counter or on the phone ---------------------------------------

_PERSON_FIELDS = ("name", "name_kana", "phone", "email", "kind", "places", "channel", "memo")


@staff_required
@require_http_methods(["GET", "POST"])
def book(request, resource_code: str):
    resource = scoped.resource_for(request.user, resource_code)
    source = request.POST if request.method == "POST" else request.GET
    found = scoped.slot_for(resource, source.get("slot"))
    kinds = list(resource.kinds.all())
    free_by_kind = {k.kind_id: k.capacity - k.booked for k in found.kinds.all()}
    context = {
        "resource": resource, "slot": found, "kinds": [(k, free_by_kind.get(k.pk)) for k in kinds],
        "may_act": scoped.may_act(request.user, resource), "channels": staff_services.STAFF_CHANNELS,
        "channel_labels": dict(Booking.Channel.choices), "day_url": _day_url(resource, _slot_day(found), found.pk),
        "typed": {"places": "1", "channel": Booking.Channel.COUNTER, "request_key": uuid.uuid4().hex},
    }
    if request.method == "GET":
        _run, context["questions"], _errors = booking_forms.staff_questions(resource)
        return render(request, "backoffice/reservations_book.html", context)
    questions, context["questions"], question_errors = booking_forms.staff_questions(
        resource, request.POST, show_errors=True)
    context["question_errors"] = question_errors
    typed = {name: request.POST.get(name, "").strip()[:200] for name in _PERSON_FIELDS}
    typed["memo"] = request.POST.get("memo", "").strip()[:1000]
    typed["request_key"] = request.POST.get("request_key", "")[:64] or uuid.uuid4().hex
    context["typed"] = typed
    person = Person(name=typed["name"][:100], name_kana=typed["name_kana"][:100], phone=typed["phone"][:20],
                    email=typed["email"][:254])
    try:
        places = int(typed["places"] or "1")
    except ValueError:
        places = 0
    answers = dict(questions.answers) if questions is not None else {}
    if typed["memo"]:
        answers["staff_memo"] = typed["memo"]
    try:
        if places < 1 or places > 1000:
            raise staff_services.StaffActionError("人数・枠数は1以上の数字で入力してください。")
        if question_errors:
            raise staff_services.StaffActionError("予約時の質問に答えていないもの、または誤りがあります（下の一覧）。")
        made = staff_services.book_for_resident(
            found, person, user=request.user, roles=_roles(request, resource), channel=typed["channel"],
            kind_code=typed["kind"], places=places, answers=answers,
            request_key=typed["request_key"], request=request,
        )
    except staff_services.StaffActionError as exc:
        context["error"] = str(exc)
        return render(request, "backoffice/reservations_book.html", context, status=400)
    except BookingRefused as exc:
        # Nothing was written: the same key may book one of the alternatives.
        context.update(error=exc.message, alternatives=exc.alternatives)
        return render(request, "backoffice/reservations_book.html", context, status=409)
    messages.success(request, f"{made.name}さんの予約を受け付けました（予約番号 {made.number}）。")
    return HttpResponseRedirect(reverse("staff_reservations:booking", args=[made.number]))


# --- exports ---------------------------------------------------------------------------------


def _when(moment) -> str:
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M") if moment else ""


def export_table(resource, rows) -> list[list[str]]:
    """One line per booking of the slots in `rows` (every state), in the slots' order."""
    states = {value: str(label) for value, label in Booking.State.choices}
    channels = {value: str(label) for value, label in Booking.Channel.choices}
    lines = []
    for row in rows:
        for b in row.bookings:
            lines.append([
                b.number, _when(row.slot.starts_at), _when(row.slot.ends_at), resource.facility.name, resource.name,
                b.kind.name if b.kind else "", str(b.places), states.get(b.state, b.state),
                channels.get(b.channel, b.channel), b.name, b.name_kana, b.phone, b.email, _when(b.created_at),
                _when(b.checked_in_at), b.cancel_reason,
            ])
    return lines


def _download(content: bytes, name: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    name = safe_file_name(name, limit=150)
    extension = name.rpartition(".")[2]
    fallback = f"tenohira-reservations-{timezone.localtime():%Y%m%d-%H%M}.{extension}"
    response["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _csv(lines: list[list[str]], *, cp932: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for line in lines:
        # Names are typed by anyone on the internet: a cell never runs as a formula in Excel.
        cells = [neutralise_formula(cell, numeric=number) for cell, number in zip(line, _NUMERIC, strict=True)]
        writer.writerow([to_cp932_forms(c) for c in cells] if cp932 else cells)
    text = buffer.getvalue()
    return text.encode("cp932") if cp932 else b"\xef\xbb\xbf" + text.encode("utf-8")


def _xlsx(lines: list[list[str]], title: str) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    for line in [EXPORT_COLUMNS, *lines]:
        sheet.append(line)
        for cell in sheet[sheet.max_row]:
            # openpyxl takes any string starting with = for a formula: data is text.
            if cell.data_type == "f":
                cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def cp932_problems(lines: list[list[str]]) -> list[dict]:
    """Every character of the export CP932 cannot hold (after the standard conversions),
    with its booking and column: reported, never replaced."""
    found = []
    for line in lines:
        if not cp932_missing("\t".join(line)):
            continue
        for column, cell in zip(EXPORT_COLUMNS, line, strict=True):
            for char in cp932_missing(cell):
                found.append({"number": line[0], "column": column, "char": char, "code": f"U+{ord(char):04X}"})
    return found


@staff_required
@require_POST
def export(request, resource_code: str):
    """A day's or a week's bookings of a resource as CSV (UTF-8 with BOM, or CP932) or XLSX."""
    resource = scoped.resource_for(request.user, resource_code)
    period = "week" if request.POST.get("period") == "week" else "day"
    chosen = _day(request.POST.get("date")) or _today()
    chosen_format = request.POST.get("format", "")
    if chosen_format not in EXPORT_FORMATS:
        messages.error(request, "書き出す形式を選んでください。")
        return HttpResponseRedirect(reverse(f"staff_reservations:{period}", args=[resource.code]) + f"?date={chosen}")
    first = chosen - dt.timedelta(days=chosen.weekday()) if period == "week" else chosen
    last = first + dt.timedelta(days=6) if period == "week" else first
    lines = export_table(resource, scoped.slots_between(resource, first, last))
    detail = {"format": chosen_format, "period": period, "from": first.isoformat(), "to": last.isoformat(),
              "rows": len(lines)}
    span = first.strftime("%Y%m%d") + (f"-{last:%Y%m%d}" if period == "week" else "")
    base = f"予約_{resource.facility.name}_{resource.name}_{span}"
    if chosen_format == "csv-cp932":
        problems = cp932_problems(lines)
        if problems:
            audit("reservation_export", user=request.user, target=resource.code, request=request,
                  detail={**detail, "rows": 0, "checked_rows": len(lines), "refused": True,
                          "unencodable": len(problems)})
            return render(request, "backoffice/reservations_cp932.html", {
                "resource": resource, "problems": problems, "period": period, "date": first,
                "back_url": reverse(f"staff_reservations:{period}", args=[resource.code]) + f"?date={first}",
            }, status=422)
        audit("reservation_export", user=request.user, target=resource.code, detail=detail, request=request)
        return _download(_csv(lines, cp932=True), f"{base}_SJIS.csv", "text/csv; charset=Windows-31J")
    audit("reservation_export", user=request.user, target=resource.code, detail=detail, request=request)
    if chosen_format == "xlsx":
        return _download(_xlsx(lines, span), f"{base}.xlsx",
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return _download(_csv(lines, cp932=False), f"{base}.csv", "text/csv; charset=utf-8")
