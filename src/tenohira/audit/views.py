"""The auditors' search over the audit log (監査). Records name receipt numbers, never the
personal data itself, so auditors read who did what without reading applications."""

from __future__ import annotations

import datetime as dt

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from tenohira.audit import selectors
from tenohira.backoffice.auth import staff_required
from tenohira.backoffice.selectors import is_auditor


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@staff_required(check=is_auditor)
def search(request):
    params = request.GET
    date_from, date_to = _date(params.get("from", "")), _date(params.get("to", ""))
    records = selectors.search(
        request.user,
        actor=params.get("actor", "").strip(),
        action=params.get("action", "").strip(),
        target=params.get("target", "").strip(),
        date_from=date_from,
        date_to=date_to,
    )
    page = Paginator(records, 100).get_page(params.get("page"))
    bad_dates = [name for name in ("from", "to") if params.get(name) and _date(params.get(name)) is None]
    query = params.copy()
    query.pop("page", None)
    return render(
        request, "audit/search.html",
        {"page": page, "params": params, "actions": selectors.ACTIONS, "bad_dates": bad_dates,
         "query": query.urlencode(), "today": timezone.localdate()},
    )
