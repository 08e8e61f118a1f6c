"""Response tallies (申込集計表) over 100,000 responses: the whole tally with a split cross
tabulation, on PostgreSQL (counted in the database) and on SQLite (rows streamed).

    .venv/bin/python bench/tally_bench.py                    # both, 100,000 responses
    .venv/bin/python bench/tally_bench.py --rows 20000 --only postgresql

Each backend runs in its own process (Django is set up once per process) on a throwaway
database: PostgreSQL tenohira_bench_tally (created, migrated, dropped), SQLite in a
temporary data directory. It publishes a 10-question survey in two versions (年代, 性別,
居住地区, はい/いいえ, a multiple choice shown only after はい, a satisfaction question
under the same condition, two numbers, a free text and a date; version 2 adds an option),
inserts `--rows` responses with bulk_create (10 % blanks, hidden questions absent as the
engine stores them, spread over a year, every status), and ANALYZEs. Then, three times
each, the median is printed of:

  baseline   COUNT(*) of the responses in scope (the same filter the tally uses)
  simple     header + every question's tally
  full       header + every question + cross tabulation 満足度 × 性別 split by 年代

with the ratio of each to the baseline measured in the same run, and the target line
`full < 2 s on PostgreSQL: PASS/FAIL`. On PostgreSQL the Python path is timed as well
(method="python") for comparison. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _database import create_database, setup_django

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/tenohira_bench_tally"
TARGET_SECONDS = 2.0
BATCH = 5000
REPEAT = 3

AGES = [(str(n), f"{n}代") for n in (10, 20, 30, 40, 50, 60)] + [("70", "70歳以上")]
GENDERS = [("f", "女性"), ("m", "男性"), ("x", "回答しない")]
DISTRICTS = [(f"d{n}", f"{name}地区") for n, name in enumerate("東西南北中央湖畔山手", start=1)]
PURPOSES = [("book", "本を借りる"), ("study", "自習"), ("event", "催し"), ("wifi", "Wi-Fi"), ("kids", "子どもと")]
SATISFACTION = [("5", "とても満足"), ("4", "満足"), ("3", "ふつう"), ("2", "やや不満"), ("1", "不満")]


def survey(version: int) -> dict:
    def choices(items):
        return [{"value": v, "label": label} for v, label in items]

    satisfaction = SATISFACTION if version == 2 else SATISFACTION[1:]
    return {"title": "図書館利用アンケート", "steps": [
        {"key": "about", "title": "あなたについて", "fields": [
            {"key": "age_group", "type": "choice", "label": "年代", "choices": choices(AGES)},
            {"key": "gender", "type": "choice", "label": "性別", "choices": choices(GENDERS)},
            {"key": "district", "type": "choice", "label": "お住まいの地区", "choices": choices(DISTRICTS)},
        ]},
        {"key": "use", "title": "利用", "fields": [
            {"key": "uses", "type": "yesno", "label": "図書館を利用していますか"},
            {"key": "purposes", "type": "multichoice", "label": "利用する目的", "choices": choices(PURPOSES),
             "show_if": {"field": "uses", "equals": True}},
            {"key": "satisfaction", "type": "choice", "label": "満足度", "choices": choices(satisfaction),
             "show_if": {"field": "uses", "equals": True}},
            {"key": "visits", "type": "number", "label": "昨年の来館回数", "unit": "回"},
            {"key": "minutes", "type": "number", "label": "片道の所要時間", "unit": "分"},
        ]},
        {"key": "more", "title": "ご意見", "fields": [
            {"key": "opinion", "type": "textarea", "label": "ご意見"},
            {"key": "visit_date", "type": "date", "label": "最後に来館した日"},
        ]},
    ]}


def answers(rng: random.Random, version: int) -> dict:
    a: dict = {}

    def maybe(key, value):
        if rng.random() >= 0.1:
            a[key] = value

    maybe("age_group", rng.choice(AGES)[0])
    maybe("gender", rng.choice(GENDERS)[0])
    maybe("district", rng.choice(DISTRICTS)[0])
    maybe("uses", rng.random() < 0.6)
    if a.get("uses") is True:
        chosen = [v for v, _ in PURPOSES if rng.random() < 0.4]
        if chosen:
            a["purposes"] = chosen
        maybe("satisfaction", rng.choice(SATISFACTION if version == 2 else SATISFACTION[1:])[0])
    maybe("visits", rng.randint(0, 60))
    maybe("minutes", rng.choice([5, 10, 15, 20, 30, 45, 60]))
    if rng.random() < 0.3:
        a["opinion"] = "開館時間を延ばしてほしい"
    maybe("visit_date", (dt.date(2024, 4, 1) + dt.timedelta(days=rng.randint(0, 364))).isoformat())
    return a


def timed(function) -> float:
    runs = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        function()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def child(backend: str, rows: int, db_url: str) -> None:
    data_dir = tempfile.mkdtemp(prefix="tally-bench-")
    drop = None
    if backend == "postgresql":
        drop = create_database(db_url)
        setup_django(data_dir, db_url)
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["TENOHIRA_DATA_DIR"] = data_dir
        os.environ["DJANGO_SETTINGS_MODULE"] = "tenohira.config.settings"
        sys.path.insert(0, str(ROOT / "src"))
        import django

        django.setup()
    try:
        run(backend, rows)
    finally:
        if drop is not None:
            from django.db import connections

            connections.close_all()
            drop()


def run(backend: str, rows: int) -> None:
    from zoneinfo import ZoneInfo

    from django.core.management import call_command
    from django.db import connection

    from tenohira.applications.models import Submission
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms.services import publish
    from tenohira.insights import tallies

    call_command("migrate", verbosity=0)
    section = Section.objects.create(department=Department.objects.create(name="教育部"), name="中央図書館")
    procedure = Procedure.objects.create(code="LIBQ", section=section, name="図書館利用アンケート")
    v1, _ = publish(procedure, survey(1))
    v2, _ = publish(procedure, survey(2))
    rng = random.Random(7)
    start = dt.datetime(2024, 4, 1, tzinfo=ZoneInfo("Asia/Tokyo"))
    statuses = ["received"] * 6 + ["under_review", "completed", "withdrawn"]
    began = time.perf_counter()
    for offset in range(0, rows, BATCH):
        batch = []
        for i in range(offset, min(rows, offset + BATCH)):
            version = v1 if i % 4 == 0 else v2
            batch.append(Submission(
                receipt_number=f"2024-LIBQ-{i:07d}", procedure=procedure, section=section, form_version=version,
                answers=answers(rng, version.number), status=rng.choice(statuses), status_secret_hash="x",
                submitted_at=start + dt.timedelta(seconds=rng.randint(0, 365 * 86400)),
            ))
        Submission.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"[{backend}] inserted {rows:,} responses in {time.perf_counter() - began:.1f} s")

    scope = tallies.TallyScope(procedure, dt.date(2024, 4, 1), dt.date(2025, 3, 31))
    in_scope = tallies.submissions_in_scope(scope)
    baseline = timed(lambda: in_scope.count())
    simple = timed(lambda: tallies.compute(scope))
    full = timed(lambda: tallies.compute(scope, cross=("satisfaction", "gender"), split="age_group"))
    result = tallies.compute(scope, cross=("satisfaction", "gender"), split="age_group")
    print(f"[{backend}] responses in scope: {result['header']['responses']:,} (取下げ excluded)")
    print(f"[{backend}] baseline COUNT(*)            {baseline * 1000:8.1f} ms")
    print(f"[{backend}] simple (header + 10 questions) {simple * 1000:6.1f} ms  ({simple / baseline:,.1f} × baseline)")
    print(f"[{backend}] full (+ split cross tab)     {full * 1000:8.1f} ms  ({full / baseline:,.1f} × baseline)")
    if backend == "postgresql":
        python = timed(lambda: tallies.compute(scope, cross=("satisfaction", "gender"), split="age_group",
                                               method="python"))
        same = tallies.compute(scope, cross=("satisfaction", "gender"), split="age_group", method="python")
        print(f"[{backend}] full, Python path (streamed) {python * 1000:7.1f} ms  ({python / full:,.1f} × database path;"
              f" same figures: {same == result})")
        print(f"[{backend}] full < {TARGET_SECONDS:g} s on PostgreSQL: {'PASS' if full < TARGET_SECONDS else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--only", choices=("postgresql", "sqlite"))
    parser.add_argument("--child", choices=("postgresql", "sqlite"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.db_url)
        return
    for backend in [args.only] if args.only else ["postgresql", "sqlite"]:
        subprocess.run([sys.executable, __file__, "--child", backend, "--rows", str(args.rows),
                        "--db-url", args.db_url], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
