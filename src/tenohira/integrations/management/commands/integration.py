"""`tenohira integration client create|list|deactivate`: the business systems that use the
pull API (連携API). The API key and the client secret are printed once, at creation, and
never again (only their hashes are kept)."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from tenohira.catalog.models import Section
from tenohira.integrations import api_auth
from tenohira.integrations.models import IntegrationClient


class Command(BaseCommand):
    help = "連携API を使う業務システム（クライアント）を登録・一覧・無効化します。"

    def add_arguments(self, parser):
        parser.add_argument("subject", choices=["client"])
        parser.add_argument("action", choices=["create", "list", "deactivate"])
        parser.add_argument("--name", help="業務システムの名前（create）")
        parser.add_argument("--section", action="append", default=[],
                            help="読み書きできる所属の名前または ID（複数指定できます）")
        parser.add_argument("--scope", action="append", default=[],
                            help=f"権限（複数指定できます）: {', '.join(api_auth.SCOPES)}")
        parser.add_argument("--client-id", help="無効にするクライアントの client_id（deactivate）")

    def handle(self, *args, subject, action, **options):
        getattr(self, f"_{action}")(**options)

    def _create(self, *, name, section, scope, **options):
        if not name:
            raise CommandError("--name で業務システムの名前を指定してください。")
        sections = []
        for value in section:
            found = Section.objects.filter(Q(name=value) | Q(pk=int(value)) if value.isdigit() else Q(name=value))
            if found.count() != 1:
                raise CommandError(f"所属「{value}」が{'見つかりません' if not found else '複数あります（ID で指定してください）'}。")
            sections.append(found.get())
        try:
            made = api_auth.create_client(name=name, sections=sections, scopes=scope)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"業務システム「{made.client.name}」を登録しました（所属: {'、'.join(s.name for s in sections)}、"
                          f"権限: {' '.join(made.client.scopes)}）。")
        self.stdout.write("次の値は今だけ表示します。業務システムの設定に安全に保管してください。")
        self.stdout.write(f"APIキー: {made.api_key}")
        self.stdout.write(f"client_id: {made.client.client_id}")
        self.stdout.write(f"client_secret: {made.client_secret}")

    def _list(self, **options):
        for client in IntegrationClient.objects.prefetch_related("sections").order_by("pk"):
            state = "有効" if client.is_active else "無効"
            self.stdout.write(
                f"{client.client_id}\t{client.name}\t{state}\t{client.api_key_prefix}…\t"
                f"{'、'.join(s.name for s in client.sections.all())}\t{' '.join(client.scopes)}"
            )

    def _deactivate(self, *, client_id, **options):
        updated = IntegrationClient.objects.filter(client_id=client_id or "").update(is_active=False)
        if not updated:
            raise CommandError("その client_id のクライアントはありません。tenohira integration client list で確かめてください。")
        self.stdout.write("無効にしました。APIキーもアクセストークンも使えなくなります。")
