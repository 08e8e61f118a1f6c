from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenohira.integrations.transfer import keys
from tenohira.integrations.transfer.bundle import Refused


class Command(BaseCommand):
    help = (
        "ネットワークの分離された環境の間で申請と状態を受け渡します（docs/transfer.md）。"
        "keys: 鍵を作る。export: 申請を束にする（インターネット側）。import: 束を取り込む（LGWAN側）。"
        "export-status: 状態を束にする（LGWAN側）。import-status: 状態の束を取り込む（インターネット側）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["keys", "export", "import", "export-status", "import-status"])
        parser.add_argument("bundle", nargs="?", help="import / import-status: 取り込む束のファイル")
        parser.add_argument("--to", help="export / export-status: 束を書き出すフォルダ")
        parser.add_argument("--out", help="keys: 鍵を書き出すフォルダ")
        parser.add_argument("--side", choices=["intake", "inside", "both"], default="both",
                            help="keys: どちら側の鍵を作るか（intake: インターネット側、inside: LGWAN側）")
        parser.add_argument("--limit", type=int, help="export: 一つの束に入れる件数の上限")

    def handle(self, *args, action, bundle, to, out, side, limit, **options):
        try:
            self._run(action, bundle, to, out, side, limit)
        except keys.KeyProblem as problem:
            raise CommandError(str(problem)) from None
        except Refused as refused:
            raise CommandError(f"取り込みませんでした: {refused}" if action.startswith("import")
                               else f"書き出しませんでした: {refused}") from None

    def _run(self, action, bundle, to, out, side, limit):
        if action == "keys":
            if not out:
                raise CommandError("--out で鍵を書き出すフォルダを指定してください。")
            for path in keys.generate(Path(out), side):
                self.stdout.write(f"{path}{'（秘密鍵: この環境から出さないでください）' if path.suffix == '.key' else ''}")
            return
        if action in ("export", "export-status"):
            if not to:
                raise CommandError("--to で束を書き出すフォルダを指定してください。")
            if action == "export":
                from tenohira.integrations.transfer.export import DEFAULT_LIMIT, export

                done = export(Path(to), limit=limit or DEFAULT_LIMIT)
                if done is None:
                    self.stdout.write("送り出す申請はありません。")
                    return
                self.stdout.write(
                    f"束 {done.path.name}（番号 {done.sequence}）: 申請 {done.items} 件、添付 {done.attachments} 件"
                    f"（うち無害化できず持ち込まないもの {done.withheld} 件）"
                )
                return
            from tenohira.integrations.transfer.status import DEFAULT_LIMIT, export_status

            done = export_status(Path(to), limit=limit or DEFAULT_LIMIT)
            if done is None:
                self.stdout.write("送り出す状態の変更はありません。")
                return
            self.stdout.write(f"束 {done.path.name}（番号 {done.sequence}）: 状態の変更 {done.items} 件")
            return
        if not bundle:
            raise CommandError("取り込む束のファイルを指定してください（例: tenohira transfer import 受け渡し/tenohira-submissions-00000001.tnhb）。")
        if action == "import":
            from tenohira.integrations.transfer.importer import import_bundle

            done = import_bundle(Path(bundle))
            self.stdout.write(f"束 番号 {done.sequence} を取り込みました: 申請 {done.items} 件、添付 {done.attachments} 件")
            return
        from tenohira.integrations.transfer.status import import_status

        done = import_status(Path(bundle))
        self.stdout.write(f"束 番号 {done.sequence} を取り込みました: 状態の変更 {done.items} 件")
