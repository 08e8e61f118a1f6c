"""Background work: named tasks and periodic sweeps, run by Celery or by the embedded runner.

The database row is always the truth (an outbox). A business transaction writes its row
(an e-mail, a delivery to a business system) and asks for a task *after* its commit:

    @background.task("integrations.deliver")           # idempotent: may run twice
    def deliver(delivery_id: int) -> None: ...

    background.dispatch_on_commit("integrations.deliver", delivery.pk)

    @background.periodic("integrations.sweep", seconds=30)   # takes due rows with a lease
    def sweep() -> bool: ...                                  # True: more is waiting

A dispatch is only a hint that work is waiting, never the only record of it: one lost
(the broker was down, the worker was killed before acknowledging) is found again by the
periodic sweep, which takes due rows with a lease. So every task and sweep must be
idempotent; the lease and per-row commits of the outbox keep them from doing the work twice.

settings.BACKGROUND chooses who runs the work:

- "embedded" (the default): `tenohira serve` and `tenohira demo` start one background
  process (`tenohira background work`) beside the web workers. Without a broker the web
  process cannot hand it anything, so a dispatch does nothing and the process runs every
  sweep about once a second (BACKGROUND_POLL_SECONDS) over the due rows instead.
- "celery": a dispatch is a Celery message (Redis broker, CELERY_BROKER_URL); workers are
  started with `tenohira worker`, each running the sweeps on a timer as well. A broker that
  does not answer costs a request at most a short connection timeout, once: dispatching is
  then skipped for a while (the sweep delivers those rows).
- "eager" (tests): a dispatched task runs in the same process right after the commit.

Task modules are found by `load()`: the `tasks` module of every installed app.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
CELERY = "celery"
EAGER = "eager"
MODES = (EMBEDDED, CELERY, EAGER)


@dataclass(frozen=True)
class Task:
    name: str
    function: Callable[..., object]
    queue: str = ""


@dataclass(frozen=True)
class Periodic:
    name: str
    function: Callable[[], object]
    seconds: float


_tasks: dict[str, Task] = {}
_periodic: dict[str, Periodic] = {}


def task(name: str, *, queue: str = ""):
    """Decorator: register `function` as the task `name` (arguments must be JSON: ids)."""
    def register(function):
        _register(_tasks, Task(name, function, queue), function)
        return function
    return register


def periodic(name: str, *, seconds: float):
    """Decorator: register a sweep run every `seconds` on every worker (idempotent: it takes
    what it works on with a lease). Returning True means a full batch was done and more is
    waiting: it is run again at once."""
    def register(function):
        _register(_periodic, Periodic(name, function, float(seconds)), function)
        return function
    return register


def _register(registry: dict, entry, function) -> None:
    known = registry.get(entry.name)
    # The same function imported twice (a module reloaded) is fine; two functions are a mistake.
    if known is not None and known.function.__qualname__ != function.__qualname__:
        raise ValueError(f"background task {entry.name!r} is registered twice")
    registry[entry.name] = entry


def tasks() -> dict[str, Task]:
    return dict(_tasks)


def sweeps() -> dict[str, Periodic]:
    return dict(_periodic)


def load() -> None:
    """Import the `tasks` module of every installed app, which registers their tasks."""
    from django.apps import apps

    for app_config in apps.get_app_configs():
        module = f"{app_config.name}.tasks"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


def mode() -> str:
    return getattr(settings, "BACKGROUND", EMBEDDED)


def dispatch_on_commit(name: str, *args) -> None:
    """Ask for task `name` once the current transaction commits (at once outside one)."""
    current = mode()
    if current == EMBEDDED:
        return  # the background process's sweeps find the row; nothing can reach it sooner
    if current == EAGER:
        transaction.on_commit(lambda: run(name, *args))
    else:
        transaction.on_commit(lambda: send(name, *args))


def run(name: str, *args) -> object:
    """Run a registered task or sweep here and now."""
    entry = _tasks.get(name) or _periodic.get(name)
    if entry is None:
        load()
        entry = _tasks.get(name) or _periodic.get(name)
    if entry is None:
        raise LookupError(f"no background task named {name!r}")
    return entry.function(*args)


# --- Celery -----------------------------------------------------------------------------

_broker_down_until = 0.0
_broker_lock = threading.Lock()


def send(name: str, *args, expires: float | None = None) -> bool:
    """Hand the task to the broker; False when it could not be reached (the sweep will do
    the work). Never raises: the business transaction has already committed."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return False
    from tenohira.config.celery import app

    entry = _tasks.get(name)
    options = {"queue": entry.queue} if entry is not None and entry.queue else {}
    try:
        app.send_task(name, args=list(args), retry=False, expires=expires, **options)
    except Exception as exc:  # the broker is down or refuses: the row waits for the sweep
        with _broker_lock:
            _broker_down_until = time.monotonic() + getattr(settings, "BACKGROUND_BROKER_BACKOFF_SECONDS", 10)
        logger.warning("background: broker unreachable, %s left to the sweep (%s)", name, type(exc).__name__)
        return False
    return True


# --- the embedded runner ----------------------------------------------------------------


def run_sweeps_forever(stop: threading.Event, *, poll: float | None = None) -> None:
    """The embedded background process: every sweep, about every `poll` seconds, again at
    once when one says more is waiting. A failing sweep is logged and tried next turn with
    a fresh database connection."""
    from django.db import close_old_connections

    load()
    poll = getattr(settings, "BACKGROUND_POLL_SECONDS", 1.0) if poll is None else poll
    logger.info("background worker started: %s", ", ".join(sorted(_periodic)) or "no sweeps")
    while not stop.is_set():
        more = False
        for entry in list(_periodic.values()):
            if stop.is_set():
                break
            try:
                more = bool(entry.function()) or more
            except Exception:
                logger.exception("background sweep %s failed", entry.name)
            finally:
                close_old_connections()
        if not more:
            stop.wait(poll)
    logger.info("background worker stopped")


def run_sweeps_once() -> dict[str, int]:
    """Every sweep until it says nothing more is waiting (bounded): for cron or by hand."""
    load()
    turns = {}
    for entry in _periodic.values():
        turns[entry.name] = 1
        while entry.function() and turns[entry.name] < 1000:
            turns[entry.name] += 1
    return turns
