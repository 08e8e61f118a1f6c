"""`tenohira background work|sweep`: the embedded background process (BACKGROUND=embedded)."""

import signal
import threading

from django.core.management.base import BaseCommand

from tenohira.core import background


class Command(BaseCommand):
    help = (
        "バックグラウンド処理（メール送信、業務システムへの連携など）を行います。"
        "work: 常駐して期限の来たものを処理し続ける（BACKGROUND=embedded のとき tenohira serve が起動します）。"
        "sweep: 期限の来たものを今すぐ一度だけ処理する（cron などから）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["work", "sweep"])
        parser.add_argument("--interval", type=float, default=None,
                            help="work: 処理するものがないときに次に確かめるまでの秒数（既定 BACKGROUND_POLL_SECONDS、1 秒）")

    def handle(self, *args, action, interval, **options):
        if action == "sweep":
            for name, turns in background.run_sweeps_once().items():
                self.stdout.write(f"{name}: {turns} 回")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())  # the sweep in progress finishes its batch
        background.run_sweeps_forever(stop, poll=interval)
