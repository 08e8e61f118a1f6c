"""Typical counter congestion (いつもの混み具合) from the records the city already has.

For each counter (reservations.Counter), visitors per weekday and hour are counted from:

* **POS transactions** (PosTransaction) of the counter's POS facility
  (Counter.pos_facility): one payment is one visitor who paid a fee;
* **counter applications**: applications entered at the counter (Submission with channel
  counter, 書かない窓口) and other systems' records with a counter channel
  (ExternalApplication), for the counter's procedures (Counter.procedures).

Each source counts a part of the visitors (who paid; who applied), and one visitor may
appear in both, so the sources are not added: for each weekday and hour the larger of the
two averages is kept. An average is the count in that hour over the number of days of that
weekday on which the source has any record (days the counter was open in the data), in JST.

The period is the 365 days ending at the counter's latest record (or --from/--to). The
rows are stored through reservations.congestion.store_typical, which gives each hour its
level 0..3 relative to the counter's busiest hour (docs/reservations-congestion.md).
Run by `tenohira typical_congestion`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Max, Q
from django.db.models.functions import ExtractHour, TruncDate

from tenohira.applications.models import Channel, Submission
from tenohira.core.fiscal import JST
from tenohira.insights.models import ExternalApplication, PosTransaction
from tenohira.reservations import congestion as reservations_congestion
from tenohira.reservations.models import Counter

#: Channel values of imported application records that mean "at the counter".
COUNTER_CHANNELS = ("counter", "窓口", "来庁")
PERIOD = dt.timedelta(days=365)


@dataclass
class Result:
    counter: Counter
    rows: int
    basis: str


def _pos(counter: Counter):
    if not counter.pos_facility:
        return PosTransaction.objects.none(), "at"
    return PosTransaction.objects.filter(facility=counter.pos_facility), "at"


def _submissions(counter: Counter):
    return Submission.objects.filter(channel=Channel.COUNTER, procedure__in=counter.procedures.all()), "submitted_at"


def _external(counter: Counter):
    channels = Q()
    for name in COUNTER_CHANNELS:
        channels |= Q(channel__iexact=name)
    return ExternalApplication.objects.filter(channels, procedure__in=counter.procedures.all()), "submitted_at"


def _per_day_hour(queryset, field: str, start: dt.datetime, end: dt.datetime) -> dict[tuple[dt.date, int], int]:
    rows = (
        queryset.filter(**{f"{field}__gte": start, f"{field}__lt": end})
        .annotate(day=TruncDate(field, tzinfo=JST), hour=ExtractHour(field, tzinfo=JST))
        .values("day", "hour").annotate(n=Count("pk")).order_by()
    )
    return {(row["day"], row["hour"]): row["n"] for row in rows}


def _averages(counts: dict[tuple[dt.date, int], int]) -> dict[tuple[int, int], Decimal]:
    """{(weekday, hour): mean visitors} over the days of that weekday present in `counts`."""
    days_per_weekday: dict[int, set[dt.date]] = defaultdict(set)
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for (day, hour), n in counts.items():
        days_per_weekday[day.weekday()].add(day)
        totals[(day.weekday(), hour)] += n
    return {key: Decimal(total) / len(days_per_weekday[key[0]]) for key, total in totals.items()}


def typical_rows(counter: Counter, *, start: dt.datetime | None = None, end: dt.datetime | None = None):
    """(rows for store_typical, basis text) for `counter`; rows is empty without data."""
    sources = {"POS": _pos(counter), "窓口の申請記録": _submissions(counter), "他システムの窓口申請": _external(counter)}
    if end is None:
        latest = [qs.aggregate(last=Max(field))["last"] for qs, field in sources.values()]
        latest = [moment for moment in latest if moment is not None]
        if not latest:
            return [], ""
        end = max(latest) + dt.timedelta(seconds=1)
    start = start or end - PERIOD
    combined: dict[tuple[int, int], Decimal] = {}
    used: list[str] = []
    applications: dict[tuple[dt.date, int], int] = defaultdict(int)
    for name, (queryset, field) in sources.items():
        counts = _per_day_hour(queryset, field, start, end)
        if not counts:
            continue
        used.append(name)
        if name == "POS":
            averages = _averages(counts)
            for key, value in averages.items():
                combined[key] = max(combined.get(key, Decimal(0)), value)
        else:
            # The two application sources are different applications: they add up.
            for key, n in counts.items():
                applications[key] += n
    for key, value in _averages(applications).items():
        combined[key] = max(combined.get(key, Decimal(0)), value)
    first, last = start.astimezone(JST).date(), (end - dt.timedelta(seconds=1)).astimezone(JST).date()
    basis = f"{'・'.join(used)} {first:%Y-%m-%d}〜{last:%Y-%m-%d}" if used else ""
    rows = [reservations_congestion.TypicalRow(weekday, hour, value) for (weekday, hour), value in sorted(combined.items())]
    return rows, basis


def compute(counters=None, *, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[Result]:
    """Compute and store the typical congestion of `counters` (default: every active one).
    A counter without any record keeps what it had (a demo's or an earlier run's rows)."""
    results = []
    queryset = counters if counters is not None else Counter.objects.filter(active=True).order_by("order", "pk")
    for counter in queryset:
        rows, basis = typical_rows(counter, start=start, end=end)
        if rows:
            reservations_congestion.store_typical(counter, rows, basis=basis)
        results.append(Result(counter, len(rows), basis))
    return results
