"""`tenohira identity purge`: delete expired e-mail codes and nonces, and dormant accounts
with nothing left in their マイページ (identity.retention). A dry run unless --apply."""

from django.core.management.base import BaseCommand

from tenohira.identity import retention


class Command(BaseCommand):
    help = "期限切れのメール確認コード・ノンスと、休眠した利用者を削除します。既定は試行のみです。"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["purge"])
        parser.add_argument("--apply", action="store_true", help="実際に削除する（指定しなければ件数を表示するだけ）")

    def handle(self, *args, action, apply, **options):
        for line in retention.purge(apply=apply).lines():
            self.stdout.write(line)
