"""Staff pages of allocation: lotteries (create, close, draw, entries), provisional bookings
(仮予約 → 本予約 or お受けできない) and fees (paid, 減免 asked and decided by a second person).

Scoped by the user's sections: a lottery, booking or 減免 is looked up among those of the
resources of the sections where the user holds a role (404 otherwise). Every page that
shows residents' names writes an audit record. Forms work without JavaScript; a form with
a text input starts with a hidden default button that only shows the page again, so Enter
never rejects, draws or approves anything.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenohira.audit.services import record as audit
from tenohira.backoffice import selectors_reservations as scoped
from tenohira.backoffice.auth import staff_required
from tenohira.backoffice.models import Role
from tenohira.core.fiscal import JST
from tenohira.reservations import allocation_services
from tenohira.reservations.errors import BookingRefused
from tenohira.reservations.models import Booking, FeeReduction, Lottery, Resource

DECIDE_ROLES = {Role.APPROVER, Role.SECTION_ADMIN}
PAY_ROLES = {Role.HANDLER, Role.APPROVER, Role.SECTION_ADMIN}


_lotteries = scoped.worked_lotteries
_bookings = scoped.worked_bookings
_roles = scoped.roles_in


def _lottery(user, pk: int) -> Lottery:
    found = _lotteries(user).filter(pk=pk).first()
    if found is None:
        raise Http404("lottery not found")
    return found


def _booking(user, number: str) -> Booking:
    found = _bookings(user).filter(number=number[:9]).first()
    if found is None:
        raise Http404("booking not found")
    return found


# --- lotteries ------------------------------------------------------------------------


@staff_required
@require_GET
def index(request):
    lotteries = _lotteries(request.user).annotate(
        entered=Count("entries", filter=~Q(entries__state="withdrawn"))).order_by("-entries_open_at")[:100]
    bookings = _bookings(request.user)
    return render(request, "backoffice/lottery_index.html", {
        "lotteries": lotteries,
        "provisional": bookings.filter(state=Booking.State.PROVISIONAL).count(),
        "pending_reductions": FeeReduction.objects.filter(booking__in=bookings, state=FeeReduction.State.PENDING).count(),
    })


# A lottery is for the months ahead: a year far from today is a typing mistake (and 0001 or
# 9999 would overflow as a moment in Japan time).
YEARS_AROUND = 5


def _near(year: int) -> bool:
    return abs(year - timezone.now().astimezone(JST).year) <= YEARS_AROUND


def _parse_dt(raw: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.strptime(raw.strip()[:16], "%Y-%m-%dT%H:%M").replace(tzinfo=JST)
    except ValueError:
        return None
    return moment if _near(moment.year) else None


def _parse_date(raw: str) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(raw.strip()[:10])
    except ValueError:
        return None
    return day if _near(day.year) else None


@staff_required
@require_http_methods(["GET", "POST"])
def create(request):
    resources = scoped.worked_resources(request.user).filter(allocation=Resource.Allocation.LOTTERY,
                                                              active=True).select_related("facility")
    typed = {"resource": "", "title": "", "period_start": "", "period_end": "", "entries_close_at": "",
             "draw_at": "", "max_wishes": "3", "priority": "市内在住・在勤\nそれ以外"}
    errors: list[str] = []
    if request.method == "POST":
        typed.update({key: request.POST.get(key, "")[:2000] for key in typed})
        resource = resources.filter(pk=typed["resource"]).first() if typed["resource"].isdigit() else None
        start, end = _parse_date(typed["period_start"]), _parse_date(typed["period_end"])
        close_at, draw_at = _parse_dt(typed["entries_close_at"]), _parse_dt(typed["draw_at"])
        if resource is None:
            errors.append("抽選にする施設を選んでください。")
        if not typed["title"].strip():
            errors.append("名前を入力してください。")
        if start is None or end is None:
            errors.append("利用期間を入力してください。")
        if close_at is None or draw_at is None:
            errors.append("申込み締切と抽選日時を入力してください。")
        if request.POST.get("action") == "create" and not errors:
            rules = [{"code": f"g{i}", "label": line.strip()[:50]}
                     for i, line in enumerate(typed["priority"].splitlines()) if line.strip()][:5]
            try:
                made = allocation_services.create_lottery(
                    resource, title=typed["title"].strip()[:200], period_start=start, period_end=end,
                    entries_close_at=close_at, draw_at=draw_at,
                    max_wishes=int(typed["max_wishes"]) if typed["max_wishes"].isdigit() else 3,
                    priority_rules=rules, user=request.user,
                )
            except BookingRefused as refused:
                errors.append(refused.message)
            else:
                return HttpResponseRedirect(reverse("staff_lottery:detail", args=[made.pk]))
    return render(request, "backoffice/lottery_create.html", {"resources": resources, "typed": typed,
                                                             "errors": errors if request.POST.get("action") == "create" else []})


@staff_required
@require_GET
def detail(request, lottery_id: int):
    found = _lottery(request.user, lottery_id)
    entries = list(found.entries.order_by("number").select_related("booking__slot")[:2000])
    audit("reservations.lottery.entries_view", user=request.user, target=f"lottery:{found.pk}",
          detail={"entries": len(entries)}, request=request)
    slots = list(found.slots.order_by("starts_at"))
    return render(request, "backoffice/lottery_detail.html", {
        "lottery": found, "entries": entries, "slots": slots,
        "can_draw": found.state != Lottery.State.DRAWN and (found.state == Lottery.State.CLOSED
                                                            or found.entries_close_at <= timezone.now()),
    })


@staff_required
@require_POST
def close(request, lottery_id: int):
    found = _lottery(request.user, lottery_id)
    if allocation_services.close(found, request.user):
        messages.success(request, "申込みの受付を終了しました。")
    return HttpResponseRedirect(reverse("staff_lottery:detail", args=[found.pk]))


@staff_required
@require_http_methods(["GET", "POST"])
def draw(request, lottery_id: int):
    found = _lottery(request.user, lottery_id)
    error = ""
    if request.method == "POST":
        try:
            result = allocation_services.draw(found, request.user)
        except BookingRefused as refused:
            error = refused.message
        else:
            messages.success(request, f"抽選しました。当選 {len(result.winners)} 件、落選 {len(result.won) - len(result.winners)} 件。")
            return HttpResponseRedirect(reverse("staff_lottery:detail", args=[found.pk]))
    return render(request, "backoffice/lottery_draw.html", {
        "lottery": found, "error": error, "entered": found.entries.exclude(state="withdrawn").count(),
    })


# --- provisional bookings -------------------------------------------------------------


@staff_required
@require_GET
def provisional(request):
    rows = list(_bookings(request.user).filter(state=Booking.State.PROVISIONAL).order_by("slot__starts_at")[:200])
    audit("reservations.provisional.view", user=request.user, target="bookings:provisional",
          detail={"bookings": [b.number for b in rows]}, request=request)
    return render(request, "backoffice/lottery_provisional.html", {"bookings": rows})


@staff_required
@require_POST
def confirm(request, booking_number: str):
    booking = _booking(request.user, booking_number)
    if allocation_services.confirm(booking, request.user):
        messages.success(request, f"予約 {booking.number} を確定しました。")
    return HttpResponseRedirect(reverse("staff_lottery:provisional"))


@staff_required
@require_http_methods(["GET", "POST"])
def reject(request, booking_number: str):
    booking = _booking(request.user, booking_number)
    audit("reservations.booking.view", user=request.user, target=f"booking:{booking.number}", request=request)
    error = ""
    reason = request.POST.get("reason", "")[:200]
    if request.method == "POST" and request.POST.get("action") == "reject":
        try:
            done = allocation_services.reject(booking, request.user, reason)
        except BookingRefused as refused:
            error = refused.message
        else:
            if done:
                messages.success(request, f"予約 {booking.number} をお受けできないこととし、ご本人に知らせました。")
            return HttpResponseRedirect(reverse("staff_lottery:provisional"))
    return render(request, "backoffice/lottery_reject.html", {"booking": booking, "reason": reason, "error": error})


# --- fees -----------------------------------------------------------------------------


@staff_required
@require_GET
def fees(request):
    bookings = _bookings(request.user)
    unpaid = list(bookings.filter(state__in=(Booking.State.PROVISIONAL, Booking.State.CONFIRMED), fee_yen__gt=0,
                                  paid_at__isnull=True).order_by("pay_by")[:200])
    unpaid = [b for b in unpaid if b.amount_due]
    pending = list(FeeReduction.objects.filter(booking__in=bookings, state=FeeReduction.State.PENDING)
                   .select_related("booking__resource", "requested_by")[:200])
    audit("reservations.fees.view", user=request.user, target="bookings:fees",
          detail={"bookings": [b.number for b in unpaid]}, request=request)
    return render(request, "backoffice/lottery_fees.html", {"unpaid": unpaid, "pending": pending})


@staff_required
@require_POST
def paid(request, booking_number: str):
    booking = _booking(request.user, booking_number)
    if not _roles(request.user, booking.resource.section_id) & PAY_ROLES:
        raise Http404("booking not found")
    if allocation_services.record_payment(booking, request.user):
        messages.success(request, f"予約 {booking.number} の使用料 {booking.amount_due:,}円 の支払いを記録しました。")
    return HttpResponseRedirect(reverse("staff_lottery:fees"))


@staff_required
@require_http_methods(["GET", "POST"])
def reduction(request, booking_number: str):
    booking = _booking(request.user, booking_number)
    audit("reservations.booking.view", user=request.user, target=f"booking:{booking.number}", request=request)
    typed = {"amount": request.POST.get("amount", "")[:12], "reason": request.POST.get("reason", "")[:200]}
    error = ""
    if request.method == "POST" and request.POST.get("action") == "request":
        amount = typed["amount"].strip()
        if not amount.isdigit():
            error = "減免額を半角数字で入力してください。"
        else:
            try:
                allocation_services.request_reduction(booking, request.user, amount_yen=int(amount),
                                                      reason=typed["reason"])
            except BookingRefused as refused:
                error = refused.message
            else:
                messages.success(request, "減免を申請しました。別の職員（決裁者または所属管理者）の承認で反映されます。")
                return HttpResponseRedirect(reverse("staff_lottery:fees"))
    return render(request, "backoffice/lottery_reduction.html", {"booking": booking, "typed": typed, "error": error})


@staff_required
@require_POST
def decide(request, reduction_id: int):
    found = FeeReduction.objects.filter(pk=reduction_id, booking__in=_bookings(request.user)).select_related(
        "booking__resource").first()
    if found is None:
        raise Http404("reduction not found")
    if not _roles(request.user, found.booking.resource.section_id) & DECIDE_ROLES:
        messages.error(request, "減免を承認・却下できるのは、所属の決裁者または所属管理者です。")
        return HttpResponseRedirect(reverse("staff_lottery:fees"))
    action = request.POST.get("action")
    if action not in ("approve", "refuse"):
        return HttpResponseRedirect(reverse("staff_lottery:fees"))
    try:
        allocation_services.decide_reduction(found, request.user, approve=action == "approve",
                                             comment=request.POST.get("comment", "")[:200])
    except BookingRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, "減免を承認しました。" if action == "approve" else "減免を却下しました。")
    return HttpResponseRedirect(reverse("staff_lottery:fees"))
