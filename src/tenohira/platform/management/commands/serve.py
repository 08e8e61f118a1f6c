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
            "--no-background-worker", "--no-outbox-worker", dest="no_background_worker", action="store_true",
            help="バックグラウンド処理のプロセス（tenohira background work: メール送信、業務システムへの連携）を"
                 "起動しません（別のサービスとして動かすとき）。BACKGROUND=celery では起動しません（tenohira worker が行います）",
        )

    def handle(self, *args, host, port, workers, no_background_worker, **options):
        # With Celery, `tenohira worker` processes do the background work.
        background_worker = settings.BACKGROUND != "celery" and not no_background_worker
        note = "、バックグラウンド処理のプロセスあり" if background_worker else ""
        self.stdout.write(f"http://{host}:{port}/ で待ち受けます（workers={workers}{note}）")
        run_gunicorn(host, port, workers, background_worker=background_worker)
