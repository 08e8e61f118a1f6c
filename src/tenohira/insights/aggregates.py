"""Applications per JST day, procedure, channel and office-hours flag (DailyApplications),
kept in step with the facts so that a ten-year report reads pre-aggregated rows, never
millions of submissions.

What counts: every Submission except withdrawn ones (取下げ: the applicant took it back,
so the city did not receive it in the end) and survey responses (アンケート: an answer to a
question from the city, not an application to it), and every imported ExternalApplication. A
returned (差戻し), rejected or completed application still counts: it was received.

How it stays exact:

- `count_submission(submission)` (+1) runs in applications.services.submit, in the
  transaction that creates the submission; `count_submission(submission, delta=-1)` runs
  in applications.history.record_event when a status change enters 取下げ (and +1 if one
  ever left it). These two are the only writers of Submission rows and of their status,
  so calling there, in the same transaction, means the count commits or rolls back with
  the fact. (post_save signals were not chosen: they need the previous status carried on
  the instance and still miss QuerySet.update(), like an explicit call; an explicit call at
  the two places that write says what happens where.)
- Imports of other systems' logs add their new rows' counts in the import's transaction.
- `rebuild()` recomputes any range from the facts in SQL (repair, backfill, a changed
  ClosureDay, a new holiday law, other office hours). Anything that writes submissions
  without the services (a bulk load, `.update(submitted_at=...)` in the demo) must call it.

The day and the flag are decided in JST by the business calendar (core.calendar):
the same rule as calendar.is_outside_office_hours, applied per row in SQL by rebuild().

Catalog procedures are keyed by procedure id (their name and department are stored as
they were when the row was created; rebuild() refreshes them); procedures outside the
catalog (unmatched imported logs) by name and department.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Min, Q, Sum

from tenohira.core import calendar
from tenohira.core.fiscal import JST, fiscal_year
from tenohira.insights.models import DailyApplications, ExternalApplication
from tenohira.insights.numbers import pct

log = logging.getLogger(__name__)

WITHDRAWN = "withdrawn"  # applications.models.Submission.Status.WITHDRAWN
# Channels whose applications the outside-office-hours share is about: a resident applying
# at night. A counter entry typed after 17:15 is staff working late, and mail has a
# postmark date, not an hour.
AFTER_HOURS_CHANNELS = ("online",)
UNKNOWN_DEPARTMENT = ""


@dataclass(frozen=True)
class Key:
    day: dt.date
    procedure_id: int | None
    procedure_name: str  # part of the key only when procedure_id is None
    department: str  # idem
    channel: str
    outside_hours: bool


def _filter_of(key: Key) -> Q:
    where = Q(day=key.day, channel=key.channel, outside_hours=key.outside_hours)
    if key.procedure_id is not None:
        return where & Q(procedure_id=key.procedure_id)
    return where & Q(procedure__isnull=True, procedure_name=key.procedure_name, department=key.department)


def add_counts(deltas: dict[Key, int], names=None) -> None:
    """Add each delta to its row (created when missing; deleted when it reaches 0).

    `names` gives (procedure name, department) for rows that may have to be created for a
    catalog procedure: a dict by key, or a function of the key (asked only when a row is
    created, so the common case — the row exists — costs one UPDATE). A negative delta on a missing row changes nothing: that row
    was never counted (e.g. an application received before the aggregates existed, which
    rebuild() brings in). Call inside the transaction that writes the facts."""
    names = names or {}
    deltas = {key: delta for key, delta in deltas.items() if delta}
    # No savepoint of its own: called inside the caller's transaction (a submission), it
    # adds no SAVEPOINT/RELEASE round trips; an error still rolls the whole caller back.
    with transaction.atomic(savepoint=False):
        if len(deltas) > BULK_THRESHOLD:
            deltas = _add_existing_in_bulk(deltas)
            try:
                with transaction.atomic():
                    DailyApplications.objects.bulk_create(
                        [_new_row(key, delta, names) for key, delta in deltas.items() if delta > 0], batch_size=1000
                    )
                deltas = {key: delta for key, delta in deltas.items() if delta < 0}
            except IntegrityError:
                pass  # a concurrent writer created one of them: go one key at a time
        for key, delta in deltas.items():
            if key.procedure_id is not None and delta > 0 and _increment(key, delta):
                continue  # the common case: one more application on a day already counted
            rows = DailyApplications.objects.filter(_filter_of(key))
            if rows.update(count=F("count") + delta):
                if delta < 0:
                    rows.filter(count=0).delete()
                continue
            if delta < 0:
                log.warning("DailyApplications: %s for %s had never been counted; run rebuild()", delta, key)
                continue
            try:
                with transaction.atomic():  # savepoint: another transaction may create it first
                    _new_row(key, delta, names).save()
            except IntegrityError:
                rows.update(count=F("count") + delta)


BULK_THRESHOLD = 20


def _increment(key: Key, delta: int) -> int:
    """rows.update(count=F("count") + delta) for one catalog procedure's row, written out:
    every submission runs it, and building it through the ORM took about a tenth of a
    submission's CPU (bench/submit_bench.py profile). Returns the rows changed (0 or 1)."""
    table = DailyApplications._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET count = count + %s "  # noqa: S608 (table name is ours)
            "WHERE day = %s AND procedure_id = %s AND channel = %s AND outside_hours = %s",
            [delta, key.day, key.procedure_id, key.channel, key.outside_hours],
        )
        return cursor.rowcount


def _new_row(key: Key, delta: int, names) -> DailyApplications:
    if callable(names):
        name, department = names(key)
    else:
        name, department = names.get(key, (key.procedure_name, key.department))
    return DailyApplications(
        day=key.day, fiscal_year=fiscal_year(key.day), procedure_id=key.procedure_id,
        procedure_name=name[:300], department=department[:100], channel=key.channel,
        outside_hours=key.outside_hours, count=delta,
    )


def _row_key(row: DailyApplications) -> Key:
    if row.procedure_id is not None:
        return Key(row.day, row.procedure_id, "", "", row.channel, row.outside_hours)
    return Key(row.day, None, row.procedure_name, row.department, row.channel, row.outside_hours)


def _add_existing_in_bulk(deltas: dict[Key, int]) -> dict[Key, int]:
    """An import's many deltas: rows that exist are locked, read and written back in a few
    statements. Returns the deltas still to apply (keys without a row yet)."""
    days = sorted({key.day for key in deltas})
    ids = sorted({key.procedure_id for key in deltas if key.procedure_id is not None})
    unmatched = sorted({key.procedure_name for key in deltas if key.procedure_id is None})
    found: dict[Key, DailyApplications] = {}
    for first in range(0, len(days), 500):
        rows = DailyApplications.objects.select_for_update().filter(day__in=days[first:first + 500]).filter(
            Q(procedure_id__in=ids) | Q(procedure__isnull=True, procedure_name__in=unmatched)
        )
        for row in rows:
            key = _row_key(row)
            if key in deltas:
                found[key] = row
    for key, row in found.items():
        row.count += deltas[key]
    DailyApplications.objects.bulk_update([row for row in found.values() if row.count], ["count"], batch_size=1000)
    DailyApplications.objects.filter(pk__in=[row.pk for row in found.values() if not row.count]).delete()
    return {key: delta for key, delta in deltas.items() if key not in found}


def submission_key(submission, cal: calendar.BusinessCalendar | None = None) -> Key:
    """The row a submission is counted in: its JST day, procedure, channel and flag."""
    outside = (cal.is_outside_office_hours if cal else calendar.is_outside_office_hours)(submission.submitted_at)
    return Key(
        day=submission.submitted_at.astimezone(JST).date(), procedure_id=submission.procedure_id,
        procedure_name="", department="", channel=submission.channel, outside_hours=outside,
    )


def count_submission(submission, delta: int = +1) -> None:
    """+1 when `submission` is received, -1 when it is withdrawn (取下げ). Call it in the
    transaction that writes the submission or its status."""
    from tenohira.catalog.models import Section
    from tenohira.forms.models import FormDefinition

    # A survey response (アンケート) is not an application and is never counted. The +1 is
    # skipped by applications.services (no extra query on the busiest write); a withdrawal
    # (rare) looks here, so it never takes 1 off a day's applications.
    if delta < 0 and FormDefinition.objects.filter(procedure_id=submission.procedure_id, kind="survey").exists():
        return

    def names(_key):
        department = Section.objects.filter(pk=submission.section_id).values_list("department__name", flat=True).first()
        return submission.procedure.name, department or UNKNOWN_DEPARTMENT

    add_counts({submission_key(submission): delta}, names)


# --- rebuild ----------------------------------------------------------------------------

def _local_parts(vendor: str, column: str) -> tuple[str, str]:
    """SQL for the JST date and JST time of day of a stored timestamp column."""
    if vendor == "postgresql":
        return f"({column} AT TIME ZONE 'Asia/Tokyo')::date", f"({column} AT TIME ZONE 'Asia/Tokyo')::time"
    if vendor == "sqlite":
        # Stored as naive UTC text; Japan has kept UTC+9 without summer time since 1951.
        return f"date({column}, '+9 hours')", f"time({column}, '+9 hours')"
    raise ImproperlyConfigured(f"rebuild() supports PostgreSQL and SQLite, not {vendor}")


def _fiscal_year_sql(vendor: str, column: str) -> str:
    if vendor == "postgresql":
        return f"EXTRACT(YEAR FROM ({column} - INTERVAL '3 months'))::integer"
    return f"CAST(strftime('%%Y', {column}, '-3 months') AS INTEGER)"


def _fact_range() -> tuple[dt.date, dt.date] | None:
    from tenohira.applications.models import Submission

    bounds = []
    for model in (Submission, ExternalApplication):
        found = model.objects.aggregate(first=Min("submitted_at"), last=Max("submitted_at"))
        if found["first"] is not None:
            bounds += [found["first"], found["last"]]
    if not bounds:
        return None
    return min(bounds).astimezone(JST).date(), max(bounds).astimezone(JST).date()


def _moment(day: dt.date):
    return dt.datetime.combine(day, dt.time(), tzinfo=JST)


def rebuild(from_date: dt.date | None = None, to_date: dt.date | None = None) -> dict:
    """Recompute DailyApplications for JST days from_date..to_date (both included; None =
    from the first / to the last fact) from Submission and ExternalApplication: one
    GROUP BY per source, merged and written by one INSERT … SELECT, in one transaction.
    Returns {"rows": rows written, "applications": applications counted}.

    On PostgreSQL the table is locked against writes meanwhile (SHARE ROW EXCLUSIVE):
    a submission arriving during a rebuild waits for it instead of being counted twice or
    lost."""
    span = _fact_range()
    start = from_date or (span[0] if span else None)
    end = to_date or (span[1] if span else None)
    vendor = connection.vendor
    cal = calendar.current()
    with transaction.atomic():
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE insights_dailyapplications IN SHARE ROW EXCLUSIVE MODE")
                # Millions of rows grouped in one statement: let the hash aggregate stay in memory.
                cursor.execute("SET LOCAL work_mem = '256MB'")
        stale = DailyApplications.objects.all()
        if from_date:
            stale = stale.filter(day__gte=from_date)
        if to_date:
            stale = stale.filter(day__lte=to_date)
        stale.delete()
        if start is None or end is None or end < start:
            return {"rows": 0, "applications": 0}
        _insert_aggregates(vendor, cal, start, end)
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE insights_dailyapplications")  # the planner sees the new rows at once
        written = DailyApplications.objects.filter(day__gte=start, day__lte=end).aggregate(
            rows=Count("pk"), applications=Sum("count")
        )
    return {"rows": written["rows"] or 0, "applications": written["applications"] or 0}


def _insert_aggregates(vendor: str, cal: calendar.BusinessCalendar, start: dt.date, end: dt.date) -> None:
    ops = connection.ops
    low = ops.adapt_datetimefield_value(_moment(start))
    high = ops.adapt_datetimefield_value(_moment(end + dt.timedelta(days=1)))
    opens, closes = cal.opens.strftime("%H:%M:%S"), cal.closes.strftime("%H:%M:%S")
    # Days the offices are closed, decided in Python by the calendar (holidays, 12/29–1/3,
    # closure days), joined in SQL; a sentinel keeps VALUES non-empty.
    closed = [ops.adapt_datefield_value(day) for day in cal.non_business_days(start, end)] or [
        ops.adapt_datefield_value(dt.date(1, 1, 1))
    ]
    # Every value below travels as a query parameter; the SQL text is assembled only from
    # constant fragments chosen by database vendor (hence the S608 exemptions).
    closed_sql = "SELECT v.column1 AS day FROM (VALUES " + ", ".join(["(%s)"] * len(closed)) + ") AS v"  # noqa: S608
    if vendor == "postgresql":
        closed_sql = closed_sql.replace("(%s)", "(%s::date)")
    time_cast = "::time" if vendor == "postgresql" else ""
    s_day, s_time = _local_parts(vendor, "s.submitted_at")
    e_day, e_time = _local_parts(vendor, "e.submitted_at")

    outside = f"(tod < %s{time_cast} OR tod >= %s{time_cast} OR day IN (SELECT day FROM closed))"  # noqa: S608

    # Rows are written in day order, so a period's rows sit together on disk and a fiscal
    # year's report reads one stretch of the table.
    sql = f"""
WITH closed AS ({closed_sql}),
submissions AS (
    SELECT x.day, x.procedure_id, CAST(NULL AS VARCHAR(300)) AS procedure_name,
           CAST(NULL AS VARCHAR(100)) AS department, x.channel, x.outside_hours, COUNT(*) AS n,
           MIN(x.section_id) AS section_id
    FROM (SELECT y.*, {outside} AS outside_hours
          FROM (SELECT {s_day} AS day, {s_time} AS tod, s.procedure_id, s.section_id, s.channel
                FROM applications_submission s
                WHERE s.submitted_at >= %s AND s.submitted_at < %s AND s.status <> %s
                  AND s.procedure_id NOT IN (SELECT f.procedure_id FROM forms_formdefinition f
                                             WHERE f.kind = 'survey')) y) x
    GROUP BY x.day, x.procedure_id, x.channel, x.outside_hours
),
externals AS (
    SELECT x.day, x.procedure_id, x.procedure_name, x.department, x.channel, x.outside_hours,
           COUNT(*) AS n, CAST(NULL AS BIGINT) AS section_id
    FROM (SELECT y.*, {outside} AS outside_hours
          FROM (SELECT {e_day} AS day, {e_time} AS tod, e.procedure_id, e.channel,
                       CASE WHEN e.procedure_id IS NULL THEN e.procedure_name ELSE '' END AS procedure_name,
                       CASE WHEN e.procedure_id IS NULL THEN e.department ELSE '' END AS department
                FROM insights_externalapplication e
                WHERE e.submitted_at >= %s AND e.submitted_at < %s) y) x
    GROUP BY x.day, x.procedure_id, x.procedure_name, x.department, x.channel, x.outside_hours
),
merged AS (
    SELECT day, procedure_id, procedure_name, department, channel, outside_hours, n, section_id FROM submissions
    UNION ALL
    SELECT day, procedure_id, procedure_name, department, channel, outside_hours, n, section_id FROM externals
)
INSERT INTO insights_dailyapplications
    (day, fiscal_year, procedure_id, procedure_name, department, channel, outside_hours, count)
SELECT m.day, {_fiscal_year_sql(vendor, 'm.day')}, m.procedure_id,
       COALESCE(MIN(p.name), MIN(m.procedure_name), ''),
       COALESCE(MIN(sd.name), MIN(pd.name), MIN(m.department), ''),
       m.channel, m.outside_hours, SUM(m.n)
FROM merged m
LEFT JOIN catalog_procedure p ON p.id = m.procedure_id
LEFT JOIN catalog_section ps ON ps.id = p.section_id
LEFT JOIN catalog_department pd ON pd.id = ps.department_id
LEFT JOIN catalog_section ss ON ss.id = m.section_id
LEFT JOIN catalog_department sd ON sd.id = ss.department_id
GROUP BY m.day, m.procedure_id,
         CASE WHEN m.procedure_id IS NULL THEN m.procedure_name END,
         CASE WHEN m.procedure_id IS NULL THEN m.department END,
         m.channel, m.outside_hours
ORDER BY m.day
"""  # noqa: S608
    params = [
        *closed,
        opens, closes, low, high, WITHDRAWN,  # submissions
        opens, closes, low, high,  # externals
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- reading ----------------------------------------------------------------------------

def _figures(applications: int, outside: int) -> dict:
    return {"applications": applications, "outside_hours": outside, "share": pct(outside, applications)}


def after_hours(period_start: dt.date, period_end: dt.date, *, department=None,
                channels: tuple[str, ...] = AFTER_HOURS_CHANNELS) -> dict:
    """Applications outside office hours over JST days period_start..period_end (both
    included), from DailyApplications only (one GROUP BY for catalog procedures, one for
    the procedures known only from imported logs):

        {"overall": {"applications", "outside_hours", "share"},
         "departments": [{"department", ...same}] in catalog order,
         "procedures": [{"procedure", "code", "department", ...same}] most applications first}

    `share` is the percentage rounded half-up to 0.1 (numbers.pct; None with no
    applications). Only `channels` count (default: online — see AFTER_HOURS_CHANNELS);
    withdrawn applications never do. `department` (a name or a Department) narrows it to
    one department (a department head's dashboard)."""
    from tenohira.catalog.models import Department, Procedure

    rows = DailyApplications.objects.filter(day__gte=period_start, day__lte=period_end, channel__in=channels)
    if department is not None:
        rows = rows.filter(department=getattr(department, "name", department))
    # Catalog rows are grouped without their (long) names, which come from the catalog: a
    # fiscal year is ~500,000 rows at 1.65 million applications, and the grouping is the cost.
    grouped = [
        *rows.filter(procedure__isnull=False).values("procedure_id", "department", "outside_hours").annotate(n=Sum("count")),
        *rows.filter(procedure__isnull=True).values("procedure_name", "department", "outside_hours").annotate(n=Sum("count")),
    ]

    total = [0, 0]
    by_department: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_procedure: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    departments_of: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    names_of: dict[tuple, str] = {}
    for row in grouped:
        n, flag = row["n"], row["outside_hours"]
        pid = row.get("procedure_id")
        key = ("p", pid) if pid is not None else ("x", row["procedure_name"], row["department"])
        for figures in (total, by_department[row["department"]], by_procedure[key]):
            figures[0] += n
            figures[1] += n if flag else 0
        departments_of[key][row["department"]] += n
        names_of.setdefault(key, row.get("procedure_name", ""))

    catalog = {
        p["pk"]: p for p in Procedure.objects.filter(pk__in=[k[1] for k in by_procedure if k[0] == "p"])
        .values("pk", "name", "code")
    }
    procedures = []
    for key, (applications, outside) in by_procedure.items():
        known = catalog.get(key[1]) if key[0] == "p" else None
        home = max(departments_of[key].items(), key=lambda item: (item[1], item[0]))[0]
        procedures.append({
            "procedure": known["name"] if known else names_of[key], "code": known["code"] if known else None,
            "department": home, **_figures(applications, outside),
        })
    procedures.sort(key=lambda p: (-p["applications"], p["procedure"], p["code"] or ""))

    order = {name: index for index, name in enumerate(Department.objects.values_list("name", flat=True))}
    departments = [
        {"department": name, **_figures(*figures)}
        for name, figures in sorted(
            by_department.items(), key=lambda item: (item[0] not in order, item[0] == UNKNOWN_DEPARTMENT, order.get(item[0], 0), item[0])
        )
    ]
    return {
        "period": {"start": period_start, "end": period_end},
        "channels": list(channels),
        "overall": _figures(*total),
        "departments": departments,
        "procedures": procedures,
    }
