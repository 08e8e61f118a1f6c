"""`tenohira worker`: a Celery worker for BACKGROUND=celery, with the periodic sweeps."""

import os
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from tenohira.core import background


class Command(BaseCommand):
    help = "Celery のワーカーを起動します（BACKGROUND=celery のとき。ブローカーは CELERY_BROKER_URL の Redis）。"

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("WORKER_CONCURRENCY", "0")) or None,
                            help="同時に実行するタスクの数（既定: CPU の数）")
        parser.add_argument("--queues", default="",
                            help="受け持つキュー（カンマ区切り。既定: CELERY_TASK_DEFAULT_QUEUE）")
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args, concurrency, queues, loglevel, **options):
        if background.mode() != background.CELERY:
            raise CommandError(_(
                "BACKGROUND が celery ではありません（今は %(mode)s）。Celery のワーカーを使うには環境変数 "
                "BACKGROUND=celery と CELERY_BROKER_URL（Redis）を設定してください。embedded のままなら、"
                "バックグラウンド処理は tenohira serve が自分で起動します。"
            ) % {"mode": background.mode()})
        from tenohira.config.celery import app, register_tasks

        self.check_broker(app)
        register_tasks(app)
        argv = ["worker", f"--loglevel={loglevel}", f"--hostname=tenohira@{socket.gethostname()}.{os.getpid()}",
                f"--queues={queues or settings.CELERY_TASK_DEFAULT_QUEUE}", "--without-gossip", "--without-mingle"]
        if concurrency:
            argv.append(f"--concurrency={concurrency}")
        app.worker_main(argv)

    def check_broker(self, app) -> None:
        connection = app.connection_for_read()
        try:
            connection.ensure_connection(max_retries=1, timeout=5)
        except Exception as exc:
            raise CommandError(_(
                "ブローカー（CELERY_BROKER_URL: %(url)s）に接続できません（%(error)s）。Redis が起動しているか、"
                "アドレスとポートが正しいかを確かめてください。"
            ) % {"url": connection.as_uri(), "error": type(exc).__name__}) from exc
        finally:
            connection.release()
