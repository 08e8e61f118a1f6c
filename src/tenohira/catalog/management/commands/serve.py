"""`tenohira serve [--port N]`: the production WSGI server (gunicorn)."""

import os

from django.core.management.base import BaseCommand


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


def run_gunicorn(host: str, port: int, workers: int, *, access_log: bool = True) -> None:
    from gunicorn.app.base import BaseApplication

    accept_utf8_request_targets()

    from tenohira.config.wsgi import application

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", 1)
            self.cfg.set("timeout", 60)
            self.cfg.set("accesslog", "-" if access_log else None)
            self.cfg.set("proc_name", "tenohira")

        def load(self):
            return application

    Server().run()


class Command(BaseCommand):
    help = "本番用の WSGI サーバー（gunicorn）で起動します。"

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("TENOHIRA_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", (os.cpu_count() or 1) * 2 + 1))
        )

    def handle(self, *args, host, port, workers, **options):
        self.stdout.write(f"http://{host}:{port}/ で待ち受けます（workers={workers}）")
        run_gunicorn(host, port, workers)
