"""`tenohira demo`: prepare the demo city (サンプル市) and serve it.

Safe to run again: migrations are idempotent, the catalog import changes nothing when
the file has not changed, and demo accounts are reset to the printed passwords.
"""

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tenohira.catalog.management.commands.serve import run_gunicorn
from tenohira.catalog.services import ImportRejected, import_catalog

DEMO_CATALOG = Path(__file__).resolve().parents[2] / "demo" / "sample_city.csv"
DEMO_FORMS = Path(__file__).resolve().parents[3] / "forms" / "demo"

# Demo-only accounts; the passwords are printed on purpose and work only on the demo's
# own database (settings keep the demo in a separate data directory).
DEMO_ACCOUNTS = [
    ("dx-admin", "tenohira-demo-dx", "DX管理者", "手続カタログ・検索の言い換えの管理"),
]


class Command(BaseCommand):
    help = "デモ用の市（サンプル市）を用意して起動します。"

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--no-serve", action="store_true", help="準備だけして起動しない")

    def handle(self, *args, port, host, no_serve, **options):
        if not settings.DEMO:
            raise CommandError("tenohira demo は TENOHIRA_DEMO を有効にして実行してください（tenohira コマンドが自動で行います）。")
        self.stdout.write(f"データの保存先: {settings.DATA_DIR}")
        call_command("migrate", interactive=False, verbosity=0)
        try:
            result = import_catalog(DEMO_CATALOG)
        except ImportRejected as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"サンプル市の手続カタログ: {result.summary()}")
        self._forms()
        self._accounts()

        url = f"http://{host}:{port}/"
        self.stdout.write("")
        self.stdout.write(f"  住民向けページ:   {url}")
        self.stdout.write(f"  手続き検索 API:   {url}api/v1/procedures?q=ほいく")
        self.stdout.write(f"  API 仕様 (OpenAPI): {url}api/v1/schema/")
        self.stdout.write(f"  管理画面:         {url}admin/")
        for username, password, role, purpose in DEMO_ACCOUNTS:
            self.stdout.write(f"  デモアカウント:   {username} / {password}（{role}: {purpose}）")
        self.stdout.write("")
        if no_serve:
            return
        self.stdout.write("Ctrl+C で終了します。")
        run_gunicorn(host, port, workers=2, access_log=False)

    def _forms(self):
        import json

        from tenohira.catalog.models import Procedure
        from tenohira.forms.services import publish

        published = []
        for path in sorted(DEMO_FORMS.glob("*.json")):
            procedure = Procedure.objects.get(code=path.stem)
            version, created = publish(procedure, json.loads(path.read_text(encoding="utf-8")))
            published.append(f"{procedure.name}（第{version.number}版{'、新規' if created else ''}）")
        self.stdout.write(f"オンライン申請フォーム {len(published)} 件: {'、'.join(published)}")

    @transaction.atomic
    def _accounts(self):
        group, _ = Group.objects.get_or_create(name="DX管理者")
        group.permissions.set(Permission.objects.filter(content_type__app_label__in=["catalog", "forms"]))
        User = get_user_model()
        for username, password, role, _purpose in DEMO_ACCOUNTS:
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = True
            user.is_active = True
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=role))
