"""Several Tenohira nodes on one machine: N `tenohira serve` nodes and M `tenohira worker`
processes against one PostgreSQL database (and Redis), each a real process on its own
port, and residents walking whole flows through them.

Used by bench/surge_bench.py and tests/scale/. Each node has a data directory of its own,
as separate machines would: what the nodes must share is passed to all of them (the
database, SECRET_KEY and the audit key, so a cookie signed by one node is read by another,
and ATTACHMENTS_DIR, the shared storage). Nothing is sticky: a resident's requests go to
any node. The database is migrated once, before any node starts (as in an upgrade).

Every process is started in a session of its own, so a node is its gunicorn master, web
workers and e-mail worker together: `kill(node)` sends the signal to all of them, as a
machine that dies takes everything on it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
TENOHIRA = str(Path(sys.executable).parent / "tenohira")
READY_PATH = "/api/v1/postal-codes/9638601"  # no database, no session: answers as soon as Django does
OWNER_COOKIE = "tnh_draft"  # applications.views.OWNER_COOKIE
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    kind: str  # "node" or "worker"
    name: str
    command: list[str]
    env: dict
    log: Path
    port: int | None = None
    popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Cluster:
    """`nodes` serve nodes with `web_per_node` gunicorn workers each, and `workers`
    background worker processes (`tenohira worker`, started only when > 0)."""

    database_url: str
    base_dir: Path
    nodes: int = 2
    web_per_node: int = 1
    workers: int = 0
    env: dict = field(default_factory=dict)
    worker_command: list[str] = field(default_factory=lambda: ["worker"])
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self):
        self.base_dir = Path(self.base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.shared_env = {
            **{k: v for k, v in os.environ.items() if k not in {"TENOHIRA_DEMO", "PYTEST_XDIST_WORKER"}},
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "AUDIT_KEY": secrets.token_hex(32),
            "ATTACHMENTS_DIR": str(self.base_dir / "shared-attachments"),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            "DJANGO_SETTINGS_MODULE": "tenohira.config.settings",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
            **self.env,
        }

    # --- processes ---------------------------------------------------------------------

    def _env(self, name: str) -> dict:
        data_dir = self.base_dir / name
        data_dir.mkdir(exist_ok=True, mode=0o700)
        return {**self.shared_env, "TENOHIRA_DATA_DIR": str(data_dir)}

    def manage(self, *args: str, timeout: float = 300) -> str:
        """Run `tenohira <args>` once (e.g. migrate) with the cluster's settings."""
        result = subprocess.run([TENOHIRA, *args], env=self._env("admin"), capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"tenohira {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
        return result.stdout

    def migrate(self) -> None:
        self.manage("migrate", "--no-input", "-v", "0")

    def publish_demo_form(self, code: str = "SDG") -> None:
        self.manage("shell", "-c", (
            "from tests.support.cluster import publish_demo_form, roomy_collection_days; "
            f"publish_demo_form({code!r}); roomy_collection_days()"
        ))

    def _spawn(self, process: Process) -> Process:
        process.popen = subprocess.Popen(  # noqa: S603 (our own command and arguments)
            process.command, env=process.env, stdout=process.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.base_dir,
        )
        return process

    def start_node(self, index: int) -> Process:
        name = f"node-{index}"
        port = free_port()
        command = [TENOHIRA, "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(self.web_per_node)]
        process = Process("node", name, command, self._env(name), self.base_dir / f"{name}.log", port)
        return self._spawn(process)

    def start_worker(self, index: int) -> Process:
        name = f"worker-{index}"
        process = Process("worker", name, [TENOHIRA, *self.worker_command], self._env(name),
                          self.base_dir / f"{name}.log")
        return self._spawn(process)

    def start(self, *, migrate: bool = True, timeout: float = 90) -> Cluster:
        if migrate:
            self.migrate()
        for i in range(self.nodes):
            self.processes.append(self.start_node(i))
        for i in range(self.workers):
            self.processes.append(self.start_worker(i))
        deadline = time.monotonic() + timeout
        for node in self.node_processes():
            self.wait_ready(node, deadline)
        return self

    def wait_ready(self, node: Process, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not node.alive():
                raise RuntimeError(f"{node.name} exited ({node.popen.returncode}):\n{self.tail(node)}")
            try:
                if HttpClient(node.port).get(READY_PATH).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{node.name} did not answer in time:\n{self.tail(node)}")

    def tail(self, process: Process, chars: int = 3000) -> str:
        try:
            return process.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def node_processes(self, *, alive: bool = False) -> list[Process]:
        return [p for p in self.processes if p.kind == "node" and (p.alive() or not alive)]

    def worker_processes(self, *, alive: bool = False) -> list[Process]:
        return [p for p in self.processes if p.kind == "worker" and (p.alive() or not alive)]

    @property
    def ports(self) -> list[int]:
        return [p.port for p in self.node_processes()]

    def kill(self, process: Process, sig: int = signal.SIGKILL) -> None:
        """Signal everything the process started (its session): a node's master, web
        workers and e-mail worker die together."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        if sig == signal.SIGKILL:
            process.popen.wait()

    def stop(self, timeout: float = 30) -> None:
        for process in self.processes:
            if process.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            if process.popen is None:
                continue
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(process)
            # Children a stopped leader left behind (none normally).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- CPU ---------------------------------------------------------------------------

    def cpu_snapshot(self) -> dict[int, tuple[str, float]]:
        """CPU seconds (user + kernel) used so far per process: {pid: (kind, seconds)},
        kind "web" (gunicorn masters and web workers), "worker" (background workers and
        the nodes' e-mail workers) or "db" (every PostgreSQL process on the machine)."""
        sessions = {p.pid: p.kind for p in self.processes if p.popen is not None}
        table = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                text = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            name = text[text.index("(") + 1: text.rindex(")")]
            fields = text[text.rindex(")") + 2:].split()
            session, seconds = int(fields[3]), (int(fields[11]) + int(fields[12])) / CLK_TCK
            if session in sessions:
                kind = "web" if sessions[session] == "node" else "worker"
                if kind == "web" and _is_background(pid):
                    kind = "worker"
                table[pid] = (kind, seconds)
            elif name.startswith(("postgres", "postmaster")):
                table[pid] = ("db", seconds)
        return table

    @staticmethod
    def cpu_used(before: dict, after: dict) -> dict[str, float]:
        """CPU seconds per kind between two snapshots, process by process (a process that
        ended in between is missing from both: its CPU is lost, not subtracted)."""
        used = {"web": 0.0, "worker": 0.0, "db": 0.0}
        for pid, (kind, seconds) in after.items():
            old = before.get(pid)
            used[kind] += seconds - (old[1] if old is not None and old[0] == kind else 0.0)
        return used


def _is_background(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(part in cmdline for part in (b"outbox\x00work", b"background\x00work", b"\x00worker"))


# --- HTTP ------------------------------------------------------------------------------


class Response:
    def __init__(self, head: bytes, body: bytes):
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
        self.body = body

    def header(self, name: str) -> str:
        return ", ".join(v for k, v in self.headers if k.lower() == name.lower())

    def cookies(self) -> dict[str, str]:
        found = {}
        for key, value in self.headers:
            if key.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                if "=" in pair:
                    name, _, val = pair.partition("=")
                    found[name.strip()] = val.strip()
        return found


class HttpClient:
    """A minimal HTTP/1.1 client on a raw socket (gunicorn's sync workers close every
    connection, as behind a proxy): cheap, so the load generator leaves the cores to the
    server."""

    def __init__(self, port: int, timeout: float = 30):
        self.port = port
        self.timeout = timeout
        self.host = f"127.0.0.1:{port}".encode()

    def request(self, method: str, path: str, headers: dict | None = None, body: bytes = b"") -> Response:
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host, b"Connection: close"]
        lines += [f"{k}: {v}".encode() for k, v in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}".encode())
        with socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout) as sock:
            sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        data = b"".join(chunks)
        if b"\r\n\r\n" not in data:
            raise ConnectionError(f"no complete response from 127.0.0.1:{self.port}")
        head, _, rest = data.partition(b"\r\n\r\n")
        return Response(head, rest)

    def get(self, path: str, headers: dict | None = None) -> Response:
        return self.request("GET", path, headers)


# --- a resident's whole flow -----------------------------------------------------------

CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
DRAFT_PATH = re.compile(r"^/apply/([0-9a-f-]{36})/([a-z0-9_-]+)/$")

# 粗大ごみ収集の申込 (forms/demo/SDG.json), as a phone's browser posts each step.
SDG_FAMILY = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "たかはし"), ("田中", "タナカ"), ("渡邉", "わたなべ")]
SDG_GIVEN = [("花子", "ハナコ"), ("太郎", "たろう"), ("美咲", "ミサキ"), ("健", "ケン")]


SDG_DISTRICTS = ["東地区", "西地区", "南地区", "北地区"]


class Offered:
    """An answer chosen from the options the step's page offers (a 収集日 is a slot id
    known only from the page): the `index`-th of them, counted round."""

    def __init__(self, index: int):
        self.index = index

    def pick(self, page: bytes, name: str) -> str:
        values = re.findall(rb'name="' + re.escape(name.encode()) + rb'" value="([^"]+)"', page)
        return values[self.index % len(values)].decode() if values else ""


def sdg_answers(i: int) -> dict[str, dict[str, str]]:
    family, given = SDG_FAMILY[i % len(SDG_FAMILY)], SDG_GIVEN[i % len(SDG_GIVEN)]
    day = Offered(i // len(SDG_DISTRICTS))
    return {
        "applicant": {"applicant_name__family": family[0], "applicant_name__given": given[0],
                      "applicant_name__family_kana": family[1], "applicant_name__given_kana": given[1]},
        "contact": {"address__postal_code": "963-8601", "address__prefecture": "福島県", "address__city": "郡山市",
                    "address__town": "朝日", "address__street": f"{1 + i % 5}-{1 + i % 20}-{1 + i % 9}",
                    "address__building": "", "phone": "090-1234-5678" if i % 2 else "０２４－９２４－２１１１",
                    "district": SDG_DISTRICTS[i % len(SDG_DISTRICTS)], "email": f"sdg{i}@example.jp"},
        "items": {"items-count": "2", "items-0-item": "futon", "items-0-quantity": str(1 + i % 3),
                  "items-1-item": ["chair", "bicycle", "table"][i % 3], "items-1-quantity": "1"},
        "collection": {"collection_day": day, "place": "entrance", "place_detail": ""},
    }


class FlowFailed(Exception):
    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def encode(fields: dict[str, str]) -> bytes:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in fields.items()).encode()


class ResidentFlow:
    """One resident applying: start page, 申請を始める, every step (GET + POST), the check
    page, 送信 and the done page, each request timed by kind ("start", "begin", "step GET",
    "step POST", "check", "submit", "done").

    `ports` are the nodes; request i goes to ports[(offset + i) % len] unless `sticky`.
    A request that fails at the socket (a node killed) is sent again to the next node
    (`retries` times); the submit is safe to repeat, the server keeps one submission per
    draft. `timings` gets (kind, seconds) of every answered request."""

    def __init__(self, ports, code: str, answers: dict[str, dict[str, str]], *, offset: int = 0,
                 retries: int = 0, timeout: float = 30):
        # Shared by the flows of one run: a node that refuses connections is taken out of
        # the rotation, as a load balancer's health check does.
        self.ports = ports
        self.code = code
        self.answers = answers
        self.turn = offset
        self.retries = retries
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.timings: list[tuple[str, float]] = []
        self.resent = 0
        self.public_id = ""

    def _send(self, kind: str, method: str, path: str, body: dict | None = None) -> Response:
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        payload = b""
        if body is not None:
            payload = encode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        attempts = 0
        while True:
            port = self.ports[self.turn % len(self.ports)]
            self.turn += 1
            if method == "POST":
                headers["Origin"] = f"http://127.0.0.1:{port}"
                headers["Referer"] = f"http://127.0.0.1:{port}{path}"
            began = time.perf_counter()
            try:
                response = HttpClient(port, self.timeout).request(method, path, headers, payload)
            except OSError as exc:
                if isinstance(exc, ConnectionRefusedError) and len(self.ports) > 1:
                    with contextlib.suppress(ValueError):
                        self.ports.remove(port)
                attempts += 1
                if attempts > self.retries:
                    raise FlowFailed(kind, f"{method} {path}: {exc}") from exc
                self.resent += 1
                continue
            if response.status >= 500 and attempts < self.retries:
                attempts += 1
                self.resent += 1
                continue
            self.timings.append((kind, time.perf_counter() - began))
            self.cookies.update(response.cookies())
            return response

    def _token(self, response: Response, kind: str) -> str:
        found = CSRF_INPUT.search(response.body)
        if response.status != 200 or not found:
            raise FlowFailed(kind, f"status {response.status}, no form token")
        return found.group(1).decode()

    def run(self) -> str:
        """Walk the whole flow; the draft's public id (its submission exists when this returns)."""
        start = f"/procedures/{self.code}/apply/"
        token = self._token(self._send("start", "GET", start), "start")
        response = self._send("begin", "POST", start, {"csrfmiddlewaretoken": token})
        location = response.header("Location")
        match = DRAFT_PATH.match(location)
        if response.status != 302 or not match:
            raise FlowFailed("begin", f"status {response.status} → {location!r}")
        self.public_id = match.group(1)
        while match:
            step_key = match.group(2)
            if step_key == "check":
                break
            page = self._send("step GET", "GET", location)
            token = self._token(page, "step GET")
            answers = {
                name: value.pick(page.body, name) if isinstance(value, Offered) else value
                for name, value in self.answers.get(step_key, {}).items()
            }
            fields = {"csrfmiddlewaretoken": token, "action": "continue", **answers}
            response = self._send("step POST", "POST", location, fields)
            location = response.header("Location")
            match = DRAFT_PATH.match(location)
            if response.status != 302 or not match:
                raise FlowFailed("step POST", f"{step_key}: status {response.status} → {location!r}")
            if match.group(2) == step_key:
                raise FlowFailed("step POST", f"{step_key}: the step was refused")
        check = f"/apply/{self.public_id}/check/"
        token = self._token(self._send("check", "GET", check), "check")
        response = self._send("submit", "POST", check, {"csrfmiddlewaretoken": token, "consent": "yes"})
        done = f"/apply/{self.public_id}/done/"
        if response.status != 302 or response.header("Location") != done:
            raise FlowFailed("submit", f"status {response.status} → {response.header('Location')!r}")
        response = self._send("done", "GET", done)
        if response.status != 200:
            raise FlowFailed("done", f"status {response.status}")
        return self.public_id


def publish_demo_form(code: str = "SDG") -> None:
    """Inside a Django process on the cluster's database: the procedure of a demo form
    (本人確認 不要) with the form published, as the demo does."""
    import json

    from tenohira.catalog.models import Channel, Department, Procedure, ProcedureChannel, Section
    from tenohira.forms.services import publish

    definition = json.loads((ROOT / "src/tenohira/forms/demo" / f"{code}.json").read_text(encoding="utf-8"))
    department, _ = Department.objects.get_or_create(name="環境部")
    section, _ = Section.objects.get_or_create(department=department, name="３Ｒ推進課")
    procedure, _ = Procedure.objects.get_or_create(
        code=code, defaults={"section": section, "name": definition["title"], "processing_days": 14})
    ProcedureChannel.objects.get_or_create(procedure=procedure, kind=Channel.PLATFORM)
    publish(procedure, definition)
    if code == "SDG":
        # The collection days the form books (reservations.demo.collection).
        from tenohira.reservations.demo import collection

        collection.seed()


def roomy_collection_days() -> None:
    """Room on every collection day for every flow of a run: the scale test is about the
    flows, not about full days (tests/reservations/test_collection.py is)."""
    from tenohira.reservations.models import Resource, Slot

    Slot.objects.filter(resource__kind=Resource.Kind.COLLECTION).update(capacity=5000)
