import logging
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from tenohira.core import outbox

logger = logging.getLogger("tenohira.outbox")


class Command(BaseCommand):
    help = (
        "送信待ちのメールを送ります。send: 送信時刻が来たものを今すぐ送る（cron などから）。"
        "work: 常駐して数件ずつまとめて送り続ける（メールだけ。tenohira serve はメールも連携も行う tenohira background work を起動します）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["send", "work"])
        parser.add_argument("--interval", type=float, default=1.0,
                            help="work: 送るものがないときに次に確かめるまでの秒数（既定 1 秒）")

    def handle(self, *args, action, interval, **options):
        if action == "send":
            sent, failed = outbox.deliver_pending()
            self.stdout.write(f"送信 {sent} 件、失敗 {failed} 件")
            return
        self.work(interval)

    def work(self, interval: float) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        logger.info("outbox worker started (every %.1f s when idle)", interval)
        while not stop.is_set():
            try:
                sent, failed = outbox.deliver_batch()
            except Exception:  # the database went away: log, wait, try again with a new connection
                logger.exception("outbox worker: delivery failed")
                sent = failed = 0
                close_old_connections()
            else:
                close_old_connections()  # drops a connection that broke or exceeded CONN_MAX_AGE
            if sent or failed:
                logger.info("outbox worker: sent %s, failed %s", sent, failed)
            if sent + failed < outbox.BATCH_SIZE:
                stop.wait(interval)  # a full batch means more is waiting: go on at once
        logger.info("outbox worker stopped")
