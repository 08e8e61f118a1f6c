"""`tenohira catalog import FILE` / `tenohira catalog export FILE|-`."""

from django.core.management.base import BaseCommand, CommandError

from tenohira.catalog.services import ImportRejected, export_catalog, import_catalog
from tenohira.core.tabular import TableError


class Command(BaseCommand):
    help = "手続カタログの取り込み（CSV/XLSX）と書き出し。列の説明は docs/catalog-import.md。"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="CSV（UTF-8 / BOM付き / CP932）または XLSX を取り込む")
        imp.add_argument("file")
        exp = sub.add_parser("export", help="取り込みと同じ形式で書き出す（- で標準出力）")
        exp.add_argument("file")
        exp.add_argument(
            "--encoding", choices=["utf-8-sig", "utf-8", "cp932"], default="utf-8-sig",
            help="CSV の文字コード（既定: BOM 付き UTF-8。Excel でそのまま開けます）",
        )

    def handle(self, *args, action, file, **options):
        if action == "import":
            try:
                result = import_catalog(file)
            except ImportRejected as exc:
                for error in exc.errors:
                    self.stderr.write(str(error))
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"取り込みました（{result.source_format}）: {result.summary()}")
        else:
            try:
                count = export_catalog(file, encoding=options["encoding"])
            except (TableError, OSError) as exc:
                raise CommandError(str(exc)) from exc
            if file != "-":
                self.stdout.write(f"{count} 件の手続きを書き出しました: {file}")
