"""`tenohira insights …`: the DX division's imports and the headquarters report.

    tenohira insights import-inventory FILE [--fy 2023]
    tenohira insights import-applications FILE
    tenohira insights import-pos FILE
    tenohira insights import-printouts FILE
    tenohira insights import-savings FILE [--fy 2023]
    tenohira insights report [--fy 2023 | --year 2023 | --from 2023-11-06 --to 2023-11-30]
                             --format json|xlsx|pdf|html|csv [--output FILE|-]

Every import is all-or-nothing (tenohira.insights.imports.<area>.import_file): a file with
problems prints every problem with its row and column and exits 1, applying nothing.
The report's JSON shape is documented in docs/insights-report.md.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import tempfile

from django.core.management.base import BaseCommand, CommandError

from tenohira.catalog.services import ImportRejected
from tenohira.core.fiscal import JST
from tenohira.core.wareki import WarekiError, parse_date

# subcommand → (module under tenohira.insights.imports, its year option or None, help)
IMPORTS = {
    "import-inventory": ("inventory", "fy", "手続棚卸（部局計または手続ごと）を取り込む。部局計は --fy が必須"),
    "import-applications": ("applications", None, "他の電子申請システムの申請記録（手続名・申請日時・経路）を取り込む"),
    "import-pos": ("pos", "year", "POS の取引（日時・施設・料金項目・金額・支払方法）または施設別の実績を取り込む。年の列がない施設別実績は --year が必須"),
    "import-printouts": ("printouts", None, "部局別の印刷枚数を取り込む"),
    "import-savings": ("savings", "fy", "業務削減時間の取組を取り込む（年度の列がなければ --fy が必須）"),
}
FORMATS = ["json", "xlsx", "pdf", "html", "csv"]


def _date(text: str):
    try:
        return parse_date(text)
    except WarekiError as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = "DX の取り込み（手続棚卸・申請記録・POS・印刷枚数・業務削減時間）と本部会報告の作成。"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        for name, (_module, year_option, text) in IMPORTS.items():
            command = sub.add_parser(name, help=text)
            command.add_argument("file", help="CSV（UTF-8 / BOM付き / CP932）または XLSX")
            if year_option == "fy":
                command.add_argument("--fy", type=int, dest="fiscal_year", help="年度（例: 2023 = 令和5年度）")
            elif year_option == "year":
                command.add_argument("--year", type=int, help="暦年（例: 2023）")
        rebuild = sub.add_parser("rebuild", help="日別の申請件数（集計表）を申請の記録から作り直す（導入時・修復用）")
        rebuild.add_argument("--from", dest="date_from", help="初日（省略で最初から）")
        rebuild.add_argument("--to", dest="date_to", help="末日（省略で最後まで）")
        typical = sub.add_parser("typical-congestion", help=(
            "窓口のいつもの混み具合（曜日・時間帯ごと）を POS の取引と窓口の申請記録から計算する"
            "（import-pos の後は自動で計算します）"))
        typical.add_argument("--counter", action="append", dest="codes", metavar="CODE", help="窓口コード（省略ですべて）")
        typical.add_argument("--from", dest="date_from", help="初日（省略で最後の記録から365日前）")
        typical.add_argument("--to", dest="date_to", help="末日（省略で最後の記録の日）")
        report = sub.add_parser("report", help="本部会報告を作る（JSON の形は docs/insights-report.md）")
        period = report.add_mutually_exclusive_group()
        period.add_argument("--fy", type=int, dest="fiscal_year", help="年度（既定: 今年度）")
        period.add_argument("--year", type=int, help="暦年（キャッシュレスは暦年で報告することが多い）")
        period.add_argument("--from", dest="date_from", help="期間の初日（--to と一緒に）")
        report.add_argument("--to", dest="date_to", help="期間の末日")
        report.add_argument("--format", choices=FORMATS, default="json")
        report.add_argument("--output", "-o", default="-", help="出力先ファイル（- で標準出力。xlsx/pdf はファイルが必要）")

    def handle(self, *args, action, **options):
        if action == "report":
            return self._report(**options)
        if action == "typical-congestion":
            return self._typical(**options)
        if action == "rebuild":
            from tenohira.insights.aggregates import rebuild

            date_from = _date(options["date_from"]) if options.get("date_from") else None
            date_to = _date(options["date_to"]) if options.get("date_to") else None
            done = rebuild(date_from, date_to)
            self.stdout.write(f"日別の申請件数を作り直しました: {done['rows']} 行（申請 {done['applications']} 件）")
            return None
        return self._import(action, **options)

    def _import(self, action, *, file, fiscal_year=None, year=None, **options):
        module_name, year_option, _text = IMPORTS[action]
        full_name = f"tenohira.insights.imports.{module_name}"
        try:
            module = importlib.import_module(full_name)
        except ModuleNotFoundError as exc:
            if exc.name != full_name:
                raise
            raise CommandError(f"{action} はこの版ではまだ使えません（{full_name} がありません）。") from exc
        kwargs = {"fy": {"fiscal_year": fiscal_year}, "year": {"year": year}, None: {}}[year_option]
        try:
            result = module.import_file(file, **kwargs)
        except ImportRejected as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(str(exc)) from exc
        summary = result.summary() if hasattr(result, "summary") else str(result)
        source = getattr(result, "source_format", "")
        self.stdout.write(f"取り込みました{f'（{source}）' if source else ''}: {summary}")
        if action == "import-pos":
            # New transactions change the counters' usual congestion (窓口の混雑状況).
            self._typical()

    def _typical(self, *, codes=None, date_from=None, date_to=None, **options):
        from tenohira.insights.congestion import compute
        from tenohira.reservations.models import Counter

        if bool(date_from) != bool(date_to):
            raise CommandError("期間は --from と --to の両方を指定してください。")
        counters = None
        if codes:
            counters = list(Counter.objects.filter(code__in=codes))
            unknown = sorted(set(codes) - {c.code for c in counters})
            if unknown:
                raise CommandError(f"窓口コード {', '.join(unknown)} はありません。")

        def moment(text: str, *, end: bool = False) -> dt.datetime:
            day = _date(text) + dt.timedelta(days=1 if end else 0)
            return dt.datetime.combine(day, dt.time(0, 0), tzinfo=JST)

        start = moment(date_from) if date_from else None
        end = moment(date_to, end=True) if date_to else None
        for result in compute(counters, start=start, end=end):
            if result.rows:
                self.stdout.write(f"窓口の混み具合 {result.counter.name}: {result.rows} 時間帯（{result.basis}）")
            else:
                self.stdout.write(f"窓口の混み具合 {result.counter.name}: 記録がないため変更しません")

    def _report(self, *, fiscal_year, year, date_from, date_to, format, output, **options):
        from tenohira.insights.report import PeriodError, build

        if date_to is not None and date_from is None:
            raise CommandError("期間は --from と --to の両方を指定してください。")
        try:
            report = build(
                fiscal_year=fiscal_year, year=year,
                date_from=_date(date_from) if date_from else None,
                date_to=_date(date_to) if date_to else None,
            )
        except PeriodError as exc:
            raise CommandError(str(exc)) from exc

        if format == "json":
            self._write_text(output, json.dumps(report, ensure_ascii=False, indent=2) + "\n")
            return
        if output == "-" and format in ("xlsx", "pdf"):
            raise CommandError(f"{format} 形式は --output でファイルを指定してください。")
        from tenohira.insights import render  # reportlab and openpyxl only when needed

        function = {"xlsx": render.to_xlsx, "pdf": render.to_pdf, "html": render.to_html,
                    "csv": render.to_open_data_csv}[format]
        if format == "html":
            self._write_text(output, function(report))
            return
        if output == "-":
            with tempfile.TemporaryDirectory() as directory:
                path = os.path.join(directory, "report.csv")
                function(report, path)
                with open(path, encoding="utf-8-sig") as fh:
                    self.stdout.write(fh.read(), ending="")
            return
        function(report, output)
        self.stderr.write(f"書き出しました: {output}")

    def _write_text(self, output: str, text: str) -> None:
        if output == "-":
            self.stdout.write(text, ending="")
            return
        directory = os.path.dirname(os.path.abspath(output))
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tenohira-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, output)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        self.stderr.write(f"書き出しました: {output}")
