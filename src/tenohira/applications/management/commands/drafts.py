"""`tenohira drafts purge`: delete drafts past their expiry (never submitted) and their files.

Personal data is kept only as long as needed; run this daily (cron or Celery beat).
"""

from django.core.management.base import BaseCommand

from tenohira.applications.services import purge_expired_drafts


class Command(BaseCommand):
    help = "期限切れの入力中の申請（未送信）と、その添付ファイルを削除します。"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["purge"])

    def handle(self, *args, **options):
        drafts, files = purge_expired_drafts()
        self.stdout.write(f"期限切れの入力中の申請 {drafts} 件と添付ファイル {files} 件を削除しました。")
