from django.core.management.base import BaseCommand

from tenohira.core.outbox import deliver_pending


class Command(BaseCommand):
    help = "送信待ちのメールを送ります（失敗したものの再送）。cron などから定期的に実行します。"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["send"])

    def handle(self, *args, **options):
        sent, failed = deliver_pending()
        self.stdout.write(f"送信 {sent} 件、失敗 {failed} 件")
