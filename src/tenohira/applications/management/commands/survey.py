"""`tenohira survey import-responses CODE FILE [--dry-run]`: paper answers of a survey
(アンケート), keyed in Excel, imported all or nothing (applications.survey_import)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tenohira.applications import survey_import
from tenohira.audit.services import record
from tenohira.catalog.models import Procedure


class Command(BaseCommand):
    help = "紙で回答されたアンケートを CSV / XLSX から取り込みます（1行でも誤りがあれば1件も取り込みません）。"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["import-responses"])
        parser.add_argument("code", help="アンケートの手続ID（様式ID）")
        parser.add_argument("file", help="CSV（UTF-8 / Shift_JIS）または XLSX")
        parser.add_argument("--dry-run", action="store_true", help="確認だけして、取り込みません")

    def handle(self, *args, action, code, file, dry_run, **options):
        procedure = Procedure.objects.select_related("form").filter(code=code).first()
        if procedure is None:
            raise CommandError(f"手続ID「{code}」の手続きはありません。")
        path = Path(file)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise CommandError(f"ファイルを開けません: {exc.strerror}") from exc
        if size > survey_import.MAX_BYTES:  # refused before the file is read
            raise CommandError(f"ファイルが大きすぎます（{survey_import.MAX_BYTES // (1024 * 1024)}MB まで）。")
        with transaction.atomic():
            try:
                outcome = survey_import.import_responses(procedure, path.read_bytes(), filename=path.name,
                                                         dry_run=dry_run)
            except survey_import.ImportRefused as exc:
                raise CommandError(str(exc)) from exc
            if outcome.ok and not dry_run:
                record("survey.import_responses", target=procedure.code,
                       detail={"file": path.name, "imported": outcome.imported, "via": "command"})
        if not outcome.ok:
            for problem in outcome.problems:
                self.stderr.write(str(problem))
            if outcome.more_problems:
                self.stderr.write(f"ほかに {outcome.more_problems} 件の誤りがあります。")
            raise CommandError(f"誤りが {len(outcome.problems) + outcome.more_problems} 件あります。1件も取り込んでいません。")
        if dry_run:
            self.stdout.write(f"{outcome.imported} 件の回答に誤りはありません（確認のみ。取り込んでいません）。")
        else:
            self.stdout.write(f"{outcome.imported} 件の回答を取り込みました。")
