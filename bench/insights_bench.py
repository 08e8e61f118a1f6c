"""DX insights at city scale: ten fiscal years of 1.65 million submissions each, the daily
pre-aggregation rebuilt from them, and the full JSON report timed.

    .venv/bin/python bench/insights_bench.py                      # 10 × 1,650,000, PostgreSQL
    .venv/bin/python bench/insights_bench.py --years 2 --per-year 200000 --keep

What it builds: a throwaway PostgreSQL database (created, migrated, dropped at the end), a
catalog of 20 departments, 99 sections and 1,804 procedures (Koriyama's count; about a
quarter marked as applied for online here, one with a published form; half of the rest
with a planned online year), a published form, and a per-procedure inventory
(手続棚卸) for every fiscal year. Then `--per-year` submissions per fiscal year, generated
inside PostgreSQL with INSERT … SELECT generate_series straight into the submissions
table (the secondary indexes and foreign keys are dropped first and rebuilt afterwards,
as a bulk load does; they are all back before anything is measured):

- procedure: Zipf-like (rank = ⌊e^(u·ln 1805)⌋, so P(rank k) ∝ ln((k+1)/k) ≈ 1/k): the top
  procedure gets ~9 % of a year, the last ~120 applications; ranks are shuffled over the
  sections, so every department has busy and quiet procedures;
- day: uniform over the fiscal year, 55 % of weekend applications moved to the next
  Monday/Tuesday (weekends are quieter); national holidays are not special-cased;
- channel: 10 % counter (書かない窓口), timed within 08:30–17:15; 90 % online, hour of day
  from a 24-hour profile with lunch and evening peaks (00–07h 10 %, 09–16h 49 %,
  17–23h 37 %), minute and second uniform;
- status: 2 % withdrawn (not counted), 1 % rejected, 3 % received, 4 % under review,
  the rest completed.

What it measures: the generation (seconds, rows, rows/s, the index rebuild separately),
`insights.aggregates.rebuild()` over everything (seconds, DailyApplications rows), then the
full JSON report of the last fiscal year — `tenohira.insights.report.build(fiscal_year=…)`
and `json.dumps` of it — `--repeat` (5) times after one warm-up: p50 and max, and its
after_hours and plan sections alone. Last line: `full JSON report < 2 s: PASS/FAIL` (printed, never
asserted).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _database import create_database, setup_django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/tenohira_bench_insights"
TARGET_SECONDS = 2.0
PROCEDURES = 1804
SECTIONS = 99
DEPARTMENTS = [
    "総務部", "政策開発部", "財務部", "税務部", "市民部", "生活環境部", "保健福祉部", "こども部",
    "農林部", "産業観光部", "建設交通部", "都市整備部", "上下水道局", "会計課", "教育総務部",
    "学校教育部", "選挙管理委員会事務局", "監査委員事務局", "農業委員会事務局", "消防本部",
]
SUBJECTS = ["住民票", "印鑑登録", "戸籍", "国民健康保険", "児童手当", "保育所", "放課後児童クラブ", "介護保険",
            "障がい福祉", "粗大ごみ", "犬の登録", "市税", "道路占用", "建築確認", "水道", "就学援助",
            "施設予約", "各種証明", "補助金", "健康診査"]
ACTIONS = ["の申請", "の届出", "の交付申請", "の変更届", "の再交付申請", "の申込", "の証明申請", "の廃止届"]
# Online applications by hour of day, in percent (sums to 100).
HOUR_PROFILE = [2, 1, 1, 0, 0, 1, 2, 3, 4, 6, 7, 6, 7, 6, 6, 6, 5, 5, 5, 6, 7, 7, 4, 3]
STATUS_CUTS = [(0.02, "withdrawn"), (0.03, "rejected"), (0.06, "received"), (0.10, "under_review")]
SCHEMA = {"title": "ベンチマーク申請", "steps": [{"key": "about", "title": "申請する方", "fields": [
    {"key": "full_name", "type": "text", "label": "氏名", "required": True}]}]}


def setup_and_migrate(data_dir: str, db_url: str) -> None:
    setup_django(data_dir, db_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_catalog(rng: random.Random, years: list[int]) -> tuple[int, list[tuple[int, int, int]]]:
    """Departments, sections, procedures, one published form, the inventories. Returns
    (form version id, [(rank, procedure id, section id)])."""
    from tenohira.catalog.models import Channel, Department, Procedure, ProcedureChannel, Section
    from tenohira.forms.services import publish
    from tenohira.insights.models import InventoryProcedure

    departments = Department.objects.bulk_create(
        [Department(name=name, order=i) for i, name in enumerate(DEPARTMENTS, start=1)]
    )
    sections = Section.objects.bulk_create([
        Section(department=departments[i % len(departments)], name=f"{departments[i % len(departments)].name[:-1]}第{i // len(departments) + 1}課", order=i)
        for i in range(SECTIONS)
    ])
    on_platform = [rng.random() < 0.23 for _ in range(PROCEDURES)]
    # Half of the others planned online over the next years (the report's plan section);
    # a generator of their own, so the rest of the data stays what it was.
    planner = random.Random(len(years))
    procedures = Procedure.objects.bulk_create([
        Procedure(
            code=f"B{i:04d}", section=sections[i % SECTIONS],
            name=f"{SUBJECTS[i % len(SUBJECTS)]}{ACTIONS[(i // len(SUBJECTS)) % len(ACTIONS)]}（{i:04d}）",
            planned_online_fiscal_year=None if on_platform[i - 1] or planner.random() < 0.5
            else years[-1] + planner.randrange(-1, 4),
        )
        for i in range(1, PROCEDURES + 1)
    ], batch_size=1000)
    ProcedureChannel.objects.bulk_create([
        ProcedureChannel(procedure=p, kind=Channel.PLATFORM if online else Channel.COUNTER)
        for p, online in zip(procedures, on_platform, strict=True)
    ], batch_size=2000)
    version, _ = publish(procedures[0], SCHEMA)
    ranks = list(range(1, PROCEDURES + 1))
    rng.shuffle(ranks)
    ranked = [(rank, p.pk, p.section_id) for rank, p in zip(ranks, procedures, strict=True)]
    names = {s.pk: (s.department.name, s.name) for s in Section.objects.select_related("department")}
    InventoryProcedure.objects.bulk_create([
        InventoryProcedure(
            fiscal_year=fy, department=names[p.section_id][0], section=names[p.section_id][1], name=p.name,
            procedure=p, online=online, annual_applications=max(1, int(165_000 / rank)),
        )
        for fy in years
        for (rank, _pk, _section), p, online in zip(ranked, procedures, on_platform, strict=True)
    ], batch_size=2000)
    return version.pk, ranked


def _day_sql() -> str:
    # A uniform day of the fiscal year; 55 % of weekend days moved to Monday/Tuesday.
    return (
        "CASE WHEN extract(isodow FROM d0) >= 6 AND random() < 0.55 "
        "THEN LEAST(d0 + 2, %(last)s::date) ELSE d0 END"
    )


GENERATE = """
INSERT INTO applications_submission
    (receipt_number, procedure_id, section_id, form_version_id, draft_id, answers, summary, channel, status,
     email, status_secret_hash, submitted_at, due_date, applicant_name, applicant_search, version, status_changed_at)
SELECT 'B' || %(fy)s || '-' || lpad(g.i::text, 7, '0'), r.procedure_id, r.section_id, %(form)s, NULL,
       '{}'::jsonb, '[]'::jsonb, g.channel, g.status, '', %(hash)s, g.at, NULL, '', '', 1, g.at
FROM (
    SELECT y.i, y.rank, y.channel, y.status,
           (CASE WHEN y.channel = 'counter'
                 THEN y.day + time '08:30' + y.u * interval '8 hours 44 minutes 59 seconds'
                 ELSE y.day + make_interval(hours => y.hour) + y.u * interval '59 minutes 59 seconds'
            END) AT TIME ZONE 'Asia/Tokyo' AS at
    FROM (
        SELECT x.i, x.rank, x.channel, x.status, x.hour, x.u, """ + _day_sql() + """ AS day
        FROM (
            SELECT i,
                   LEAST(%(procedures)s, floor(exp(random() * ln(%(procedures)s + 1)))::int) AS rank,
                   CASE WHEN random() < 0.10 THEN 'counter' ELSE 'online' END AS channel,
                   (%(hours)s::int[])[1 + floor(random() * 100)::int] AS hour,
                   random() AS u,
                   %(first)s::date + floor(random() * %(days)s)::int AS d0,
                   (CASE """ + " ".join(f"WHEN s < {cut} THEN '{status}'" for cut, status in STATUS_CUTS) + """
                         ELSE 'completed' END) AS status
            FROM (SELECT i, random() AS s FROM generate_series(1, %(n)s) AS i) AS seeds
        ) x
    ) y
) g
JOIN bench_rank r ON r.rank = g.rank
"""


def _secondary_ddl(cursor) -> tuple[list[str], list[str]]:
    """(drop statements, create statements) for the submissions table's foreign keys,
    unique constraints and indexes other than the primary key."""
    cursor.execute("""
        SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint
        WHERE conrelid = 'applications_submission'::regclass AND contype IN ('f', 'u')
    """)
    constraints = cursor.fetchall()
    cursor.execute("""
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = 'applications_submission'
          AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'applications_submission'::regclass)
    """)
    indexes = cursor.fetchall()
    drops = [f'ALTER TABLE applications_submission DROP CONSTRAINT "{name}"' for name, _d, kind in constraints if kind == "f"]
    drops += [f'ALTER TABLE applications_submission DROP CONSTRAINT "{name}"' for name, _d, kind in constraints if kind == "u"]
    drops += [f'DROP INDEX "{name}"' for name, _d in indexes]
    creates = [definition for _name, definition in indexes]
    creates += [f'ALTER TABLE applications_submission ADD CONSTRAINT "{name}" {d}' for name, d, kind in constraints if kind == "u"]
    creates += [f'ALTER TABLE applications_submission ADD CONSTRAINT "{name}" {d}' for name, d, kind in constraints if kind == "f"]
    return drops, creates


def generate(db_url: str, years: list[int], per_year: int, form_id: int, ranked, seed: int) -> None:
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_rank (rank integer PRIMARY KEY, procedure_id bigint, section_id bigint)")
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO bench_rank VALUES (%s, %s, %s)", ranked)
        conn.execute("ANALYZE bench_rank")
        with conn.cursor() as cursor:
            drops, creates = _secondary_ddl(cursor)
        for statement in drops:
            conn.execute(statement)

    hours = [hour for hour, weight in enumerate(HOUR_PROFILE) for _ in range(weight)]
    assert len(hours) == 100

    def one_year(fy: int) -> float:
        started = time.perf_counter()
        first, last = dt.date(fy, 4, 1), dt.date(fy + 1, 3, 31)
        with psycopg.connect(db_url) as conn:
            conn.execute("SET synchronous_commit = off")
            conn.execute("SELECT setseed(%s)", [((seed * 7919 + fy) % 10_000) / 10_000])
            conn.execute(GENERATE, {
                "fy": fy, "form": form_id, "hash": "0" * 64, "procedures": PROCEDURES, "hours": hours,
                "first": first, "last": last, "days": (last - first).days + 1, "n": per_year,
            })
            conn.commit()
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores: two years at a time
        for fy, seconds in zip(years, pool.map(one_year, years), strict=True):
            print(f"  FY{fy}: {per_year:,} rows in {seconds:.1f} s", flush=True)
    inserted = time.perf_counter() - started
    total = per_year * len(years)
    print(f"insert: {total:,} submissions in {inserted:.1f} s ({total / inserted:,.0f} rows/s)", flush=True)

    started = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        for statement in creates:
            conn.execute(statement)
        conn.execute("DROP TABLE bench_rank")
        conn.execute("VACUUM ANALYZE applications_submission")
    print(f"indexes, constraints, VACUUM ANALYZE: {len(creates)} statements in {time.perf_counter() - started:.1f} s", flush=True)


def report_timer(fiscal_year: int):
    """The callable timed as "the full JSON report", and what it is: what
    `tenohira insights report --fy N --format json` does (build, then json.dumps)."""
    from tenohira.core import calendar
    from tenohira.insights import kpi_afterhours

    try:
        from tenohira.insights import report
    except ModuleNotFoundError:
        report = None
    if report is not None and hasattr(report, "build"):
        def full():
            return json.dumps(report.build(fiscal_year=fiscal_year), ensure_ascii=False, indent=2)
        return full, "tenohira.insights.report.build + json.dumps"

    # Stand-in until the report module exists: after_hours plus the online counts per
    # procedure of the year and the year before, from the same pre-aggregated rows.
    from django.db.models import Sum

    from tenohira.insights.models import DailyApplications

    def stand_in():
        start, end = calendar.fiscal_year_bounds(fiscal_year)
        data = {"after_hours": kpi_afterhours.section(start, end)}
        for fy in (fiscal_year, fiscal_year - 1):
            data[str(fy)] = list(DailyApplications.objects.filter(fiscal_year=fy, channel="online")
                                 .values("procedure_id").annotate(n=Sum("count")))
        return json.dumps(data, ensure_ascii=False, default=str)
    return stand_in, "STAND-IN (no report.build yet): kpi_afterhours.section + online counts of two years"


def timed(function, repeat: int) -> list[float]:
    function()  # warm-up: imports, the calendar's caches, PostgreSQL's buffers
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--years", type=int, default=10, help="fiscal years (default 10)")
    parser.add_argument("--per-year", type=int, default=1_650_000, help="submissions per fiscal year (default 1,650,000)")
    parser.add_argument("--last-fy", type=int, default=2024, help="the last fiscal year generated and reported (default 2024)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database and data directory")
    args = parser.parse_args()

    overall = time.perf_counter()
    years = list(range(args.last_fy - args.years + 1, args.last_fy + 1))
    drop = create_database(args.db_url)
    data_dir = tempfile.mkdtemp(prefix="tenohira-insights-bench-")
    try:
        setup_and_migrate(data_dir, args.db_url)
        rng = random.Random(args.seed)
        started = time.perf_counter()
        form_id, ranked = build_catalog(rng, years)
        print(f"catalog: {len(DEPARTMENTS)} departments, {SECTIONS} sections, {PROCEDURES:,} procedures, "
              f"inventories of FY{years[0]}–FY{years[-1]} in {time.perf_counter() - started:.1f} s", flush=True)

        print(f"generating {args.years} fiscal years × {args.per_year:,} submissions …", flush=True)
        started = time.perf_counter()
        generate(args.db_url, years, args.per_year, form_id, ranked, args.seed)
        generation = time.perf_counter() - started
        print(f"generation total: {generation:.1f} s", flush=True)

        from django.db import connection

        from tenohira.applications.models import Submission
        from tenohira.core import calendar
        from tenohira.insights import aggregates, kpi_afterhours
        from tenohira.insights.models import DailyApplications

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), count(*) FILTER (WHERE status = 'withdrawn') FROM applications_submission")
            submissions, withdrawn = cursor.fetchone()
            cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('applications_submission'))")
            size = cursor.fetchone()[0]
        print(f"submissions: {submissions:,} ({withdrawn:,} withdrawn), table with indexes {size}", flush=True)

        started = time.perf_counter()
        result = aggregates.rebuild()
        rebuild_seconds = time.perf_counter() - started
        daily = DailyApplications.objects.count()
        print(f"aggregates.rebuild(): {rebuild_seconds:.1f} s → {daily:,} DailyApplications rows "
              f"counting {result['applications']:,} applications "
              f"({submissions / max(daily, 1):,.0f} submissions per row)", flush=True)
        assert result["applications"] == submissions - withdrawn == Submission.objects.exclude(status="withdrawn").count()
        fy_rows = DailyApplications.objects.filter(fiscal_year=args.last_fy).count()
        print(f"  FY{args.last_fy}: {fy_rows:,} rows", flush=True)

        start, end = calendar.fiscal_year_bounds(args.last_fy)
        section_times = timed(lambda: kpi_afterhours.section(start, end), args.repeat)
        share = kpi_afterhours.section(start, end)["overall"]
        print(f"after_hours section FY{args.last_fy}: p50 {statistics.median(section_times) * 1000:.0f} ms, "
              f"max {max(section_times) * 1000:.0f} ms ({share['applications']:,} online applications, "
              f"{share['outside_hours']:,} outside office hours = {share['share']} %)", flush=True)

        from tenohira.insights import kpi_plan

        plan_times = timed(lambda: kpi_plan.section(args.last_fy), args.repeat)
        plan = kpi_plan.section(args.last_fy)
        print(f"plan section FY{args.last_fy}: p50 {statistics.median(plan_times) * 1000:.0f} ms, "
              f"max {max(plan_times) * 1000:.0f} ms ({len(plan['years'])} fiscal years × "
              f"{len(plan['years'][0]['departments'])} departments)", flush=True)

        function, what = report_timer(args.last_fy)
        times = timed(function, args.repeat)
        size = len(function().encode())
        p50, worst = statistics.median(times), max(times)
        print(f"full JSON report FY{args.last_fy} ({what}, {size / 1000:,.0f} kB): "
              f"p50 {p50:.3f} s, max {worst:.3f} s over {args.repeat} runs", flush=True)
        print(f"whole bench: {time.perf_counter() - overall:.0f} s")
        print(f"full JSON report < {TARGET_SECONDS:.0f} s: {'PASS' if worst < TARGET_SECONDS else 'FAIL'}")
    finally:
        if args.keep:
            print(f"kept database {args.db_url} and {data_dir}")
        else:
            from django.db import connections

            connections.close_all()
            drop()


if __name__ == "__main__":
    main()
