"""Residents' reservation pages: thin — parse, call selectors and services, render.

Find (探す) → a resource's days (月の空き) → a day's times → the booking page (who books and
the resource's own questions, through the form engine) → 確認 → 予約する → done. The
booking's own page (/reservations/b/<token>/, the link in the e-mail) shows it, gives the
.ics file, and changes or cancels it until the deadline. Every step is a plain link or a
POST form: nothing needs JavaScript. A booking page carries a one-time `request_key`, so a
double tap on 予約する books once.
"""

from __future__ import annotations

import calendar as month_calendar
import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.db.models.functions import TruncDate
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from tenohira.core import residents
from tenohira.core.clients import client_address
from tenohira.core.fiscal import JST
from tenohira.core.ratelimit import hit
from tenohira.identity.models import Account
from tenohira.reservations import forms, notify, selectors, services
from tenohira.reservations.errors import BookingRefused
from tenohira.reservations.models import CANCELLABLE, Booking, Lottery, Resource, Slot

WEEKDAYS = "月火水木金土日"
SEARCH_DAYS = 28


# --- small helpers -----------------------------------------------------------------------


def _resource(code: str) -> Resource:
    found = selectors.public_resources().filter(code=code[:50]).first()
    if found is None:
        raise Http404("予約の対象が見つかりません")
    return found


def _kind(resource: Resource, kinds: list, code: str):
    return next((k for k in kinds if k.code == code), None) if code else None


def _today() -> dt.date:
    return timezone.now().astimezone(JST).date()


def _day_label(day: dt.date) -> str:
    return f"{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def _time_label(slot: Slot) -> str:
    start, end = slot.starts_at.astimezone(JST), slot.ends_at.astimezone(JST)
    return f"{start:%H:%M}～{end:%H:%M}"


def _slot_label(slot: Slot) -> str:
    return f"{slot.starts_at.astimezone(JST).year}年{_day_label(slot.starts_at.astimezone(JST).date())} {_time_label(slot)}"


# Pages show days within a few years of today: a date like 0001-01-01 or 9999-12-31 would
# overflow when turned into a moment in Japan time, and no booking is that far away.
YEARS_AROUND = 3


def _sane(day: dt.date) -> dt.date | None:
    today = _today()
    return day if abs(day.year - today.year) <= YEARS_AROUND else None


def _parse_month(value: str) -> dt.date | None:
    value = value or ""
    if len(value) > 7:
        return None
    try:
        year, month = (int(part) for part in value.split("-"))
        return _sane(dt.date(year, month, 1))
    except (TypeError, ValueError):
        return None


def _parse_day(value: str) -> dt.date | None:
    try:
        return _sane(dt.date.fromisoformat(value or "")) if len(value or "") == 10 else None
    except ValueError:
        return None


def _signed_in(request) -> tuple[dict | None, Account | None]:
    identity = residents.current(request)
    account = None
    if identity and identity.get("account_id"):
        account = Account.objects.filter(pk=identity["account_id"]).first()
    return identity, account


def _url(name: str, *args, **query) -> str:
    url = reverse(f"reservations:{name}", args=args)
    query = {k: v for k, v in query.items() if v}
    return f"{url}?{urlencode(query)}" if query else url


# --- find --------------------------------------------------------------------------------


@require_GET
def index(request):
    text = request.GET.get("q", "")[:100]
    kind = request.GET.get("kind", "")[:20]
    if kind not in Resource.Kind.values:
        kind = ""
    found = selectors.search(text, kind, days=SEARCH_DAYS)
    return render(request, "reservations/index.html", {
        "found": found, "q": text, "kind": kind, "kinds": Resource.Kind.choices, "days": SEARCH_DAYS,
        "searched": bool(text or kind),
    })


# --- a resource's month and day ----------------------------------------------------------


def _month_days(resource: Resource, month: dt.date, kind) -> list[dict]:
    """Each day of the month that has slots, with its free places (within the booking
    window) or why it cannot be booked."""
    last = dt.date(month.year, month.month, month_calendar.monthrange(month.year, month.month)[1])
    free = selectors.free_days(resource, month, last, kind=kind)
    first_at = dt.datetime.combine(month, dt.time(0), tzinfo=JST)
    with_slots = set(
        Slot.objects.filter(resource=resource, starts_at__gte=first_at,
                            starts_at__lt=dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=JST))
        .annotate(day=TruncDate("starts_at", tzinfo=JST)).values_list("day", flat=True).distinct()
    )
    earliest, latest = selectors.window_of(resource)
    rows = []
    for day in sorted(with_slots | set(free)):
        day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=JST)
        day_start = dt.datetime.combine(day, dt.time(0), tzinfo=JST)
        if day in free and free[day] > 0:
            state, text = "free", f"空き {free[day]}"
        elif day_end <= earliest:
            state, text = "closed", "受付終了"
        elif day_start >= latest:
            state, text = "later", "受付前"
        else:
            state, text = "full", "空きなし"
        rows.append({"day": day, "label": _day_label(day), "state": state, "text": text,
                     "weekend": day.weekday() >= 5})
    return rows


@require_GET
def resource_page(request, code: str):
    resource = _resource(code)
    kinds = list(resource.kinds.all())
    kind = _kind(resource, kinds, request.GET.get("kind", "")[:50])
    today = _today()
    this_month = today.replace(day=1)
    _earliest, latest = selectors.window_of(resource)
    last_month = (latest - dt.timedelta(seconds=1)).astimezone(JST).date().replace(day=1)
    month = _parse_month(request.GET.get("month", "")[:7]) or this_month
    month = min(max(month, this_month), max(last_month, this_month))
    previous = (month - dt.timedelta(days=1)).replace(day=1) if month > this_month else None
    following = (month + dt.timedelta(days=32)).replace(day=1) if month < last_month else None
    needs_kind = bool(kinds) and kind is None
    days = [] if needs_kind else _month_days(resource, month, kind)
    kind_code = kind.code if kind else ""
    for row in days:
        row["url"] = _url("day", resource.code, row["day"].isoformat(), kind=kind_code)
    return render(request, "reservations/resource.html", {
        "resource": resource, "kinds": kinds, "kind": kind, "needs_kind": needs_kind, "days": days,
        "month": month, "month_label": f"{month.year}年{month.month}月",
        "previous_url": _url("resource", resource.code, month=f"{previous:%Y-%m}", kind=kind_code) if previous else "",
        "previous_label": f"{previous.month}月" if previous else "",
        "next_url": _url("resource", resource.code, month=f"{following:%Y-%m}", kind=kind_code) if following else "",
        "next_label": f"{following.month}月" if following else "",
        "kind_urls": [{"kind": k, "url": _url("resource", resource.code, month=f"{month:%Y-%m}", kind=k.code),
                       "current": kind is not None and k.pk == kind.pk} for k in kinds],
    })


def _slot_rows(resource: Resource, slots: list[Slot], kind) -> list[dict]:
    earliest, latest = selectors.window_of(resource)
    rows = []
    for slot in slots:
        free = slot.free
        if kind is not None:
            slot_kind = next((k for k in slot.kinds.all() if k.kind_id == kind.pk), None)
            free = min(free, max(slot_kind.capacity - slot_kind.booked, 0)) if slot_kind else 0
        if slot.blocked:
            state, text = "blocked", "休止"
        elif slot.lottery_id is not None and slot.lottery.state != Lottery.State.DRAWN:
            state, text = "lottery", "抽選で決まります"
        elif slot.starts_at < earliest:
            state, text = "closed", "受付終了"
        elif slot.starts_at >= latest:
            state, text = "later", "受付前"
        elif free <= 0:
            state, text = "full", "満員"
        else:
            state, text = "free", f"空き {free}"
        rows.append({"slot": slot, "time": _time_label(slot), "state": state, "text": text})
    return rows


@require_GET
def day_page(request, code: str, day: str):
    resource = _resource(code)
    date = _parse_day(day)
    if date is None:
        raise Http404("日付が正しくありません")
    kinds = list(resource.kinds.all())
    kind = _kind(resource, kinds, request.GET.get("kind", "")[:50])
    if kinds and kind is None:
        return HttpResponseRedirect(_url("resource", resource.code, month=f"{date:%Y-%m}"))
    rows = _slot_rows(resource, selectors.day_slots(resource, date), kind)
    kind_code = kind.code if kind else ""
    for row in rows:
        row["url"] = _url("book", resource.code, slot=row["slot"].pk, kind=kind_code)
    return render(request, "reservations/day.html", {
        "resource": resource, "kind": kind, "day": date, "day_label": f"{date.year}年{_day_label(date)}",
        "rows": rows, "back_url": _url("resource", resource.code, month=f"{date:%Y-%m}", kind=kind_code),
    })


# --- booking -----------------------------------------------------------------------------


def _bad_slot(request, resource: Resource):
    return render(request, "reservations/bad_request.html", {
        "resource": resource,
        "message": "予約する日時の指定が正しくありません。日にちと時間を選び直してください。",
        "back_url": _url("resource", resource.code),
    }, status=400)


def _booking_context(resource, slot, form: forms.BookingForm, request_key: str, *, show_errors: bool,
                     refusal: BookingRefused | None = None) -> dict:
    contact, questions = form.bound(show_errors=show_errors)
    errors = form.errors(contact, questions) if show_errors else []
    if refusal is not None:
        errors = [{"anchor": "slot-summary", "message": refusal.message}, *errors]
    kind = _kind(resource, list(resource.kinds.all()), form.kind_code)
    return {
        "resource": resource, "slot": slot, "slot_label": _slot_label(slot), "contact": contact,
        "questions": questions, "questions_title": form.questions.schema.title if form.questions else "",
        "errors": errors, "refusal": refusal,
        "alternatives": refusal.alternatives if refusal is not None else [], "request_key": request_key,
        "back_url": _url("day", resource.code, slot.starts_at.astimezone(JST).date().isoformat(),
                         kind=kind.code if kind else ""),
    }


TOO_MANY = ("短い時間に、この接続元から多くの予約がありました。しばらくしてからもう一度お試しください。"
            "お急ぎの方は担当課へお電話ください。")


def _may_book(request) -> bool:
    """Bookings per client address and hour (RESERVATIONS_BOOKINGS_PER_ADDRESS_PER_HOUR): the
    limit per person counts e-mail addresses, which a script can make up."""
    limit = int(getattr(settings, "RESERVATIONS_BOOKINGS_PER_ADDRESS_PER_HOUR", 30))
    return hit(f"reservations-book:{client_address(request)}", limit=limit, window=dt.timedelta(hours=1))


@require_http_methods(["GET", "POST"])
def book(request, code: str):
    resource = _resource(code)
    kinds = list(resource.kinds.all())
    data = request.POST if request.method == "POST" else request.GET
    slot_id = forms.parse_id(data.get("alt_slot") or data.get("slot"))
    slot = Slot.objects.filter(pk=slot_id, resource=resource).first() if slot_id else None
    if slot is None:
        return _bad_slot(request, resource)
    identity, account = _signed_in(request)

    if request.method == "GET":
        kind = _kind(resource, kinds, request.GET.get("kind", "")[:50])
        form = forms.booking_form(resource, kinds, initial=forms.prefill(identity, account,
                                                                         kind_code=kind.code if kind else ""))
        return render(request, "reservations/book.html", _booking_context(
            resource, slot, form, forms.new_request_key(), show_errors=False))

    form = forms.booking_form(resource, kinds, request.POST)
    action = request.POST.get("action", "check")
    request_key = forms.clean_request_key(request.POST.get("request_key")) or forms.new_request_key()
    if action == "edit":
        return render(request, "reservations/book.html", _booking_context(
            resource, slot, form, request_key, show_errors=False))
    if not form.ok:
        return render(request, "reservations/book.html", _booking_context(
            resource, slot, form, request_key, show_errors=True), status=400)
    if action != "book" or request_key != request.POST.get("request_key"):
        # 確認: what was typed, read back, with 予約する (a made-up or missing key gets a
        # fresh one here, so 予約する always carries a key).
        kind = _kind(resource, kinds, form.kind_code)
        return render(request, "reservations/confirm.html", {
            "resource": resource, "slot": slot, "slot_label": _slot_label(slot), "kind": kind,
            "summary": form.summary(), "hidden": form.hidden_inputs(), "request_key": request_key,
            "places": form.places if resource.max_places > 1 else None,
        })
    if not _may_book(request):
        # Many bookings from one address in an hour (a script taking every place): what was
        # typed is kept; a person retries later, and the counter and the phone still book.
        context = _booking_context(resource, slot, form, request_key, show_errors=False)
        context["errors"] = [{"anchor": "slot-summary", "message": TOO_MANY}]
        return render(request, "reservations/book.html", context, status=429)
    try:
        booking = services.book(services.Request(
            slot_id=slot.pk, person=services.Person(account=account, **form.person_fields),
            kind_code=form.kind_code, places=form.places, answers=form.answers,
            channel=Booking.Channel.WEB, request_key=request_key,
        ))
    except BookingRefused as refused:
        # The last place went a moment ago (or the window closed): say so at the top, offer
        # the nearest free times as buttons of this same form, and keep what was typed.
        return render(request, "reservations/book.html", _booking_context(
            resource, slot, form, forms.new_request_key(), show_errors=False, refusal=refused), status=409)
    return HttpResponseRedirect(reverse("reservations:done", args=[booking.token]))


# --- the booking's own page --------------------------------------------------------------


def _booking(token: str) -> Booking:
    found = selectors.booking_by_token(token)
    if found is None:
        raise Http404("予約が見つかりません")
    return found


def _deadline_label(moment: dt.datetime) -> str:
    local = moment.astimezone(JST)
    return f"{local.month}月{local.day}日（{WEEKDAYS[local.weekday()]}）{local:%H:%M}"


def _booking_page(request, booking: Booking, *, just_booked: bool = False, status: int = 200):
    deadline = services.change_deadline(booking)
    open_ = booking.state in CANCELLABLE and timezone.now() < deadline
    section = booking.resource.section
    return render(request, "reservations/booking.html", {
        "booking": booking, "resource": booking.resource, "when": notify.when(booking),
        "just_booked": just_booked, "can_change": open_ and booking.state != Booking.State.OFFERED,
        "can_cancel": open_ or booking.state == Booking.State.OFFERED,
        "past_deadline": booking.state in CANCELLABLE and not open_,
        "deadline_label": _deadline_label(deadline), "section": section,
        "replacement": services.replacement_of(booking) if booking.state == Booking.State.CANCELLED else None,
        "provisional": booking.state == Booking.State.PROVISIONAL,
    }, status=status)


@require_GET
def booking(request, token: str):
    return _booking_page(request, _booking(token))


@require_GET
def done(request, token: str):
    return _booking_page(request, _booking(token), just_booked=True)


@require_GET
def ical(request, token: str):
    found = _booking(token)
    cancelled = found.state not in (*CANCELLABLE, Booking.State.CHECKED_IN, Booking.State.NO_SHOW)
    response = HttpResponse(notify.ical(found, cancelled=cancelled), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="yoyaku-{found.number}.ics"'
    return response


@require_http_methods(["GET", "POST"])
def cancel(request, token: str):
    found = _booking(token)
    if request.method == "GET":
        if found.state not in CANCELLABLE:
            return HttpResponseRedirect(reverse("reservations:booking", args=[found.token]))
        return render(request, "reservations/cancel_confirm.html", {
            "booking": found, "resource": found.resource, "when": notify.when(found),
        })
    try:
        cancelled = services.cancel(found, by_resident=True)
    except BookingRefused as refused:
        messages.error(request, refused.message)
        return HttpResponseRedirect(reverse("reservations:booking", args=[found.token]))
    messages.info(request, "予約を取り消しました。" if cancelled else "この予約は、すでに取り消されています。")
    return HttpResponseRedirect(reverse("reservations:booking", args=[found.token]))


@require_http_methods(["GET", "POST"])
def change(request, token: str):
    """変更: another day and time of the same resource (and kind), then 確認, then 変更する."""
    found = _booking(token)
    resource = found.resource
    if found.state not in (Booking.State.PROVISIONAL, Booking.State.CONFIRMED) \
            or timezone.now() >= services.change_deadline(found):
        return HttpResponseRedirect(reverse("reservations:booking", args=[found.token]))
    base = {"booking": found, "resource": resource, "when": notify.when(found),
            "back_url": reverse("reservations:booking", args=[found.token])}
    if request.method == "POST":
        slot_id = forms.parse_id(request.POST.get("slot"))
        slot = Slot.objects.filter(pk=slot_id, resource=resource).first() if slot_id else None
        if slot is None:
            date = _parse_day(request.POST.get("day", "")[:10])
            return _change_day(request, found, base, date or _today(), error="変更先の時間を選んでください。",
                               status=400)
        if request.POST.get("action") != "change":
            return render(request, "reservations/change_confirm.html", {
                **base, "slot": slot, "slot_label": _slot_label(slot)})
        try:
            new = services.change(found, slot.pk)
        except BookingRefused as refused:
            return _change_day(request, found, base, slot.starts_at.astimezone(JST).date(), error=refused.message,
                               alternatives=refused.alternatives, status=409)
        messages.info(request, "予約の日時を変更しました。新しい予約番号と予約のページをお知らせします。")
        return HttpResponseRedirect(reverse("reservations:done", args=[new.token]))
    date = _parse_day(request.GET.get("day", "")[:10])
    if date is not None:
        return _change_day(request, found, base, date)
    today = _today()
    _earliest, latest = selectors.window_of(resource)
    last_month = (latest - dt.timedelta(seconds=1)).astimezone(JST).date().replace(day=1)
    this_month = today.replace(day=1)
    month = _parse_month(request.GET.get("month", "")[:7]) or this_month
    month = min(max(month, this_month), max(last_month, this_month))
    days = _month_days(resource, month, found.kind)
    for row in days:
        row["url"] = _url("change", found.token, day=row["day"].isoformat())
    previous = (month - dt.timedelta(days=1)).replace(day=1) if month > this_month else None
    following = (month + dt.timedelta(days=32)).replace(day=1) if month < last_month else None
    return render(request, "reservations/change.html", {
        **base, "days": days, "month_label": f"{month.year}年{month.month}月",
        "previous_url": _url("change", found.token, month=f"{previous:%Y-%m}") if previous else "",
        "previous_label": f"{previous.month}月" if previous else "",
        "next_url": _url("change", found.token, month=f"{following:%Y-%m}") if following else "",
        "next_label": f"{following.month}月" if following else "",
    })


def _change_day(request, found: Booking, base: dict, date: dt.date, *, error: str = "", alternatives=(),
                status: int = 200):
    rows = [row for row in _slot_rows(found.resource, selectors.day_slots(found.resource, date), found.kind)
            if row["slot"].pk != found.slot_id]
    return render(request, "reservations/change_day.html", {
        **base, "day": date, "day_label": f"{date.year}年{_day_label(date)}", "rows": rows,
        "free_rows": [row for row in rows if row["state"] == "free"], "error": error,
        "alternatives": [a for a in alternatives if a.slot_id != found.slot_id],
        "days_url": _url("change", found.token, month=f"{date:%Y-%m}"),
    }, status=status)

