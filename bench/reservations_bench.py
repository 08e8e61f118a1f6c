"""Availability search over a year of slots for 500 resources, and bookings per second
under contention, on PostgreSQL.

    .venv/bin/python bench/reservations_bench.py
    .venv/bin/python bench/reservations_bench.py --resources 100 --repeat 100

A throwaway database tenohira_bench_reservations (created, migrated, dropped; see
bench/_database.py) gets `--resources` resources (five kinds, 100 each by default) in 50
facilities, each open on weekdays 9:00–17:00 in 2-hour slots for a year (four slots a
business day, made by the real `services.generate_slots` from an opening rule: about
490,000 slots), a quarter of them already full.

Availability, `--repeat` timed reads each, p50 and p95 printed:

  baseline    one slot by primary key (a round trip to the database)
  search      the resident's search: the resources of one kind matching a word, with their
              free places over the next 31 days (selectors.search, 50 resources at most)
  month       one resource's days with free places in a month (selectors.free_days)
  day         one resource's slots of a day (selectors.day_slots)
  nearest     the nearest free slots to a full one (selectors.alternatives, the refusal's
              「ほかの空き」)

target line: the slowest p95 < 50 ms: PASS/FAIL.

Contention: `--workers` processes book through `services.book` as fast as they can, each
booking one place at a time for a different person:

  spread      every booking in a slot of its own (no two requests touch the same row)
  contended   every booking into the same 10 slots (capacity 100 each: all requests wait
              for the same ten row locks), until they are full; then every further request
              is refused (counted separately)

with bookings per second and the ratio contended / spread. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import random
import statistics
import tempfile
import time

from _database import create_database, setup_django

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/tenohira_bench_reservations"
TARGET_MS = 50.0
KINDS = ["room", "checkup", "class", "childcare", "counter"]
WORDS = ["会議室", "健診", "教室", "一時預かり", "窓口"]


def build(resources: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from tenohira.catalog.models import Department, Section
    from tenohira.core.fiscal import JST
    from tenohira.reservations.models import Facility, OpeningRule, Resource, Slot
    from tenohira.reservations.services import generate_slots

    section = Section.objects.create(department=Department.objects.create(name="市民部"), name="施設予約係")
    facilities = [Facility.objects.create(code=f"f{i}", name=f"地区センター{i}", section=section) for i in range(50)]
    today = timezone.now().astimezone(JST).date()
    started = time.perf_counter()
    for i in range(resources):
        kind = KINDS[i % len(KINDS)]
        resource = Resource.objects.create(
            code=f"r{i}", name=f"{WORDS[i % len(WORDS)]}{i}", facility=facilities[i % 50], section=section,
            kind=kind, keywords=WORDS[i % len(WORDS)], opens_days_ahead=400, closes_hours_before=0,
        )
        OpeningRule.objects.create(resource=resource, weekdays="01234", start=dt.time(9), end=dt.time(17),
                                   slot_minutes=120, capacity=4, valid_from=today)
        generate_slots(resource, today, today + dt.timedelta(days=365))
    with connection.cursor() as cursor:
        # A quarter of the slots full, spread evenly: the reads skip them.
        cursor.execute("UPDATE reservations_slot SET booked = capacity WHERE id % 4 = 0")
        cursor.execute("VACUUM ANALYZE reservations_slot")
    print(f"{Resource.objects.count():,} resources, {Slot.objects.count():,} slots over a year "
          f"written in {time.perf_counter() - started:.0f} s")


def timed(function, repeat: int) -> list[float]:
    for _ in range(3):
        function()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[18]


def availability(repeat: int, seed: int) -> None:
    from django.db.models import F
    from django.utils import timezone

    from tenohira.core.fiscal import JST
    from tenohira.reservations import selectors
    from tenohira.reservations.models import Resource, Slot

    rng = random.Random(seed)
    resource_ids = list(Resource.objects.values_list("pk", flat=True))
    slot_ids = list(Slot.objects.values_list("pk", flat=True)[:50_000])
    full_ids = list(Slot.objects.filter(booked=F("capacity")).values_list("pk", flat=True)[:5000])
    today = timezone.now().astimezone(JST).date()

    def baseline():
        Slot.objects.get(pk=rng.choice(slot_ids))

    def search():
        i = rng.randrange(len(KINDS))
        found = selectors.search(WORDS[i], KINDS[i], start=today + dt.timedelta(days=rng.randrange(330)))
        assert found

    def month():
        resource = Resource.objects.get(pk=rng.choice(resource_ids))
        first = (today + dt.timedelta(days=rng.randrange(330))).replace(day=1)
        selectors.free_days(resource, first, first + dt.timedelta(days=30))

    def day():
        resource = Resource.objects.get(pk=rng.choice(resource_ids))
        selectors.day_slots(resource, today + dt.timedelta(days=rng.randrange(360)))

    def nearest():
        slot = Slot.objects.select_related("resource").get(pk=rng.choice(full_ids))
        selectors.alternatives(slot)

    results = {name: timed(fn, repeat) for name, fn in
               (("baseline", baseline), ("search", search), ("month", month), ("day", day), ("nearest", nearest))}
    base = p95(results["baseline"])
    print(f"{'read':<10}{'p50 ms':>10}{'p95 ms':>10}{'p95 / baseline':>16}")
    for name, times in results.items():
        print(f"{name:<10}{statistics.median(times):>10.2f}{p95(times):>10.2f}{p95(times) / base:>16.1f}")
    worst = max(p95(t) for n, t in results.items() if n != "baseline")
    print(f"target: slowest p95 {worst:.1f} ms < {TARGET_MS:.0f} ms: {'PASS' if worst < TARGET_MS else 'FAIL'}")


def _book_many(args) -> tuple[int, int, float]:
    db_url, data_dir, slot_ids, worker, per_worker = args
    setup_django(data_dir, db_url)
    from django.db import connection

    from tenohira.reservations import services
    from tenohira.reservations.errors import SlotFull

    booked = refused = 0
    started = time.perf_counter()
    for n in range(per_worker):
        slot_id = slot_ids[n % len(slot_ids)]
        person = services.Person(name=f"予約 {worker}-{n}", email=f"w{worker}n{n}@example.jp")
        try:
            services.book(services.Request(slot_id=slot_id, person=person, channel="counter"))
            booked += 1
        except SlotFull:
            refused += 1
    elapsed = time.perf_counter() - started
    connection.close()
    return booked, refused, elapsed


def contention(db_url: str, data_dir: str, workers: int, per_worker: int) -> None:
    from django.db import connections
    from django.utils import timezone

    from tenohira.catalog.models import Section
    from tenohira.reservations.models import Facility, Resource, Slot

    section = Section.objects.first()
    facility = Facility.objects.first()
    start = timezone.now() + dt.timedelta(days=2)

    def slots(code: str, count: int, capacity: int) -> list[int]:
        resource = Resource.objects.create(code=code, name=code, facility=facility, section=section, kind="room",
                                           closes_hours_before=0, opens_days_ahead=400, max_active_per_person=10**6)
        made = Slot.objects.bulk_create([
            Slot(resource=resource, starts_at=start + dt.timedelta(minutes=5 * i),
                 ends_at=start + dt.timedelta(minutes=5 * i + 5), capacity=capacity) for i in range(count)
        ])
        return [s.pk for s in made]

    total = workers * per_worker
    spread = slots("spread", total, 1)
    hot = slots("hot", 10, 100)
    connections.close_all()
    rows = []
    for name, ids in (("spread", None), ("contended", hot)):
        jobs = []
        for w in range(workers):
            mine = spread[w * per_worker:(w + 1) * per_worker] if ids is None else ids
            jobs.append((db_url, data_dir, mine, w, per_worker))
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            started = time.perf_counter()
            results = pool.map(_book_many, jobs)
            wall = time.perf_counter() - started
        booked = sum(r[0] for r in results)
        refused = sum(r[1] for r in results)
        busy = max(r[2] for r in results)
        rows.append((name, booked, refused, busy, wall))
    print(f"{'run':<11}{'booked':>8}{'refused':>9}{'requests/s':>12}{'bookings/s':>12}")
    for name, booked, refused, busy, _wall in rows:
        print(f"{name:<11}{booked:>8}{refused:>9}{(booked + refused) / busy:>12.0f}{booked / busy:>12.0f}")
    hot_total = Slot.objects.filter(pk__in=hot).values_list("booked", flat=True)
    print(f"the 10 contended slots hold {sum(hot_total)} bookings (capacity {10 * 100}): "
          f"{'never overbooked' if sum(hot_total) <= 1000 else 'OVERBOOKED'}")
    spread_rate = (rows[0][1] + rows[0][2]) / rows[0][3]
    contended_rate = (rows[1][1] + rows[1][2]) / rows[1][3]
    print(f"ratio contended / spread (requests per second): {contended_rate / spread_rate:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--per-worker", type=int, default=400)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    args = parser.parse_args()
    drop = create_database(args.db_url)
    with tempfile.TemporaryDirectory() as data_dir:
        setup_django(data_dir, args.db_url)
        try:
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            build(args.resources)
            availability(args.repeat, args.seed)
            contention(args.db_url, data_dir, args.workers, args.per_worker)
        finally:
            from django.db import connections

            connections.close_all()
            drop()


if __name__ == "__main__":
    main()
