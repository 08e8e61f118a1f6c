"""`tenohira serve [--port N]`: the production WSGI server (gunicorn)."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand

from tenohira.platform.server import run_gunicorn


class Command(BaseCommand):
    help = "本番用の WSGI サーバー（gunicorn）で起動します。"

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("TENOHIRA_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", (os.cpu_count() or 1) * 2 + 1))
        )
        parser.add_argument(
            "--no-outbox-worker", action="store_true",
            help="メール送信プロセス（tenohira outbox work）を起動しません（別のサービスとして動かすとき）",
        )

    def handle(self, *args, host, port, workers, no_outbox_worker, **options):
        # The delivery process is needed only when requests leave their e-mails to it.
        outbox_worker = settings.OUTBOX_DELIVERY == "worker" and not no_outbox_worker
        note = "、メール送信プロセスあり" if outbox_worker else ""
        self.stdout.write(f"http://{host}:{port}/ で待ち受けます（workers={workers}{note}）")
        run_gunicorn(host, port, workers, outbox_worker=outbox_worker)
