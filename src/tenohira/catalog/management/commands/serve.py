"""`tenohira serve [--port N]`: the production WSGI server (gunicorn)."""

import os

from django.core.management.base import BaseCommand


def run_gunicorn(host: str, port: int, workers: int, *, access_log: bool = True) -> None:
    from gunicorn.app.base import BaseApplication

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
