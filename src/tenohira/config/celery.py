"""The Celery application (BACKGROUND=celery): Redis broker, tasks from core.background.

Started by `tenohira worker`. The settings favour "never lost" over throughput, because
every task stands for a row that must be worked on:

- acks_late + reject_on_worker_lost: a message is acknowledged after its task ran, so a
  worker killed mid-task leaves it to be delivered again (the task is idempotent);
- prefetch 1: a worker holds no more messages than it runs, so a killed worker strands
  nothing beyond its running tasks, and a slow task does not sit on others' work;
- JSON only: no pickles from the broker.

Even so, Redis gives an unacknowledged message back only after its visibility timeout, so
the sweeps (core.background.periodic, on a timer in every worker) are what bring back work
lost with a worker or a broker: they take due rows whose lease has passed.
"""

from __future__ import annotations

import logging
import os

from celery import Celery, bootsteps, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenohira.config.settings")

logger = logging.getLogger(__name__)

app = Celery("tenohira")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    # A web process publishing to a broker that is down gives up at once (the row waits
    # for the sweep) instead of holding the resident's request.
    broker_connection_timeout=2,
    # (max_retries is for publishing only: a worker's own connection retries for ever.)
    broker_transport_options={"socket_connect_timeout": 2, "max_retries": 0},
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
# Celery's Django fixup closes the database connection before and after every task unless
# this is set, and then only every this many tasks: a new PostgreSQL connection per task
# cost more CPU than the task (a delivery's task about 5 ms, most of it connecting). Tasks
# keep their connection as requests do instead, and Django closes it when it is older than
# CONN_MAX_AGE or broken (_close_old_connections below).
app.conf.update(CELERY_DB_REUSE_MAX=1000)
SWEEP_TASK = "core.background.sweep"


def register_tasks(celery_app: Celery = app) -> None:
    """Make every task of core.background a Celery task of the same name (Django is set up)."""
    from tenohira.core import background

    background.load()
    for entry in background.tasks().values():
        if entry.name not in celery_app.tasks:
            celery_app.task(name=entry.name, queue=entry.queue or None)(_runner(entry.name))
    if SWEEP_TASK not in celery_app.tasks:
        celery_app.task(name=SWEEP_TASK)(_sweep)


def _runner(name: str):
    def run(*args):
        from tenohira.core import background

        background.run(name, *args)
    run.__name__ = run.__qualname__ = name.replace(".", "_")
    return run


def _sweep(name: str) -> None:
    """One turn of a sweep; when it says more is waiting, another turn goes to the queue, so
    the workers share a backlog instead of one of them working through it alone."""
    from tenohira.core import background

    if background.run(name):
        background.send(SWEEP_TASK, name)


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(sender=None, **kwargs):
    """Before and after each task, as around each web request: a connection past
    CONN_MAX_AGE, one left in a failed transaction or broken is closed (the next query
    opens a new one); a healthy one is kept."""
    from django.db import close_old_connections

    close_old_connections()


@signals.import_modules.connect
def _on_import_modules(sender=None, **kwargs):
    # `celery -A tenohira.config.celery worker` (Celery's Django fixup has set Django up).
    register_tasks(app)


class Sweeps(bootsteps.StartStopStep):
    """Each sweep goes to the queue every `seconds` from every worker, and once at start
    (what a killed worker left is found without waiting a whole period). They expire when
    not run within their period, so a backlog does not pile them up."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timers = []

    def start(self, parent):
        from django.conf import settings

        from tenohira.core import background

        most = settings.BACKGROUND_SWEEP_SECONDS
        for entry in background.sweeps().values():
            seconds = min(entry.seconds, most) if most > 0 else entry.seconds
            send = _sender(entry.name, seconds)
            send()
            self.timers.append(parent.timer.call_repeatedly(seconds, send, priority=10))

    def stop(self, parent):
        for timer in self.timers:
            timer.cancel()
        self.timers = []


def _sender(name: str, seconds: float):
    def send():
        from tenohira.core import background

        background.send(SWEEP_TASK, name, expires=seconds)
    return send


app.steps["consumer"].add(Sweeps)
