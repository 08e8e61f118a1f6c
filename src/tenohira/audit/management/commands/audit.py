from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenohira.audit import anchors
from tenohira.audit.services import anchor_now, verify


class Command(BaseCommand):
    help = "監査ログの検証（verify）と、最新の状態の外部への記録（anchor）。"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify", "anchor"])
        parser.add_argument(
            "--anchors", action="append", default=[], metavar="FILE",
            help="AUDIT_ANCHOR_FILE のほかに照合するアンカー（syslog から集めた行など）。",
        )

    def handle(self, *args, **options):
        if options["action"] == "anchor":
            anchor = anchor_now()
            if anchor is None:
                self.stdout.write("監査ログはまだ空です。")
            else:
                self.stdout.write(f"{anchor.count} 件目までを {anchors.path()} に記録しました。")
            return
        result = verify([Path(name) for name in options["anchors"]])
        if not result.ok:
            raise CommandError(f"監査ログの検証に失敗しました（{result.check}）: {result.problem}（{result.checked} 件目まで正常）")
        self.stdout.write(f"監査ログは正常です（{result.checked} 件を検証、外部のアンカー {result.anchors} 件と一致）。")
