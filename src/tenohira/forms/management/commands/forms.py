"""`tenohira forms export|import|templates|tally`: form files on the command line.

    tenohira forms export CODE [-o FILE] [--working]
    tenohira forms import CODE FILE [--publish]
    tenohira forms templates
    tenohira forms tally …            (everything after `tally` goes to `form_tally`)

A file is read by forms.interchange.load, which refuses with every reason; the command
prints them all and ends with status 1, and nothing is changed. The command-line user is
the operator of the installation: the working copy and the audit record name no staff
member (user None), as other operator commands do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction


class Command(BaseCommand):
    help = "フォームファイルの書き出し・読み込み、テンプレートの一覧、集計（tally）。形式は docs/forms-file-format.md。"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        exp = sub.add_parser("export", help="手続きのフォームをフォームファイル（JSON）に書き出す")
        exp.add_argument("code", help="手続ID（例: HJC）")
        exp.add_argument("-o", "--output", help="書き出すファイル（省略すると標準出力）")
        exp.add_argument("--working", action="store_true", help="公開中の版ではなく、編集中のフォームを書き出す")
        imp = sub.add_parser("import", help="フォームファイルを手続きの編集中のフォームに読み込む")
        imp.add_argument("code", help="手続ID")
        imp.add_argument("file", help="フォームファイル（- で標準入力）")
        imp.add_argument("--publish", action="store_true", help="読み込んだフォームをそのまま公開する（新しい版）")
        sub.add_parser("templates", help="テンプレートの一覧")
        tally = sub.add_parser("tally", help="回答の集計（form_tally に渡します）", add_help=False)
        tally.add_argument("rest", nargs=argparse.REMAINDER)

    def run_from_argv(self, argv):
        # `tenohira forms tally --help` and every option after `tally` belong to
        # form_tally, not to this parser: hand them over untouched.
        if len(argv) > 2 and argv[2] == "tally":
            call_command("form_tally", *argv[3:])
            return
        super().run_from_argv(argv)

    def handle(self, *args, action, **options):
        if action == "tally":
            call_command("form_tally", *options.get("rest", []))
            return
        getattr(self, f"_{action}")(**options)

    # --- export ----------------------------------------------------------------------

    def _export(self, *, code, output, working, **options):
        from tenohira.forms import interchange
        from tenohira.forms.models import FormDefinition

        definition = FormDefinition.objects.select_related("procedure").filter(procedure__code=code).first()
        if definition is None:
            raise CommandError(f"手続ID「{code}」のフォームがありません。")
        try:
            data = interchange.dump(definition, working=working)
        except interchange.FormFileError as exc:
            self._refuse("書き出せませんでした。", exc.errors)
        if output in (None, "-"):
            self.stdout.write(data.decode("utf-8"), ending="")
            return
        Path(output).write_bytes(data)
        which = "編集中のフォーム" if working else f"公開中の第{definition.published_version().number}版"
        self.stdout.write(f"{definition.procedure.code}（{definition.procedure.name}）の{which}を書き出しました: {output}")

    # --- import ----------------------------------------------------------------------

    def _import(self, *, code, file, publish, **options):
        from tenohira.catalog.models import Procedure
        from tenohira.forms import interchange, services
        from tenohira.forms.schema import SchemaError

        procedure = Procedure.objects.filter(code=code).first()
        reasons = [] if procedure is not None else [f"手続ID「{code}」の手続きがありません（先に手続カタログに登録してください）。"]
        try:
            data = sys.stdin.buffer.read(interchange.MAX_BYTES + 1) if file == "-" else _read(Path(file))
        except OSError as exc:
            self._refuse("読み込めませんでした。", reasons + [f"ファイルを開けません: {exc.strerror or exc}"])
        try:
            loaded = interchange.load(data)
        except interchange.FormFileError as exc:
            self._refuse("読み込めませんでした。", reasons + exc.errors)
        if reasons:
            self._refuse("読み込めませんでした。", reasons)
        try:
            with transaction.atomic():  # a refused publication leaves no half-replaced working copy
                definition = services.start_working_copy(
                    procedure, loaded.schema, user=None, kind=loaded.kind, anonymous=loaded.anonymous,
                    action="forms.import",
                )
                version = None
                if publish:
                    version, _created = services.publish_working_copy(definition, user=None)
        except SchemaError as exc:
            self._refuse("読み込めませんでした。", exc.errors)
        self.stdout.write(f"{procedure.code}（{procedure.name}）の編集中のフォームに「{loaded.meta['title']}」を読み込みました。")
        if version is not None:
            self.stdout.write(f"第{version.number}版として公開しました。")

    # --- templates -------------------------------------------------------------------

    def _templates(self, **options):
        from tenohira.forms import library

        for category, items in library.by_category():
            self.stdout.write(f"■ {category}")
            for template in items:
                kind = "アンケート" + ("・匿名" if template.anonymous else "") if template.kind == "survey" else "申請"
                self.stdout.write(f"  {template.slug}\t{template.title}（{kind}）\t{template.description}")

    def _refuse(self, headline: str, reasons: list[str]):
        for reason in reasons:
            self.stderr.write(f"- {reason}")
        raise CommandError(f"{headline.rstrip('。')}（理由 {len(reasons)} 件）。", returncode=1)


def _read(path: Path) -> bytes:
    """At most one byte past the limit: a larger file is refused by its size, unread."""
    from tenohira.forms.interchange import MAX_BYTES

    with path.open("rb") as handle:
        return handle.read(MAX_BYTES + 1)
