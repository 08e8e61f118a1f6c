"""`tenohira retention purge`: dispose of applications past their retention period (保存年限).

A dry run unless --apply is given: it prints what would go. --today moves the clock (a
rehearsal of next April's disposal, tests, the demo). Run it yearly after 1 April, or more
often: it only ever removes what is past its period and not on legal hold.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tenohira.applications import retention
from tenohira.core.fiscal import JST


class Command(BaseCommand):
    help = "保存年限を過ぎた申請（添付ファイル・メール・履歴を含む）を廃棄します。既定は試行のみです。"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["purge"])
        parser.add_argument("--apply", action="store_true", help="実際に削除する（指定しなければ対象を表示するだけ）")
        parser.add_argument("--today", help="基準日 YYYY-MM-DD（既定: 今日）")
        parser.add_argument(
            "--batch-size", type=int, default=retention.DEFAULT_BATCH_SIZE, help="1回のトランザクションで削除する申請の数"
        )

    def handle(self, *args, action, apply, today, batch_size, **options):
        if today:
            try:
                day = dt.date.fromisoformat(today)
            except ValueError:
                raise CommandError(f"--today「{today}」は日付（例: 2031-04-01）ではありません。") from None
        else:
            day = timezone.now().astimezone(JST).date()
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size は 1 から 10000 までの数にしてください。")
        report = retention.purge(day, apply=apply, batch_size=batch_size)
        for line in report.lines():
            self.stdout.write(line)
