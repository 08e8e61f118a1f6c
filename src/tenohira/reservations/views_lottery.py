"""Residents' pages of lotteries and waiting lists: thin — parse, call the allocation
services, render. Every change is a POST; withdrawing asks first on its own page."""

from __future__ import annotations

import secrets

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenohira.reservations import allocation_services, services, waitlist
from tenohira.reservations import lottery as draw_rule
from tenohira.reservations.errors import BookingRefused
from tenohira.reservations.models import Lottery, LotteryEntry, Slot, WaitlistEntry
from tenohira.reservations.selectors import Availability


def _label(slot: Slot) -> str:
    return Availability(slot.pk, slot.resource_id, "", slot.starts_at, slot.ends_at, 0).label


def _person(post) -> tuple[services.Person, list[tuple[str, str]]]:
    """The person from the form, and the errors as (field id, message)."""
    name = post.get("name", "").strip()[:100]
    email = post.get("email", "").strip()[:254]
    phone = post.get("phone", "").strip()[:20]
    errors = []
    if not name:
        errors.append(("f-name", "氏名を入力してください。"))
    if not email or "@" not in email:
        errors.append(("f-email", "結果をお知らせするメールアドレスを入力してください。"))
    return services.Person(name=name, email=email, phone=phone, name_kana=post.get("name_kana", "").strip()[:100],
                           account=None), errors


def _account(request):
    """The signed-in resident's account (the limit of one entry counts against it)."""
    from django.apps import apps

    from tenohira.core import residents

    identity = residents.current(request) or {}
    if not identity.get("account_id"):
        return None
    return apps.get_model("identity", "Account").objects.filter(pk=identity["account_id"]).first()


# --- lottery --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def lottery(request, pk: int):
    found = get_object_or_404(Lottery.objects.select_related("resource__facility"), pk=pk)
    slots = allocation_services.lottery_slots(found)
    choices = [(slot.pk, _label(slot)) for slot in slots]
    groups = [rule.get("label", "") for rule in (found.priority_rules or [])]
    values = {"name": "", "name_kana": "", "email": "", "phone": "", "priority": "",
              "wishes": [""] * found.max_wishes, "request_key": secrets.token_urlsafe(24)}
    errors: list[tuple[str, str]] = []
    if request.method == "POST":
        person, errors = _person(request.POST)
        person.account = _account(request)
        wishes = [request.POST.get(f"wish{i}", "") for i in range(found.max_wishes)]
        values.update({"name": person.name, "name_kana": person.name_kana, "email": person.email,
                       "phone": person.phone, "priority": request.POST.get("priority", ""), "wishes": wishes,
                       "request_key": request.POST.get("request_key", "")[:64] or values["request_key"]})
        chosen = [int(w) for w in wishes if w.isdigit()]
        if not chosen:
            errors.append(("f-wish0", "第1希望の日時を選んでください。"))
        priority = values["priority"]
        if groups and not priority.isdigit():
            errors.append(("f-priority", "区分を選んでください。"))
        if not errors:
            try:
                made = allocation_services.enter(
                    found, person, wishes=chosen, priority=int(priority) if priority.isdigit() else 0,
                    request_key=values["request_key"],
                )
            except BookingRefused as refused:
                errors.append(("f-wish0", refused.message))
            else:
                return HttpResponseRedirect(reverse("reservations:lottery_entry", args=[made.token]) + "?done=1")
    wish_rows = [{"index": i, "value": values["wishes"][i] if i < len(values["wishes"]) else ""}
                 for i in range(found.max_wishes)]
    return render(request, "reservations/lottery_enter.html", {
        "lottery": found, "choices": choices, "groups": groups, "values": values, "wish_rows": wish_rows,
        "errors": errors, "open": allocation_services.accepting(found),
    }, status=400 if errors else 200)


def _entry(token: str) -> LotteryEntry:
    if not token or len(token) > 64:
        raise Http404("申込みが見つかりません")
    found = LotteryEntry.objects.select_related("lottery__resource__facility", "booking__slot").filter(
        token=token).first()
    if found is None:
        raise Http404("申込みが見つかりません")
    return found


@require_GET
def entry(request, token: str):
    found = _entry(token)
    labels = {slot.pk: _label(slot) for slot in Slot.objects.filter(pk__in=found.wishes)}
    return render(request, "reservations/lottery_entry.html", {
        "entry": found, "lottery": found.lottery, "wishes": [labels.get(int(w), str(w)) for w in found.wishes],
        "done": request.GET.get("done") == "1",
        "can_withdraw": found.state == LotteryEntry.State.ENTERED and allocation_services.accepting(found.lottery),
    })


@require_http_methods(["GET", "POST"])
def entry_withdraw(request, token: str):
    found = _entry(token)
    error = ""
    if request.method == "POST":
        try:
            allocation_services.withdraw_entry(found)
        except BookingRefused as refused:
            error = refused.message
        else:
            return HttpResponseRedirect(reverse("reservations:lottery_entry", args=[found.token]))
    return render(request, "reservations/lottery_withdraw.html", {"entry": found, "lottery": found.lottery,
                                                                  "error": error})


@require_GET
def results(request, pk: int):
    found = get_object_or_404(Lottery.objects.select_related("resource__facility"), pk=pk)
    rows = []
    if found.state == Lottery.State.DRAWN:
        labels = {slot.pk: _label(slot) for slot in Slot.objects.filter(pk__in=[int(k) for k in found.capacities])}
        won = dict(found.entries.exclude(state=LotteryEntry.State.WITHDRAWN).values_list("number", "booking__slot_id"))
        groups = [rule.get("label", "") for rule in (found.priority_rules or [])]
        for row in allocation_services.entry_rows(found):
            rows.append({"number": row.number, "group": groups[row.priority] if row.priority < len(groups) else "",
                         "wishes": [labels.get(w, str(w)) for w in row.wishes],
                         "won": labels.get(won.get(row.number), "") if won.get(row.number) else ""})
    return render(request, "reservations/lottery_results.html", {"lottery": found, "rows": rows})


@require_GET
def published_csv(request, pk: int, name: str):
    found = get_object_or_404(Lottery, pk=pk, state=Lottery.State.DRAWN)
    if name == "entries":
        won = dict(found.entries.exclude(state=LotteryEntry.State.WITHDRAWN).values_list("number", "booking__slot_id"))
        body = draw_rule.entries_csv(allocation_services.entry_rows(found), won)
    elif name == "capacities":
        body = draw_rule.capacities_csv(found.capacities)
    else:
        raise Http404("ファイルが見つかりません")
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="lottery-{found.pk}-{name}.csv"'
    return response


# --- waiting list ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def waitlist_join(request, slot_id: int):
    slot = get_object_or_404(Slot.objects.select_related("resource__facility", "lottery"), pk=slot_id)
    kinds = list(slot.kinds.select_related("kind"))
    values = {"name": "", "name_kana": "", "email": "", "phone": "", "kind": ""}
    errors: list[tuple[str, str]] = []
    if request.method == "POST":
        person, errors = _person(request.POST)
        person.account = _account(request)
        values.update({"name": person.name, "name_kana": person.name_kana, "email": person.email,
                       "phone": person.phone, "kind": request.POST.get("kind", "")[:50]})
        if kinds and not values["kind"]:
            errors.append(("f-kind", "種別を選んでください。"))
        if not errors:
            try:
                made = waitlist.join(slot, person, kind_code=values["kind"])
            except BookingRefused as refused:
                errors.append(("f-name", refused.message))
            else:
                return HttpResponseRedirect(reverse("reservations:waitlist_entry", args=[made.token]) + "?done=1")
    return render(request, "reservations/waitlist_join.html", {
        "slot": slot, "label": _label(slot), "kinds": kinds, "values": values, "errors": errors,
        "open": waitlist.can_join(slot) or bool(kinds),
    }, status=400 if errors else 200)


def _waiting(token: str) -> WaitlistEntry:
    if not token or len(token) > 64:
        raise Http404("登録が見つかりません")
    found = WaitlistEntry.objects.select_related("slot__resource__facility", "kind", "booking").filter(
        token=token).first()
    if found is None:
        raise Http404("登録が見つかりません")
    return found


def _offer_over(entry) -> bool:
    """The offer's time has run out (the sweep may not have lapsed it yet): 予約する would
    only be refused, so the page does not offer it."""
    booking = entry.booking
    return (entry.state == entry.State.OFFERED and booking is not None and booking.offer_expires_at is not None
            and booking.offer_expires_at <= timezone.now())


@require_GET
def waitlist_entry(request, token: str):
    found = _waiting(token)
    return render(request, "reservations/waitlist_entry.html", {
        "entry": found, "label": _label(found.slot), "position": waitlist.position(found),
        "done": request.GET.get("done") == "1", "error": "", "offer_over": _offer_over(found),
    })


@require_POST
def waitlist_accept(request, token: str):
    found = _waiting(token)
    try:
        booking = waitlist.accept(found)
    except BookingRefused as refused:
        found.refresh_from_db()
        return render(request, "reservations/waitlist_entry.html", {
            "entry": found, "label": _label(found.slot), "position": waitlist.position(found), "error": refused.message,
            "offer_over": _offer_over(found),
        }, status=409)
    # The page a booking made on the booking pages ends on: it says the booking is made
    # (予約が確定しました, or 仮予約 where staff review) and that the e-mail went out.
    return HttpResponseRedirect(reverse("reservations:done", args=[booking.token]))


@require_http_methods(["GET", "POST"])
def waitlist_withdraw(request, token: str):
    found = _waiting(token)
    if request.method == "POST":
        waitlist.withdraw(found)
        return HttpResponseRedirect(reverse("reservations:waitlist_entry", args=[found.token]))
    return render(request, "reservations/waitlist_withdraw.html", {"entry": found, "label": _label(found.slot)})
