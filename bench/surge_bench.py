"""Whole resident flows per second through several `tenohira serve` nodes (a deadline-day surge).

    .venv/bin/python bench/surge_bench.py                          # 2 nodes × 1 web process, PostgreSQL
    .venv/bin/python bench/surge_bench.py --nodes 2 --web 4 --clients 24 --flows 2000

What runs: a throwaway PostgreSQL database (created, migrated once, dropped at the end), the
demo form 粗大ごみ収集の申込 (forms/demo/SDG.json: four steps, 本人確認 不要) published, and M
real `tenohira serve` nodes (--nodes, default 2) with --web gunicorn web processes in total
(default 2, spread over the nodes), each node a process tree of its own with its own data
directory, sharing the database, SECRET_KEY, the audit key and ATTACHMENTS_DIR
(tests/support/cluster.py). No sticky sessions: each request of a flow goes to the next
node in turn.

One whole flow is what a resident's phone sends: GET the start page, POST 申請を始める,
for each of the four steps GET the page and POST the answers, GET the check page, POST 送信,
GET the done page: 13 requests, every form token taken from the page as a browser does.

Measured: --clients concurrent residents (threads with a raw-socket HTTP client) walk
--flows whole flows after a warm-up. Printed: flows/s and requests/s, p50/p99 per request
kind (nearest rank, queueing included), and the CPU per flow split into web (gunicorn
masters and web processes), worker (the nodes' e-mail workers and any background worker)
and PostgreSQL (every postgres process on the machine), read from /proc before and after.
Baseline, same run, same nodes and clients: the trivial view (GET
/api/v1/postal-codes/9638601: no database, no template, no session) for as long as the
flows took; the ratio says how many trivial requests one whole flow costs. Afterwards the
database must hold exactly one submission per flow (and the warm-up's).

Figures are printed, never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._database import create_database  # noqa: E402
from tests.support.cluster import (  # noqa: E402
    READY_PATH,
    Cluster,
    FlowFailed,
    HttpClient,
    ResidentFlow,
    sdg_answers,
)

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/tenohira_bench_surge"
TARGET_FLOWS = 100
CODE = "SDG"
KINDS = ["start", "begin", "step GET", "step POST", "check", "submit", "done"]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class Run:
    def __init__(self):
        self.lock = threading.Lock()
        self.timings: list[tuple[str, float]] = []
        self.flows = 0
        self.failures: list[str] = []
        self.public_ids: list[str] = []
        self.wall = 0.0
        self.cpu: dict[str, float] = {}
        self.client_cpu = 0.0


def measure(cluster: Cluster, clients: int, work) -> Run:
    run = Run()
    barrier = threading.Barrier(clients + 1)

    def thread(index: int):
        barrier.wait()
        work(index, run)

    threads = [threading.Thread(target=thread, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    before = cluster.cpu_snapshot()
    client_before = time.process_time()
    began = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    run.wall = time.perf_counter() - began
    run.client_cpu = time.process_time() - client_before
    run.cpu = cluster.cpu_used(before, cluster.cpu_snapshot())
    return run


def flows(cluster: Cluster, clients: int, count: int, first: int) -> Run:
    numbers = itertools.count(first)
    last = first + count
    ports = cluster.ports

    def work(index: int, run: Run):
        while (i := next(numbers)) < last:
            flow = ResidentFlow(ports, CODE, sdg_answers(i), offset=i)
            try:
                public_id = flow.run()
            except (FlowFailed, OSError) as exc:
                with run.lock:
                    run.failures.append(str(exc)[:200])
                continue
            with run.lock:
                run.flows += 1
                run.public_ids.append(public_id)
                run.timings.extend(flow.timings)

    return measure(cluster, clients, work)


def trivial(cluster: Cluster, clients: int, seconds: float) -> Run:
    deadline = time.perf_counter() + seconds
    ports = cluster.ports

    def work(index: int, run: Run):
        mine = []
        for turn in itertools.count(index):
            if time.perf_counter() >= deadline:
                break
            began = time.perf_counter()
            try:
                status = HttpClient(ports[turn % len(ports)]).get(READY_PATH).status
            except OSError as exc:
                status = str(exc)
            if status == 200:
                mine.append(("trivial", time.perf_counter() - began))
            else:
                with run.lock:
                    run.failures.append(f"trivial: {status}")
        with run.lock:
            run.timings.extend(mine)
            run.flows += len(mine)

    return measure(cluster, clients, work)


def count_submissions(db_url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(db_url) as conn:
        total, receipts = conn.execute(
            "SELECT count(*), count(DISTINCT receipt_number) FROM applications_submission").fetchone()
    return total, receipts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--nodes", type=int, default=2, help="tenohira serve nodes (default 2)")
    parser.add_argument("--web", type=int, default=2, help="web processes in total, spread over the nodes (default 2)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent residents (default 16)")
    parser.add_argument("--flows", type=int, default=1500, help="whole flows measured (default 1,500)")
    parser.add_argument("--warmup", type=int, default=60, help="whole flows before measuring (default 60)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories and the database")
    args = parser.parse_args()
    if args.web < args.nodes:
        sys.exit("--web must be at least --nodes (each node runs at least one web process)")

    drop = create_database(args.db_url)
    workdir = Path(tempfile.mkdtemp(prefix="tenohira-surge-"))
    per_node = spread(args.web, args.nodes)
    if len(set(per_node)) > 1:
        print(f"note: web processes per node {per_node}; the cluster helper starts them evenly, using {max(per_node)}")
    cluster = Cluster(args.db_url, workdir, nodes=args.nodes, web_per_node=max(per_node))
    try:
        print(f"machine: {os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}; "
              f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"setup: {args.nodes} nodes × {cluster.web_per_node} web processes = "
              f"{args.nodes * cluster.web_per_node} in total, {args.clients} clients, form {CODE} "
              f"(4 steps, 13 requests per flow), PostgreSQL {args.db_url.rsplit('/', 1)[-1]}")
        cluster.migrate()
        cluster.publish_demo_form(CODE)
        cluster.start(migrate=False)

        warm = flows(cluster, min(args.clients, 8), args.warmup, 0)
        if warm.failures:
            print(f"warm-up failures ({len(warm.failures)}): {warm.failures[:3]}")
            if not warm.flows:
                sys.exit("no flow went through: see the node logs in " + str(workdir))

        run = flows(cluster, args.clients, args.flows, args.warmup)
        base = trivial(cluster, args.clients, run.wall)

        rate = run.flows / run.wall
        requests = len(run.timings)
        print()
        print(f"whole flows: {run.flows} in {run.wall:.2f} s = {rate:.1f} flows/s "
              f"({requests / run.wall:.0f} requests/s); failed flows: {len(run.failures)}")
        for failure in run.failures[:5]:
            print(f"  {failure}")
        print(f"  {'request':10} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}")
        by_kind: dict[str, list[float]] = {}
        for kind, seconds in run.timings:
            by_kind.setdefault(kind, []).append(seconds)
        for kind in KINDS:
            values = by_kind.get(kind, [])
            print(f"  {kind:10} {len(values):>7} {percentile(values, 50) * 1000:>8.1f} {percentile(values, 99) * 1000:>8.1f}")
        every = [s for _, s in run.timings]
        print(f"  {'all':10} {len(every):>7} {percentile(every, 50) * 1000:>8.1f} {percentile(every, 99) * 1000:>8.1f}")
        flow_cpu = {kind: seconds / max(run.flows, 1) * 1000 for kind, seconds in run.cpu.items()}
        total_cpu = sum(flow_cpu.values())
        print(f"CPU per whole flow: web {flow_cpu['web']:.1f} ms, worker {flow_cpu['worker']:.1f} ms, "
              f"PostgreSQL {flow_cpu['db']:.1f} ms = {total_cpu:.1f} ms "
              f"(client {run.client_cpu / max(run.flows, 1) * 1000:.1f} ms, not counted)")
        print(f"cores used: web {run.cpu['web'] / run.wall:.2f}, worker {run.cpu['worker'] / run.wall:.2f}, "
              f"PostgreSQL {run.cpu['db'] / run.wall:.2f}, client {run.client_cpu / run.wall:.2f}")
        trivial_rate = base.flows / base.wall
        trivial_times = [s for _, s in base.timings]
        print(f"baseline, trivial view through the same nodes: {trivial_rate:.0f} requests/s "
              f"(p50 {percentile(trivial_times, 50) * 1000:.1f} ms, "
              f"web CPU {base.cpu['web'] / max(base.flows, 1) * 1000:.2f} ms per request)")
        print(f"ratio: one whole flow costs {trivial_rate / rate:.1f} trivial requests "
              f"(flows/s ÷ trivial requests/s = {rate / trivial_rate:.4f})")

        total, receipts = count_submissions(args.db_url)
        expected = warm.flows + run.flows
        verdict = "ok" if total == receipts == expected else "MISMATCH"
        print(f"check in the database: {total} submissions, {receipts} receipt numbers, "
              f"{expected} flows completed: {verdict}")
        print(f"≥ {TARGET_FLOWS} whole flows/s with {args.nodes * cluster.web_per_node} web processes: "
              f"{'PASS' if rate >= TARGET_FLOWS else 'FAIL'} ({rate:.1f}/s; "
              f"{1000 / total_cpu if total_cpu else 0:.0f} flows per second per core of CPU, all processes)")
    finally:
        cluster.stop()
        if args.keep:
            print(f"kept {workdir} and the database")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            drop()


if __name__ == "__main__":
    main()
