"""The production WSGI server (gunicorn) with the embedded background process beside it.

Shared by `tenohira serve` and `tenohira demo`, so the demo runs the same server as a
real installation.
"""

import subprocess
import sys
import time


def accept_utf8_request_targets() -> None:
    """Let gunicorn accept raw UTF-8 bytes in the request line.

    Browsers percent-encode a Japanese query, but curl, scripts and some business systems
    send `/api/v1/procedures?q=ほいく` as raw UTF-8. Gunicorn refuses any byte outside
    printable ASCII there; nginx and most servers accept bytes >= 0x80 (RFC 9112 obs-text
    is about header values, but the same leniency is common for targets). Only bytes
    >= 0x80 are added: control characters and spaces, which matter for request smuggling,
    stay refused. Django decodes the target as UTF-8 itself.
    """
    import re

    from gunicorn.http import message

    message.RFC9112_TARGET_INVALID = re.compile(r"[^\x21-\x7e\x80-\xff]")


class BackgroundWorker:
    """The embedded background process (`tenohira background work`: e-mail, deliveries to
    business systems; core.background) beside the web workers. With BACKGROUND=celery the
    work is done by `tenohira worker` processes instead and this is not started.

    Gunicorn's master reaps every child that exits, this one included, so the process is
    checked on each turn of the master's loop (about once a second) and started again
    when it is gone, at most once every RESTART_PAUSE seconds."""

    RESTART_PAUSE = 5.0

    def __init__(self, log):
        self.log = log
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    def ensure_running(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        if self.process is not None:
            if time.monotonic() - self.started_at < self.RESTART_PAUSE:
                return
            self.log.warning("background worker %s ended; starting it again", self.process.pid)
        command = [sys.executable, "-c", "from tenohira.cli import main; main()", "background", "work"]
        self.process = subprocess.Popen(command)  # noqa: S603 (our own interpreter and fixed arguments)
        self.started_at = time.monotonic()
        self.log.info("background worker started (pid %s)", self.process.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # it finishes the batch it is working on
            try:
                self.process.wait(timeout=30)
            except (subprocess.TimeoutExpired, ChildProcessError):
                self.process.kill()


def run_gunicorn(host: str, port: int, workers: int, *, access_log: bool = True, background_worker: bool = True) -> None:
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    accept_utf8_request_targets()

    from tenohira.config.wsgi import application
    from tenohira.platform.logs import ACCESS_LOG_FORMAT, access_logger_class

    class ServerArbiter(Arbiter):
        background: BackgroundWorker | None = None

        def manage_workers(self):
            super().manage_workers()
            if self.background is not None:
                self.background.ensure_running()

        def stop(self, graceful=True):
            if self.background is not None:
                background, self.background = self.background, None
                background.stop()
            super().stop(graceful)

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", 1)
            self.cfg.set("timeout", 60)
            self.cfg.set("accesslog", "-" if access_log else None)
            # Routes only: no query strings (searches), tokens or codes (platform.logs).
            self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)
            self.cfg.set("logger_class", access_logger_class())
            self.cfg.set("proc_name", "tenohira")

        def load(self):
            return application

        def run(self):
            arbiter = ServerArbiter(self)
            if background_worker:
                arbiter.background = BackgroundWorker(arbiter.log)
            arbiter.run()

    Server().run()
