from django.core.management.base import BaseCommand, CommandError

from tenohira.audit.services import verify


class Command(BaseCommand):
    help = "監査ログの改ざん検知（ハッシュチェーンの検証）。"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args, **options):
        result = verify()
        if not result.ok:
            raise CommandError(f"監査ログの検証に失敗しました: {result.problem}（{result.checked} 件目まで正常）")
        self.stdout.write(f"監査ログは正常です（{result.checked} 件を検証）。")
