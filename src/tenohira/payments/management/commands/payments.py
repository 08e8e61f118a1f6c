"""`tenohira payments …`: the 会計管理者's work from the command line.

    tenohira payments import-settlement FILE --provider NAME [--dry-run]
    tenohira payments export-receipts --from 2026-12-01 --to 2026-12-31 -o FILE
    tenohira payments daily-report --date 2026-12-01 --format pdf|xlsx -o FILE

A refused import or export prints every reason and exits 1 with nothing changed or written.
"""

from __future__ import annotations

import os
import tempfile

from django.core.management.base import BaseCommand, CommandError

from tenohira.core.wareki import WarekiError, parse_date


def _date(text: str):
    try:
        return parse_date(text)
    except WarekiError as exc:
        raise CommandError(str(exc)) from exc


def _write(path: str, data: bytes) -> None:
    """Written under a temporary name and renamed: never a half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tenohira-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class Command(BaseCommand):
    help = "手数料の消込（入金明細の取込み）、収納データの書き出し、日計表の作成。"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        settle = sub.add_parser("import-settlement", help="決済事業者の入金明細を取り込んで消込する")
        settle.add_argument("file", help="入金明細のファイル")
        settle.add_argument("--provider", required=True, help="支払い方法の名前（stripe_card、konbini など）")
        settle.add_argument("--dry-run", action="store_true", help="照合の結果だけを表示し、何も記録しない")
        receipts = sub.add_parser("export-receipts", help="収納データ（CP932 の CSV）を書き出す")
        receipts.add_argument("--from", dest="date_from", required=True, help="収納日の初日")
        receipts.add_argument("--to", dest="date_to", required=True, help="収納日の末日")
        receipts.add_argument("-o", "--output", required=True, help="出力先ファイル")
        daily = sub.add_parser("daily-report", help="日計表（歳入科目ごと）を PDF または XLSX で作る")
        daily.add_argument("--date", required=True, help="収納日")
        daily.add_argument("--format", choices=["pdf", "xlsx"], default="pdf")
        daily.add_argument("-o", "--output", required=True, help="出力先ファイル")

    def handle(self, *args, action, **options):
        if action == "import-settlement":
            return self._import(options["file"], options["provider"], options["dry_run"])
        if action == "export-receipts":
            return self._receipts(_date(options["date_from"]), _date(options["date_to"]), options["output"])
        return self._daily(_date(options["date"]), options["format"], options["output"])

    def _import(self, path: str, provider: str, dry_run: bool) -> None:
        from tenohira.payments import reconcile

        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise CommandError(f"ファイルを開けません: {path}（{exc.strerror}）") from exc
        if size > reconcile.MAX_BYTES:
            raise CommandError(f"ファイルが大きすぎます。{reconcile.MAX_BYTES // 1024 // 1024} MB までです。")
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            record = reconcile.import_settlement(data, provider=provider, file_name=os.path.basename(path),
                                                 dry_run=dry_run)
        except reconcile.SettlementRefused as refused:
            raise CommandError("取り込めませんでした:\n" + "\n".join(f"  {p}" for p in refused.problems)) from refused
        counts = reconcile.summary(record)
        head = "（試行: 何も記録していません）" if dry_run else f"（取込み #{record.pk}）"
        self.stdout.write(f"入金明細 {record.lines} 行{head}: 消込 {record.matched} 件")
        for kind in reconcile.KINDS:
            self.stdout.write(f"  {reconcile.KIND_LABELS[kind]} {counts[kind]} 件")
        for kind in reconcile.KINDS:
            for entry in record.report.get(kind, []):
                self.stdout.write(
                    f"{entry['line']}行目 [{reconcile.KIND_LABELS[kind]}] 取引ID {entry['transaction_id']} "
                    f"{entry['amount']} 円 入金日 {entry['settled_on']}: {entry['message']}"
                )

    def _receipts(self, date_from, date_to, output: str) -> None:
        from tenohira.payments.exports import ExportRefused, receipts_csv

        try:
            data, count = receipts_csv(date_from, date_to)
        except ExportRefused as refused:
            raise CommandError("書き出せませんでした:\n" + "\n".join(f"  {p}" for p in refused.problems)) from refused
        _write(output, data)
        self.stdout.write(f"収納データ {count} 件（{date_from.isoformat()}〜{date_to.isoformat()}）を {output} に書き出しました。")

    def _daily(self, day, fmt: str, output: str) -> None:
        from tenohira.payments import daily

        report = daily.summary(day)
        _write(output, daily.to_pdf(report) if fmt == "pdf" else daily.to_xlsx(report))
        total = report["total"]
        self.stdout.write(
            f"日計表 {day.isoformat()}: 収納 {total['count']} 件 {total['amount']:,} 円、"
            f"還付 {total['refund_count']} 件 {total['refund_amount']:,} 円、差引 {total['net']:,} 円 → {output}"
        )
