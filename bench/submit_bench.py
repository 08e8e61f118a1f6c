"""Submissions per second of a 20-field form, end to end through the production server.

    .venv/bin/python bench/submit_bench.py                      # PostgreSQL, defaults below
    .venv/bin/python bench/submit_bench.py --rounds 5 --drafts 3000 --clients 32 --workers 4

What runs: a throwaway PostgreSQL database (created, migrated, dropped at the end), a
procedure with a realistic 20-field one-step form published through forms.services, and
the real production server as a subprocess: `tenohira serve` (gunicorn, sync workers, and
the e-mail delivery worker `tenohira outbox work` that it starts as its child). R × N
drafts are filled through the services (start_draft + save_step with what a browser
posts: that is setup), and each draft's check page is fetched over HTTP once to get the
CSRF cookie and form token, exactly as a browser does before pressing 送信.

What is measured, R rounds (--rounds, default 3) of: C concurrent clients POST
/apply/<id>/check/ with the draft's owner cookie and CSRF token, each of the round's N
drafts once, and expect 302 → /apply/<id>/done/. That is the whole submission: CSRF, the
answers recomputed, and two short transactions - the draft read under a row lock (with
the ownership check) and its receipt number reserved on it, then the submission, its
first version, its first event and the confirmation e-mail written in one statement,
with the day's count. The e-mail is sent by the delivery worker in batches; being a child
of the server process, its CPU is counted in the server's. After each round the outbox
must be empty and hold every confirmation so far (the lag after the round's last
submission is printed). Then the same clients call a trivial view on the same server for
as long as the round's submissions took (GET /api/v1/postal-codes/9638601: the cheapest
Django view there is - no database, no template, no session - a dict lookup and a small
JSON response), so the ratio shows what a submission costs next to the floor of the stack
(gunicorn, WSGI, middleware, URL routing). The summary takes the median of the rounds
(on a shared machine single runs of the same code differ widely), pools the
latencies of all rounds, and judges the target on the median. Afterwards the database
must hold exactly R × N submissions with R × N distinct receipt numbers and drafts.

The load generator is threads with a raw-socket HTTP client (gunicorn's sync workers
close the connection after each response, as behind a proxy, so each request opens a
connection). Its own CPU time is printed with the server's and PostgreSQL's: on a 2-core
machine they share the cores, and the figures say how much of them each took.

Also printed: the weight of a step page of the form (HTML + CSS + JS as transferred, no
fonts) against the 50 KB target, and - when the median is below the target, or with
--profile always - the SQL one submission sends and a py-spy profile of the whole server
(master, web workers and e-mail worker: --subprocesses, 500 samples/s, --gil) during more
submissions (`.venv/bin/pip install py-spy`; without it, cProfile in this process).

Figures are printed, never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import datetime as dt
import gzip
import itertools
import math
import os
import pstats
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/tenohira_bench_submit"
TARGET_PER_SECOND = 300
PAGE_TARGET_KB = 50
CODE = "BSB"
STEP = "application"
TRIVIAL_PATH = "/api/v1/postal-codes/9638601"
OWNER_COOKIE = "tnh_draft"  # applications.views.OWNER_COOKIE

# A 20-field one-step form shaped like a real municipal application (補助金の交付申請):
# every common field type, a condition, a computed fee and a consent.
FORM = {
    "title": "住宅用太陽光発電システム設置費補助金の交付申請",
    "intro": "市内の住宅に太陽光発電システムを設置した方への補助金の申請です。",
    "you_need": ["設置工事の領収書", "振込先の口座"],
    "minutes": 10,
    "email_field": "email",
    "steps": [
        {
            "key": STEP,
            "title": "申請者と設置の内容",
            "fields": [
                {"key": "guidance", "type": "guidance", "text": "補助金は予算の範囲内で、先着順に交付します。"},
                {"key": "applicant", "type": "name", "label": "申請者の氏名", "required": True},
                {"key": "birth_date", "type": "date", "label": "生年月日", "not_future": True, "required": True},
                {"key": "address", "type": "address", "label": "住所", "required": True},
                {"key": "phone", "type": "phone", "label": "電話番号", "required": True},
                {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
                {"key": "household", "type": "number", "label": "世帯の人数", "min": 1, "max": 20, "unit": "人", "required": True},
                {"key": "ownership", "type": "choice", "label": "住宅の所有", "required": True, "choices": [
                    {"value": "own", "label": "本人所有"}, {"value": "family", "label": "家族所有"},
                    {"value": "other", "label": "その他"}]},
                {"key": "building", "type": "choice", "label": "住宅の種類", "required": True, "choices": [
                    {"value": "detached", "label": "戸建て"}, {"value": "apartment", "label": "集合住宅"}]},
                {"key": "equipment", "type": "multichoice", "label": "設置した設備", "min": 1, "required": True, "choices": [
                    {"value": "pv", "label": "太陽光発電"}, {"value": "battery", "label": "蓄電池"},
                    {"value": "hems", "label": "HEMS"}, {"value": "ev", "label": "V2H"}]},
                {"key": "output_kw", "type": "number", "label": "太陽電池の最大出力", "min": 1, "max": 50, "integer": False,
                 "unit": "kW", "required": True},
                {"key": "installed_on", "type": "date", "label": "設置完了日", "not_future": True, "required": True},
                {"key": "contractor", "type": "text", "label": "施工業者名", "max_length": 100, "required": True},
                {"key": "cost", "type": "number", "label": "設置費用（税込）", "min": 1, "unit": "円", "required": True},
                {"key": "subsidised_before", "type": "yesno", "label": "以前にこの補助金を受けたことがありますか", "required": True},
                {"key": "previous_year", "type": "number", "label": "前回の交付年度", "min": 2000, "max": 2100,
                 "required": True, "show_if": {"field": "subsidised_before", "equals": True}},
                {"key": "bank_account", "type": "text", "label": "振込先（金融機関・支店・口座番号）", "max_length": 120,
                 "required": True},
                {"key": "copies", "type": "number", "label": "交付決定通知書の写しの部数", "min": 0, "max": 5,
                 "unit": "部", "required": True},
                {"key": "fee", "type": "computed", "label": "写しの手数料", "format": "yen",
                 "expression": {"mul": [{"field": "copies"}, 300]}},
                {"key": "notes", "type": "textarea", "label": "補足", "max_length": 1000},
                {"key": "consent", "type": "consent", "label": "記載内容に誤りがなく、市税の納付状況の確認に同意します",
                 "required": True},
            ],
        }
    ],
}

FAMILY = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
GIVEN = [("翔太", "ショウタ"), ("美咲", "みさき"), ("大輔", "ダイスケ"), ("陽子", "ようこ"), ("健一", "ケンイチ")]
FAMILY_KANA = ["サトウ", "スズキ", "タカハシ", "タナカ", "イトウ", "ワタナベ", "ヤマモト", "ナカムラ", "コバヤシ", "カトウ"]


def raw_answers(i: int) -> dict[str, list[str]]:
    """What a browser posts for the step, varied per draft (full-width digits and 和暦 too)."""
    given, given_kana = GIVEN[i % len(GIVEN)]
    return {
        "applicant__family": [FAMILY[i % len(FAMILY)]], "applicant__given": [given],
        "applicant__family_kana": [FAMILY_KANA[i % len(FAMILY)]], "applicant__given_kana": [given_kana],
        "birth_date": ["昭和55年4月1日" if i % 2 else "1985-10-23"],
        "address__postal_code": ["963-8601"], "address__prefecture": ["福島県"], "address__city": ["郡山市"],
        "address__town": ["朝日"], "address__street": [f"{1 + i % 9}-{1 + i % 30}-{1 + i % 12}"],
        "address__building": ["" if i % 3 else "サンプルハイツ101"],
        "phone": ["０９０－１２３４－５６７８" if i % 2 else "024-924-2111"],
        "email": [f"resident{i}@example.jp"], "household": [str(1 + i % 6)], "ownership": ["own"],
        "building": ["detached"], "equipment": ["pv", "battery"] if i % 2 else ["pv"],
        "output_kw": ["5.5"], "installed_on": ["令和6年3月15日"], "contractor": ["株式会社サンプル電工"],
        "cost": ["1,280,000"], "subsidised_before": ["no" if i % 4 else "yes"],
        "previous_year": ["2019" if i % 4 == 0 else ""],
        "bank_account": ["サンプル銀行 本店 普通 1234567"], "copies": [str(i % 3)],
        "notes": ["" if i % 5 else "南向きの屋根に設置しました。\n蓄電池は来年設置予定です。"],
        "consent": ["yes"],
    }


# --- the database ----------------------------------------------------------------------


def _with_dbname(url: str, name: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path="/" + name))


def prepare_database(url: str, workdir: Path) -> tuple[str, bool, callable]:
    """(database URL to use, is PostgreSQL, cleanup). Creates the PostgreSQL database;
    falls back to SQLite in the work directory when PostgreSQL cannot be reached."""
    import psycopg
    from psycopg import sql

    name = urlparse(url).path.lstrip("/")
    admin_url = _with_dbname(url, "postgres")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"!! PostgreSQL is not reachable at {admin_url} ({first_line}).")
        print("!! Falling back to the embedded SQLite database: the figures below are NOT the")
        print("!! PostgreSQL figures the target is about (SQLite serialises every writer).")
        return f"sqlite:///{workdir / 'bench.sqlite3'}", False, lambda: None
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            if not name.startswith("tenohira_bench"):
                sys.exit(f"database {name} already exists; give an unused name (it is created and dropped here)")
            print(f"dropping the leftover database {name} of an earlier run")
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop():
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        print(f"dropped database {name}")

    return url, True, drop


def setup_django(data_dir: Path, db_url: str) -> None:
    os.environ["TENOHIRA_DATA_DIR"] = str(data_dir)
    os.environ["DATABASE_URL"] = db_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tenohira.config.settings"
    os.environ.pop("TENOHIRA_DEMO", None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def publish_form():
    from tenohira.catalog.models import Channel, Department, Procedure, ProcedureChannel, Section
    from tenohira.forms.services import publish

    department, _ = Department.objects.get_or_create(name="環境部")
    section, _ = Section.objects.get_or_create(department=department, name="ゼロカーボン推進課")
    procedure = Procedure.objects.create(
        code=CODE, section=section, name=FORM["title"], processing_days=30
    )
    ProcedureChannel.objects.create(procedure=procedure, kind=Channel.PLATFORM)
    version, _ = publish(procedure, FORM)
    fields = [f for f in FORM["steps"][0]["fields"] if f["type"] != "guidance"]
    assert len(fields) == 20, len(fields)
    return version


def make_drafts(version, n: int) -> list[tuple[str, str]]:
    """N complete drafts, as (public id, owner secret), through the services."""
    from tenohira.applications import services

    step = version.parsed().step(STEP)
    drafts = []
    for i in range(n):
        draft, secret = services.start_draft(version)
        run, problems = services.save_step(draft, step, raw_answers(i), {}, [])
        if i == 0 and (not run.complete or problems):
            sys.exit(f"the generated answers do not complete the form: {run.outcomes[STEP].problems} {problems}")
        drafts.append((str(draft.public_id), secret))
    return drafts


# --- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int, log: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "tenohira"), "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]
    env = {**os.environ}
    server = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited ({server.returncode}); see {log}:\n{log.read_text()[-2000:]}")
        try:
            if Client(port).get(TRIVIAL_PATH).status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.terminate()
    sys.exit(f"the server did not answer within 60 s; see {log}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)  # gunicorn stops its workers gracefully
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --- the load generator ----------------------------------------------------------------


class Response:
    def __init__(self, head: bytes, body: bytes):
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1])
        self.headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
        self.head_size = len(head) + 4  # with the blank line
        self.body = body

    def header(self, name: str) -> str:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values)


class Client:
    """A minimal HTTP/1.1 client on a raw socket: the request is written in one call and the
    response read whole (gunicorn's sync workers close the connection after each response;
    a keep-alive answer is read by its Content-Length). Much cheaper than http.client,
    so that the load generator takes little of the CPU the server needs."""

    def __init__(self, port: int):
        self.port = port
        self.host = f"127.0.0.1:{port}".encode()
        self.sock: socket.socket | None = None

    def request(self, method: str, path: str, headers: dict | None = None, body: bytes = b"") -> Response:
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host]
        lines += [f"{k}: {v}".encode() for k, v in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}".encode())
        payload = b"\r\n".join(lines) + b"\r\n\r\n" + body
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        self.sock.sendall(payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed before the response headers: {data[:200]!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        response = Response(head, b"")
        length = response.header("Content-Length")
        keep = response.header("Connection").lower() != "close" and length
        chunks = [rest]
        received = len(rest)
        while not (length and received >= int(length)):
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        response.body = b"".join(chunks)
        if not keep:
            self.close()
        return response

    def get(self, path: str, headers: dict | None = None) -> Response:
        return self.request("GET", path, headers)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0
    client_cpu: float = 0.0
    server_user: float = 0.0
    server_sys: float = 0.0
    db_cpu: float = 0.0
    mail_cpu: float = 0.0  # the e-mail delivery worker's share of the server's CPU

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.done / self.wall if self.wall else 0.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[str, int, float, float] | None:
    """(command name, parent pid, user CPU seconds, system CPU seconds), from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1: text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return name, int(fields[1]), int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def _is_mail_worker(pid: int) -> bool:
    try:
        return b"outbox\x00work" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def cpu_snapshot(server_pid: int) -> dict[int, tuple[str, float, float]]:
    """CPU seconds used so far, per process: {pid: (kind, user, kernel)}, kind "server"
    (gunicorn master and web workers), "mail" (the e-mail delivery worker, also a child
    of the server) or "db" (every PostgreSQL process: the server may be shared, see the
    note)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        stat = _proc_stat(pid)
        if stat is None:
            continue
        name, ppid, utime, stime = stat
        if pid == server_pid or ppid == server_pid:
            table[pid] = ("mail" if _is_mail_worker(pid) else "server", utime, stime)
        elif name.startswith("postgres") or name.startswith("postmaster"):
            table[pid] = ("db", utime, stime)
    return table


def cpu_used(before: dict, after: dict) -> tuple[float, float, float, float]:
    """(server user, server kernel, PostgreSQL, e-mail worker) CPU seconds between two
    snapshots, process by process: a process that started in between counts whole, one
    that ended in between is missing from both sums (its CPU is lost, not subtracted)."""
    user = system = database = mail = 0.0
    for pid, (kind, utime, stime) in after.items():
        old = before.get(pid)
        if old is not None and old[0] == kind:
            utime, stime = utime - old[1], stime - old[2]
        if kind == "db":
            database += utime + stime
            continue
        user += utime
        system += stime
        if kind == "mail":
            mail += utime + stime
    return user, system, database, mail


def run_phase(port: int, clients: int, server_pid: int, work) -> Phase:
    """Run `work(client, phase, lock)` in `clients` threads; measure wall time and CPU."""
    phase = Phase()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def worker():
        client = Client(port)
        start.wait()
        try:
            work(client, phase, lock)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    before = cpu_snapshot(server_pid)
    cpu_before = time.process_time()
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    phase.wall = time.perf_counter() - began
    phase.client_cpu = time.process_time() - cpu_before
    phase.server_user, phase.server_sys, phase.db_cpu, phase.mail_cpu = cpu_used(before, cpu_snapshot(server_pid))
    return phase


CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def fetch_csrf(port: int, clients: int, server_pid: int, drafts: list[tuple[str, str]]) -> tuple[list, Phase]:
    """GET each draft's check page (as a browser does before 送信): CSRF cookie + token."""
    tokens: list = [None] * len(drafts)
    counter = itertools.count()

    def work(client: Client, phase: Phase, lock):
        while (i := next(counter)) < len(drafts):
            public_id, secret = drafts[i]
            began = time.perf_counter()
            try:
                response = client.get(f"/apply/{public_id}/check/", {"Cookie": f"{OWNER_COOKIE}={secret}"})
            except OSError as exc:
                client.close()
                with lock:
                    phase.failures.append(f"GET check {public_id}: {exc}")
                continue
            elapsed = time.perf_counter() - began
            status = response.status
            cookie = re.search(r"csrftoken=([^;]+)", response.header("Set-Cookie"))
            form_token = CSRF_INPUT.search(response.body)
            with lock:
                if status != 200 or not cookie or not form_token:
                    phase.failures.append(f"GET check {public_id}: {status}")
                    continue
                tokens[i] = (cookie.group(1), form_token.group(1).decode())
                phase.latencies.append(elapsed)

    phase = run_phase(port, clients, server_pid, work)
    return tokens, phase


def submit_all(port: int, clients: int, server_pid: int, drafts, tokens) -> Phase:
    counter = itertools.count()
    origin = f"http://127.0.0.1:{port}"

    def work(client: Client, phase: Phase, lock):
        while (i := next(counter)) < len(drafts):
            public_id, secret = drafts[i]
            csrf_cookie, form_token = tokens[i]
            body = f"csrfmiddlewaretoken={form_token}".encode()
            headers = {
                "Cookie": f"{OWNER_COOKIE}={secret}; csrftoken={csrf_cookie}",
                "Content-Type": "application/x-www-form-urlencoded", "Origin": origin,
                "Referer": f"{origin}/apply/{public_id}/check/",
            }
            began = time.perf_counter()
            try:
                response = client.request("POST", f"/apply/{public_id}/check/", headers, body)
            except OSError as exc:
                client.close()
                with lock:
                    phase.failures.append(f"POST {public_id}: {exc}")
                continue
            elapsed = time.perf_counter() - began
            status, location = response.status, response.header("Location")
            with lock:
                if status == 302 and location == f"/apply/{public_id}/done/":
                    phase.latencies.append(elapsed)
                else:
                    phase.failures.append(f"POST {public_id}: {status} {location}")

    return run_phase(port, clients, server_pid, work)


def hammer(port: int, clients: int, server_pid: int, path: str, seconds: float) -> Phase:
    deadline = time.perf_counter() + seconds

    def work(client: Client, phase: Phase, lock):
        mine = []
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                status = client.get(path).status
            except OSError as exc:
                client.close()
                status = str(exc)
            elapsed = time.perf_counter() - began
            if status == 200:
                mine.append(elapsed)
            else:
                with lock:
                    phase.failures.append(f"GET {path}: {status}")
        with lock:
            phase.latencies.extend(mine)

    return run_phase(port, clients, server_pid, work)


# --- page weight -----------------------------------------------------------------------


def page_weight(port: int, public_id: str, secret: str) -> None:
    """A step page of the form, its stylesheets and scripts (no fonts), as transferred."""
    client = Client(port)
    accept = {"Accept-Encoding": "gzip, deflate, br"}
    response = client.get(f"/apply/{public_id}/{STEP}/", {**accept, "Cookie": f"{OWNER_COOKIE}={secret}"})
    if response.status != 200:
        print(f"  the step page answered {response.status}")
        return
    resources = [("HTML", f"/apply/{public_id}/{STEP}/", response)]
    html = response.body
    page = html if response.header("Content-Encoding") != "gzip" else gzip.decompress(html)
    css = re.findall(rb'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', page)
    js = re.findall(rb'<script[^>]+src="([^"]+)"', page)
    for kind, urls in (("CSS", css), ("JS", js)):
        for url in urls:
            path = url.decode()
            resources.append((kind, path, client.get(path, accept)))
    client.close()

    total_raw = total_body = total_wire = total_gzip = 0
    print(f"  {'':4} {'raw':>9} {'sent':>9} {'+headers':>9} {'gzip -6':>9}  encoding  path")
    for kind, path, response in resources:
        body = response.body
        encoding = response.header("Content-Encoding") or "none"
        raw = gzip.decompress(body) if encoding == "gzip" else body
        if encoding not in {"none", "gzip"}:
            raw = body  # reported as sent; only gzip is decoded here
        headers = response.head_size
        compressed = len(gzip.compress(raw, 6))
        total_raw += len(raw)
        total_body += len(body)
        total_wire += len(body) + headers
        total_gzip += compressed
        fonts = re.findall(rb"url\(([^)]+\.(?:woff2?|ttf|otf))", raw) if kind == "CSS" else []
        note = f"  (fonts referenced, excluded: {len(fonts)})" if fonts else ""
        print(f"  {kind:4} {len(raw):>9,} {len(body):>9,} {len(body) + headers:>9,} {compressed:>9,}  {encoding:8}  {path}{note}")
    print(f"  {'sum':4} {total_raw:>9,} {total_body:>9,} {total_wire:>9,} {total_gzip:>9,}")
    print(f"form page total: {total_wire / 1000:.1f} KB (target < {PAGE_TARGET_KB} KB)"
          f"  [as transferred incl. response headers, 1 KB = 1,000 bytes; raw {total_raw / 1000:.1f} KB;"
          f" behind a proxy that gzips: {total_gzip / 1000:.1f} KB]")


# --- profile ---------------------------------------------------------------------------

PROFILE_RATE = 500  # samples per second and process

# Where the server's time goes: inclusive share of the samples py-spy took of the whole
# server (gunicorn master, web workers, e-mail delivery worker) while a process held the
# GIL (--gil: running Python, not waiting for PostgreSQL or the network; py-spy's own idle
# detection counted psycopg's waits as busy). On a machine with more runnable processes
# than cores, a process that holds the GIL is also sampled while it waits for a core, so
# the samples add up to more than the CPU time /proc reports, and a process that runs in
# long bursts (the e-mail worker) gets a larger share of samples than of CPU: the profile
# prints both per process. A needle is "path:function" (the function may be a method,
# "Class.function" in py-spy's frames) or a path fragment. Indented rows are inside the
# row above.
KEY_FRAMES = [
    ("gunicorn: parsing the request, writing the response (gunicorn/http/)", ("gunicorn/http/",)),
    ("gunicorn: the access log line (gunicorn/glogging.py)", ("gunicorn/glogging.py",)),
    ("Django request handling (WSGIHandler.__call__: middleware + view)", ("django/core/handlers/wsgi.py:__call__",)),
    ("  CSRF check (CsrfViewMiddleware.process_view)", ("django/middleware/csrf.py:process_view",)),
    ("  views._submit", ("tenohira/applications/views.py:_submit",)),
    ("    services.submit_as_owner → _submit_once (both transactions)",
     ("tenohira/applications/services.py:_submit_once",)),
    ("      the locking read (_lock_draft: written-out SQL, FOR UPDATE)",
     ("tenohira/applications/services.py:_lock_draft",)),
    ("      receipt number (next_receipt_number: INSERT … ON CONFLICT … RETURNING)",
     ("tenohira/applications/receipts.py:next_receipt_number",)),
    ("      FormRun (services.run_of, once per submission)", ("tenohira/applications/services.py:run_of",)),
    ("      the submission's rows (_create_submission, second transaction)",
     ("tenohira/applications/services.py:_create_submission",)),
    ("        submission, version, event, e-mail in one statement (core.rows.insert_together)",
     ("tenohira/core/rows.py:insert_together",)),
    ("        the day's count (insights.aggregates.count_submission)",
     ("tenohira/insights/aggregates.py:count_submission",)),
    ("e-mail delivery worker sending a batch (core.outbox._send_locked)", ("tenohira/core/outbox.py:_send_locked",)),
    ("  writing each message (EmailMessage.send, file backend)", ("django/core/mail/message.py:send",)),
    ("Django ORM turning querysets into SQL (SQLCompiler.as_sql)", ("django/db/models/sql/compiler.py:as_sql",)),
    ("Django ORM making model instances (Model.__init__, from_db)",
     ("django/db/models/base.py:__init__", "django/db/models/base.py:from_db")),
    ("psycopg (sending queries, reading results)", ("psycopg/",)),
]

# With --subprocesses a stack starts with one frame per process, parent first:
# process <pid>:"<command line>" (the command line may itself hold a ";").
_PROCESS_FRAME = re.compile(r'process (\d+):"(.*?)"(?:;|$)')


def _frame_key(frame: str) -> tuple[str, str]:
    """'Connection.wait (psycopg/connection.py:479)' -> ('psycopg/connection.py', 'Connection.wait')."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame, ""
    func, path = match.groups()
    return path.split("site-packages/")[-1].split("/src/")[-1], func


def _matches(frame: tuple[str, str], needle: str) -> bool:
    path, func = frame
    if ":" not in needle:
        return needle in path
    want_path, want_func = needle.split(":", 1)
    return path.endswith(want_path) and (func == want_func or func.endswith("." + want_func))


def _parse_stack(stack: str) -> tuple[int | None, str, list[tuple[str, str]]]:
    """(pid and command line of the sampled process, or None and "", its frames)."""
    pid, command = None, ""
    while match := _PROCESS_FRAME.match(stack):
        pid, command = int(match.group(1)), match.group(2)
        stack = stack[match.end():]
    return pid, command, [_frame_key(frame) for frame in stack.split(";") if frame]


def _children(pid: int) -> list[int]:
    return [child for child in map(int, filter(str.isdigit, os.listdir("/proc")))
            if (_proc_stat(child) or ("", 0, 0, 0))[1] == pid]


def _cpu_of(pids) -> dict[int, float]:
    """CPU seconds (user + kernel) of each process so far."""
    return {pid: stat[2] + stat[3] for pid in pids if (stat := _proc_stat(pid))}


def wait_for_outbox(timeout: float = 120) -> int:
    """Wait until no e-mail is pending (or the timeout); returns how many are pending."""
    from tenohira.core.models import OutboxMessage

    deadline = time.monotonic() + timeout
    while True:
        pending = OutboxMessage.objects.filter(sent_at__isnull=True).count()
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.1)


def profile_server(port: int, server_pid: int, version, clients: int, n: int) -> bool:
    """py-spy samples the whole server (--subprocesses: master, web workers and e-mail
    worker) while the clients submit N more drafts and the outbox is emptied."""
    pyspy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if not pyspy:
        print("  py-spy is not installed (.venv/bin/pip install py-spy); profiling in-process instead")
        return False
    children = _children(server_pid)
    mail_pids = {pid for pid in children if _is_mail_worker(pid)}
    drafts = make_drafts(version, n)
    tokens, _ = fetch_csrf(port, clients, server_pid, drafts)
    out = Path(tempfile.mkdtemp()) / "server.txt"
    spy = subprocess.Popen([pyspy, "record", "--pid", str(server_pid), "--subprocesses", "--rate", str(PROFILE_RATE),
                            "--gil", "--nonblocking", "--format", "raw", "--output", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    spy_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    time.sleep(1.0)  # py-spy attaches
    pids = [server_pid, *children]
    before = _cpu_of(pids)
    began = time.perf_counter()
    phase = submit_all(port, clients, server_pid, drafts, tokens)
    pending = wait_for_outbox()
    wall = time.perf_counter() - began
    after = _cpu_of(pids)
    spy.send_signal(signal.SIGINT)
    report, _ = spy.communicate(timeout=60)
    spy_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # py-spy is the only child that ended
    spy_cpu = (spy_after.ru_utime - spy_before.ru_utime) + (spy_after.ru_stime - spy_before.ru_stime)
    report = report.decode(errors="replace")
    if not out.exists():
        print(f"  py-spy failed: {report.strip()[-300:]}")
        return False
    used = {pid: after[pid] - before[pid] for pid in pids if pid in before and pid in after}
    cpu = {
        "web workers": sum(v for pid, v in used.items() if pid != server_pid and pid not in mail_pids),
        "e-mail delivery worker": sum(v for pid, v in used.items() if pid in mail_pids),
        "gunicorn master": used.get(server_pid, 0.0),
    }
    server_cpu = sum(cpu.values()) or 1e-9

    roles = dict.fromkeys(["web workers, inside a request", "web workers, between requests",
                           "e-mail delivery worker", "gunicorn master"], 0)
    inclusive = dict.fromkeys([label for label, _ in KEY_FRAMES], 0)
    leaves: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        hits = int(count)
        pid, command, frames = _parse_stack(stack)
        if not frames:
            continue
        total += hits
        in_request = any(func.endswith("handle_request") for _, func in frames)
        if pid == server_pid:
            role = "gunicorn master"
        elif pid in mail_pids or "outbox work" in command or (
            pid is None and not in_request
            and any(_matches(f, n) for f in frames for n in ("core/outbox.py:_send_locked", "core/outbox.py:deliver_batch"))
        ):
            role = "e-mail delivery worker"
        elif in_request:
            role = "web workers, inside a request"
        else:
            role = "web workers, between requests"
        roles[role] += hits
        for label, needles in KEY_FRAMES:
            if any(_matches(f, needle) for f in frames for needle in needles):
                inclusive[label] += hits
        leaf = f"{frames[-1][0]}:{frames[-1][1]}"
        leaves[leaf] = leaves.get(leaf, 0) + hits
    shutil.rmtree(out.parent, ignore_errors=True)
    if not total:
        print("  py-spy took no samples")
        return False
    summary = re.search(r"Samples: (\d+) Errors: (\d+)", report)
    errors = f", {int(summary.group(2)):,} sampling errors" if summary and int(summary.group(2)) else ""
    done = max(phase.done, 1)
    print(f"  py-spy on the whole server (master, {len(children) - len(mail_pids)} web workers, the e-mail worker;"
          f" {PROFILE_RATE}/s per process, --gil) while {phase.done:,} more drafts were submitted"
          f" ({phase.rate:.0f}/s with the sampler attached{', FAILED: ' + str(len(phase.failures)) if phase.failures else ''})"
          f" and the outbox was emptied{f' ({pending:,} still pending)' if pending else ''}, {wall:.1f} s:")
    print(f"  {total:,} samples{errors} ({total / PROFILE_RATE:.1f} s of GIL-holding time, which on a busy machine"
          f" includes waiting for a core); /proc: the server used {sum(cpu.values()):.1f} s of CPU"
          f" ({sum(cpu.values()) / done * 1000:.2f} ms per submission), py-spy itself {spy_cpu:.1f} s")

    def share(label: str, samples: str, proc: str = "") -> None:
        print(f"    {label:<34} {samples:>9} {proc:>20}".rstrip())

    share("by process", "samples", "/proc CPU (ms/sub.)")
    web = roles["web workers, inside a request"] + roles["web workers, between requests"]
    for role, hits in (("web workers", web), ("  inside a request", roles["web workers, inside a request"]),
                       ("  between requests", roles["web workers, between requests"]),
                       ("e-mail delivery worker", roles["e-mail delivery worker"]),
                       ("gunicorn master", roles["gunicorn master"])):
        seconds = cpu.get(role)
        proc = f"{seconds / server_cpu * 100:.1f}% ({seconds / done * 1000:.2f})" if seconds is not None else ""
        share(role, f"{hits / total * 100:.1f}%", proc)
    print("  where the server's time goes (inclusive share of all samples):")
    for label, hits in inclusive.items():
        print(f"    {hits / total * 100:5.1f}%  {label}")
    print("  top functions where the time is spent (self):")
    for frame, hits in sorted(leaves.items(), key=lambda kv: -kv[1])[:10]:
        print(f"    {hits / total * 100:5.1f}%  {frame}")
    return True


def sql_of_one_submission(version) -> None:
    """The statements one submission sends, through the whole Django stack in-process (the
    confirmation e-mail is written with the submission; the delivery worker sends it)."""
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    public_id, secret = make_drafts(version, 1)[0]
    client = DjangoClient(HTTP_HOST="127.0.0.1")
    client.cookies[OWNER_COOKIE] = secret
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/apply/{public_id}/check/")
    assert response.status_code == 302, response.status_code
    statements = [q["sql"] for q in queries.captured_queries]
    transactions = sum(1 for q in statements if q.upper().startswith("COMMIT") or q.upper().startswith("RELEASE"))
    print(f"  SQL statements per submission: {len(statements)} ({transactions} commits); in order:")
    for q in statements:
        text = re.sub(r"\s+", " ", q)
        table = re.search(r'(?:FROM|INTO|UPDATE) "?(\w+)"?', text)
        print(f"    {text.split()[0]:<8} {table.group(1) if table else ''}")


def profile_in_process(version, n: int) -> None:
    """cProfile of N submissions through the whole Django stack in this process (the same
    middleware, view and services a gunicorn worker runs; only the HTTP parsing differs,
    and the e-mails are left in the outbox for the server's delivery worker, so its cost
    is not in this profile). One Django test client, so the middleware is loaded once,
    as in a worker."""
    from http.cookies import SimpleCookie

    from django.test import Client as DjangoClient

    drafts = make_drafts(version, n)
    client = DjangoClient(HTTP_HOST="127.0.0.1")

    def submit(public_id, secret):
        client.cookies = SimpleCookie({OWNER_COOKIE: secret})  # a new browser each time
        client.post(f"/apply/{public_id}/check/")

    half = n // 2
    began = time.perf_counter()
    for public_id, secret in drafts[:half]:
        submit(public_id, secret)
    wall = time.perf_counter() - began
    print(f"  in-process, one at a time, no profiler: {wall / half * 1000:.2f} ms per submission")
    profiler = cProfile.Profile()
    profiler.enable()
    for public_id, secret in drafts[half:]:
        submit(public_id, secret)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][3])
    print("  cumulative time per submission (profiler overhead included):")
    shown = 0
    for (filename, line, func), entry in rows:
        if "tenohira" not in filename and func not in {"commit", "send", "process_response", "wait"}:
            continue
        short = filename.split("/src/")[-1].split("site-packages/")[-1]
        print(f"    {entry[3] / (n - half) * 1000:7.2f} ms  {func}  ({short}:{line})")
        shown += 1
        if shown == 15:
            break


# --- main ------------------------------------------------------------------------------


def mail_check(prefix: str, expected: int, submissions_ended: float, server_pid: int) -> float:
    """Every confirmation e-mail so far must leave the outbox: the server's delivery worker
    sends them in batches (its CPU is part of the server's above, being a child of the
    server). Returns the delivery worker's CPU seconds after the last submission, until
    the outbox was empty."""
    from tenohira.core.models import OutboxMessage

    before = cpu_snapshot(server_pid)
    pending = wait_for_outbox()
    lag = time.monotonic() - submissions_ended
    tail = cpu_used(before, cpu_snapshot(server_pid))[3]
    sent = OutboxMessage.objects.filter(sent_at__isnull=False, kind="submission_received").count()
    verdict = "OK" if sent == expected and not pending else "MISSING"
    print(f"{prefix}check of the e-mail: {sent:,} confirmations sent, {pending:,} pending (expected {expected:,} sent):"
          f" {verdict}; the outbox was empty {lag:.1f} s after the last submission")
    return tail


def describe(name: str, phase: Phase) -> str:
    return (f"{name}: {phase.done:,} in {phase.wall:.2f} s = {phase.rate:,.1f}/s, "
            f"p50 {percentile(phase.latencies, 50) * 1000:.1f} ms, p99 {percentile(phase.latencies, 99) * 1000:.1f} ms")


def cpu_line(phase: Phase) -> str:
    wall = phase.wall or 1
    server = phase.server_user + phase.server_sys
    per = f"; server CPU per request {server / phase.done * 1000:.2f} ms" if phase.done else ""
    return (f"    CPU over {wall:.1f} s (of {os.cpu_count()} cores): load generator {phase.client_cpu / wall:.2f} cores, "
            f"server {server / wall:.2f} (user {phase.server_user / wall:.2f} + kernel {phase.server_sys / wall:.2f}), "
            f"PostgreSQL {phase.db_cpu / wall:.2f}{per}"
            + (f" (of which the e-mail worker {phase.mail_cpu / phase.done * 1000:.2f} ms)"
               if phase.mail_cpu and phase.done else ""))


def server_ms(phase: Phase) -> float:
    """The server's CPU per request in the phase, in ms."""
    return (phase.server_user + phase.server_sys) / phase.done * 1000 if phase.done else float("nan")


def ratio_line(label: str, submissions_rate: float, trivial_rate: float) -> str:
    ratio = submissions_rate / trivial_rate if trivial_rate else float("nan")
    costs = f" (a submission costs {1 / ratio:.1f}× a trivial request)" if ratio else ""
    return f"{label}: {ratio:.3f}{costs}"


@dataclass
class Round:
    submissions: Phase
    trivial: Phase
    mail_after: float  # the e-mail worker's CPU seconds after the round's last submission


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL,
                        help="PostgreSQL URL of a database to create and drop (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of submissions + trivial view; the summary takes the median (default %(default)s)")
    parser.add_argument("--drafts", type=int, default=2000, help="submissions per round (default %(default)s)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default %(default)s)")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1,
                        help="gunicorn workers (default 2 × cores + 1 = %(default)s)")
    parser.add_argument("--profile", choices=["auto", "always", "never"], default="auto",
                        help="profile the submission (auto: when the median is below the target)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and database")
    args = parser.parse_args()
    if args.rounds < 1 or args.drafts < 1:
        parser.error("--rounds and --drafts must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="tenohira-submit-bench-"))
    cleanups = []

    def cleanup():
        for step in reversed(cleanups):
            try:
                step()
            except Exception as exc:  # cleaning up must not hide the figures
                print(f"cleanup: {exc}")
        cleanups.clear()

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if not args.keep:
        cleanups.append(lambda: shutil.rmtree(workdir, ignore_errors=True))

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min) at start")
    db_url, on_postgres, drop = prepare_database(args.db_url, workdir)
    if not args.keep:
        cleanups.append(drop)
    database = f"PostgreSQL {urlparse(db_url).path.lstrip('/')}" if on_postgres else "SQLite (fallback)"
    setup_django(workdir, db_url)
    version = publish_form()

    began = time.perf_counter()
    drafts = make_drafts(version, args.rounds * args.drafts)
    print(f"setup: {database}; a 20-field form; {len(drafts):,} complete drafts ({args.rounds} rounds × "
          f"{args.drafts:,}) through the services in {time.perf_counter() - began:.1f} s")

    port = free_port()
    log = workdir / "server.log"
    server = start_server(port, args.workers, log)
    cleanups.append(lambda: stop_server(server))
    print(f"server: tenohira serve --port {port} --workers {args.workers} (gunicorn, sync workers, "
          f"and the e-mail delivery worker; log {log})")

    tokens, csrf_phase = fetch_csrf(port, args.clients, server.pid, drafts)
    if csrf_phase.failures:
        sys.exit(f"setup GETs failed: {csrf_phase.failures[:5]}")
    print(f"setup: {describe('check pages fetched (CSRF cookie + token)', csrf_phase)}")

    page_draft = make_drafts(version, 1)[0]
    hammer(port, args.clients, server.pid, TRIVIAL_PATH, 1.0)  # warm every worker's lookup table

    print()
    print(f"measuring: {args.rounds} rounds of {args.drafts:,} submissions, each followed by the trivial view"
          f" for as long; {args.clients} clients, {args.workers} workers, {database}")
    rounds: list[Round] = []
    for number in range(args.rounds):
        prefix = f"round {number + 1}/{args.rounds}: "
        part = slice(number * args.drafts, (number + 1) * args.drafts)
        submissions = submit_all(port, args.clients, server.pid, drafts[part], tokens[part])
        submissions_ended = time.monotonic()
        print(prefix + describe("submissions (POST /apply/<id>/check/ → 302 /done/)", submissions))
        print(cpu_line(submissions))
        if submissions.failures:
            print(f"  FAILED: {len(submissions.failures)}, e.g. {submissions.failures[:3]}")
        # Before the trivial phase, which the delivery worker's tail would slow down.
        mail_after = mail_check(prefix, (number + 1) * args.drafts, submissions_ended, server.pid)
        trivial = hammer(port, args.clients, server.pid, TRIVIAL_PATH, submissions.wall)
        print(prefix + describe(f"trivial view (GET {TRIVIAL_PATH})", trivial))
        print(cpu_line(trivial))
        if trivial.failures:
            print(f"  FAILED: {len(trivial.failures)}, e.g. {trivial.failures[:3]}")
        print(prefix + ratio_line("ratio submissions/s ÷ trivial req/s", submissions.rate, trivial.rate))
        rounds.append(Round(submissions, trivial, mail_after))

    rates = [r.submissions.rate for r in rounds]
    trivial_rates = [r.trivial.rate for r in rounds]
    median_rate = statistics.median(rates)
    median_trivial = statistics.median(trivial_rates)
    pooled = [latency for r in rounds for latency in r.submissions.latencies]
    cpu_ms = [server_ms(r.submissions) for r in rounds]
    tail_ms = [r.mail_after / r.submissions.done * 1000 if r.submissions.done else float("nan") for r in rounds]
    print()
    print(f"summary of {args.rounds} rounds ({args.drafts:,} submissions each):")
    print(f"submissions: median {median_rate:,.1f}/s (min {min(rates):,.1f} – max {max(rates):,.1f}), "
          f"p50 {percentile(pooled, 50) * 1000:.1f} ms, p99 {percentile(pooled, 99) * 1000:.1f} ms"
          f" (all {len(pooled):,} submissions pooled)")
    print(f"trivial view: median {median_trivial:,.1f}/s (min {min(trivial_rates):,.1f} – max {max(trivial_rates):,.1f})")
    print(ratio_line("ratio median submissions/s ÷ median trivial req/s", median_rate, median_trivial))
    print(f"server CPU per submission: median {statistics.median(cpu_ms):.2f} ms"
          f" (rounds {', '.join(f'{ms:.2f}' for ms in cpu_ms)}); the e-mail worker's tail after each round"
          f" (until the outbox was empty) adds {statistics.median(tail_ms):.2f} ms")
    print(f"≥ {TARGET_PER_SECOND} submissions/s: {'PASS' if median_rate >= TARGET_PER_SECOND else 'FAIL'}"
          f" (median {median_rate:,.1f}/s; rounds {', '.join(f'{rate:,.1f}' for rate in rates)})")

    from django.db.models import Count

    from tenohira.applications.models import Submission

    expected = args.rounds * args.drafts
    stored = Submission.objects.filter(procedure__code=CODE)
    counts = stored.aggregate(n=Count("id"), numbers=Count("receipt_number", distinct=True),
                              drafts=Count("draft", distinct=True))
    ok = counts["n"] == counts["numbers"] == counts["drafts"] == expected
    sample = list(stored.order_by("receipt_number").values_list("receipt_number", flat=True)[:1])
    print(f"check in the database: {counts['n']:,} submissions, {counts['numbers']:,} distinct receipt numbers, "
          f"{counts['drafts']:,} drafts (expected {expected:,} each): {'OK' if ok else 'MISMATCH'}"
          f" (first {sample[0] if sample else '-'})")

    print()
    print("page weight of a step of the 20-field form:")
    page_weight(port, *page_draft)

    if args.profile == "always" or (args.profile == "auto" and median_rate < TARGET_PER_SECOND):
        print()
        print("profile of the submission:")
        sql_of_one_submission(version)
        if not profile_server(port, server.pid, version, args.clients, max(1000, args.clients * 60)):
            profile_in_process(version, 300)
    stop_server(server)
    print(f"\nload average {os.getloadavg()[0]:.2f} (1 min) at the end; finished {dt.datetime.now():%H:%M:%S}")
    cleanup()


if __name__ == "__main__":
    main()
