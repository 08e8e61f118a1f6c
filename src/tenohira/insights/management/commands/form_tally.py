"""tenohira form_tally CODE [--from DATE] [--to DATE] [--status S …] [--cross ROWQ COLQ]
[--split Q] --format json|xlsx|csv|pdf [-o FILE]

The response tally (申込集計表) of a procedure's form, for the command line and for
`tenohira forms tally`, which passes its arguments here by name. It runs with the
operator's rights (whoever can run commands on the server reads every form); the staff
page is where the per-user scoping applies. JSON goes to standard output unless -o names a
file; XLSX and PDF need -o. Counts only: no answer text and no personal data.
"""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

FORMATS = ("json", "xlsx", "csv", "pdf")


class Command(BaseCommand):
    help = "フォームの回答を集計します（申込集計表）。"

    def add_arguments(self, parser):
        parser.add_argument("code", help="手続きの様式ID（手続コード）")
        parser.add_argument("--from", dest="date_from", help="この日以降に送信された回答（2024-04-01）")
        parser.add_argument("--to", dest="date_to", help="この日までに送信された回答（その日を含む）")
        parser.add_argument("--status", dest="statuses", nargs="+", action="extend", default=[],
                            help="集計する状態（既定: 取下げ以外のすべて）")
        parser.add_argument("--cross", nargs=2, metavar=("ROWQ", "COLQ"), help="クロス集計の行と列の質問の key")
        parser.add_argument("--split", help="クロス集計を分割する質問の key")
        parser.add_argument("--format", dest="fmt", choices=FORMATS, default="json")
        parser.add_argument("--encoding", choices=("utf-8", "cp932"), default="utf-8",
                            help="CSV の文字コード（既定: BOM付き UTF-8）")
        parser.add_argument("-o", "--output", help="出力先のファイル（json と csv は省略すると標準出力）")
        parser.add_argument("--method", choices=("database", "python"), help=argparse.SUPPRESS)

    def handle(self, *args, code, date_from, date_to, statuses, cross, split, fmt, encoding, output, method,
               **options):
        from tenohira.applications.models import Submission
        from tenohira.catalog.models import Procedure
        from tenohira.insights import tallies, tally_outputs

        procedure = Procedure.objects.filter(code=code, form__isnull=False).first()
        if procedure is None:
            raise CommandError(f"様式ID「{code}」のフォームはありません。")
        unknown = [s for s in statuses if s not in Submission.Status.values]
        if unknown:
            raise CommandError(f"状態「{'、'.join(unknown)}」はありません。使えるもの: {', '.join(Submission.Status.values)}")
        if fmt in ("xlsx", "pdf") and not output:
            raise CommandError(f"{fmt} は -o で出力先のファイルを指定してください。")
        try:
            scope = tallies.TallyScope(procedure, tallies.parse_date(date_from, "--from"),
                                       tallies.parse_date(date_to, "--to"), statuses or None)
            if scope.date_from and scope.date_to and scope.date_from > scope.date_to:
                raise tallies.TallyError("--from は --to より前の日にしてください。")
            result = tallies.compute(scope, cross=tuple(cross) if cross else None, split=split, method=method)
            if fmt == "json":
                body = (tallies.to_json(result) + "\n").encode("utf-8")
            elif fmt == "csv":
                body = tally_outputs.to_csv(result, encoding)
            else:
                body = None
        except tallies.TallyError as exc:
            raise CommandError(str(exc)) from exc
        if body is None:
            getattr(tally_outputs, f"to_{fmt}")(result, output)
        elif output:
            with open(output, "wb") as handle:
                handle.write(body)
        else:
            raw = getattr(self.stdout._out, "buffer", None)
            if fmt == "csv" and raw is not None:  # CP932 bytes as they are, not re-encoded
                self.stdout.flush()
                raw.write(body)
                raw.flush()
            else:
                self.stdout.write(body.decode("utf-8-sig" if fmt == "csv" and encoding == "utf-8" else "utf-8"),
                                  ending="")
        if output:
            self.stderr.write(f"{output} に書き出しました（回答 {result['header']['responses']:,}件）。")

