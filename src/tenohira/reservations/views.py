"""Residents' reservation pages: thin — parse, call selectors and services, render."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tenohira.reservations import selectors


@require_GET
def index(request):
    text = request.GET.get("q", "")[:100]
    kind = request.GET.get("kind", "")[:20]
    found = selectors.search(text, kind)
    return render(request, "reservations/index.html", {"found": found, "q": text, "kind": kind})


@require_GET
def booking(request, token: str):
    found = selectors.booking_by_token(token)
    if found is None:
        raise Http404("予約が見つかりません")
    return render(request, "reservations/booking.html", {"booking": found})
