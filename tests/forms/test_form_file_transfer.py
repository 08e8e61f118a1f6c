"""A form exported from one installation imports into another and runs identically.

Two deployments with their own databases and data directories, each driven through the
real `tenohira forms export` / `tenohira forms import --publish` commands run as
processes. The same resident answers are then posted through the resident pages of both
and the stored answers and summaries compared; a malformed export is refused by the
command with every reason, status 1, and changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ["koseki", "shisetsu_riyo", "shimin_manzoku"]  # a group and option fees, a window of dates, an anonymous survey

SETUP = r'''
import os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenohira.config.settings")
django.setup()
import json, sys
from tenohira.catalog.models import Department, Procedure, Section
'''

SEED = SETUP + r'''
department, _ = Department.objects.get_or_create(name=sys.argv[1])
section, _ = Section.objects.get_or_create(department=department, name="共有テスト課")
for code in json.loads(sys.argv[2]):
    Procedure.objects.get_or_create(code=code, defaults={"section": section, "name": f"共有テスト{code}"})
if len(sys.argv) > 3:  # the source: each procedure's form from a template, published
    from tenohira.forms import library, services
    for code, slug in json.loads(sys.argv[3]).items():
        schema, meta = library.load(slug)
        definition = services.start_working_copy(Procedure.objects.get(code=code), schema, user=None,
                                                 kind=meta["kind"], anonymous=meta["anonymous"])
        services.publish_working_copy(definition, user=None)
print("null")
'''

FACTS = SETUP + r'''
from tenohira.forms.models import FormDefinition, FormVersion
facts = {}
for code in json.loads(sys.argv[1]):
    definition = FormDefinition.objects.filter(procedure__code=code).first()
    facts[code] = None if definition is None else {
        "kind": definition.kind, "anonymous": definition.anonymous,
        "versions": list(definition.versions.order_by("number").values_list("number", "status")),
        "schema": definition.published_version().schema if definition.published_version() else None,
    }
print(json.dumps(facts))
'''

WALK = SETUP + r'''
from django.test import Client
from tenohira.applications.models import Submission
from tenohira.forms.models import FormVersion
from tests.support import form_filler

result = {}
for code in json.loads(sys.argv[1]):
    version = FormVersion.objects.filter(definition__procedure__code=code, status="published").order_by("-number").first()
    public_id, visited = form_filler.submit(Client(HTTP_HOST="localhost"), code, version.schema)
    submission = Submission.objects.get(draft__public_id=public_id)
    files = {k for k, f in version.parsed().field_map().items() if f.type == "file"}
    # Attachment tokens are random per installation: compare how many files each holds.
    answers = {k: (len(v) if k in files else v) for k, v in submission.answers.items()}
    summary = [{"title": s["title"], "items": [{"label": i["label"], "value": i["value"]} for i in s["items"]]}
               for s in submission.summary]
    result[code] = {"visited": visited, "answers": answers, "summary": summary, "email": submission.email,
                    "version": version.number, "receipt_prefix": submission.receipt_number.rsplit("-", 1)[0]}
print(json.dumps(result, ensure_ascii=False))
'''


class Side:
    def __init__(self, name: str, root: Path, database_url: str):
        self.name = name
        self.data = root / name
        self.data.mkdir()
        self.env = {**os.environ, "DATABASE_URL": database_url, "TENOHIRA_DATA_DIR": str(self.data),
                    "OUTBOX_DELIVERY": "after_commit", "PYTHONPATH": str(ROOT)}

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([PYTHON, "-m", "tenohira", *args], env=self.env, capture_output=True, text=True,
                              timeout=300, cwd=ROOT)
        if ok:
            assert done.returncode == 0, f"{self.name} {args}: {done.stdout}\n{done.stderr}"
        return done

    def python(self, code: str, *args: str):
        done = subprocess.run([PYTHON, "-c", code, *args], env=self.env, capture_output=True, text=True,
                              timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


def _walk(source: Side, target: Side, tmp_path: Path) -> None:
    codes = {f"SH{i}": slug for i, slug in enumerate(TEMPLATES)}
    source.python(SEED, "市民部", json.dumps(list(codes)), json.dumps(codes))
    target.python(SEED, "LGWAN市民部", json.dumps(list(codes)))

    files = {}
    for code in codes:
        files[code] = tmp_path / f"{code}.json"
        written = source.run("forms", "export", code, "-o", str(files[code]))
        assert "公開中の第1版を書き出しました" in written.stdout

    # A malformed export first: refused with every reason, status 1, nothing changed.
    document = json.loads(files["SH0"].read_text(encoding="utf-8"))
    document["format_version"] = 1
    document["meta"]["kind"] = "poll"
    del document["exported_at"]
    document["form"]["steps"][1]["fields"][0]["type"] = "signature_pad"
    document["form"]["steps"][0]["fields"][0]["show_if"] = {"field": "nowhere", "equals": True}
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    refused = target.run("forms", "import", "SH0", str(broken), "--publish", ok=False)
    assert refused.returncode == 1
    for reason in ("必要な項目がありません: exported_at", "kind「poll」は使えません", "不明な項目の種類「signature_pad」"):
        assert reason in refused.stderr, refused.stderr
    assert "読み込めませんでした（理由 3 件）" in refused.stderr
    newer = dict(json.loads(files["SH0"].read_text(encoding="utf-8")), format_version=2)
    (tmp_path / "newer.json").write_text(json.dumps(newer, ensure_ascii=False), encoding="utf-8")
    refused = target.run("forms", "import", "SH0", str(tmp_path / "newer.json"), ok=False)
    assert refused.returncode == 1 and "新しい形式（第2版）" in refused.stderr
    refused = target.run("forms", "import", "NOPE", str(files["SH0"]), ok=False)
    assert refused.returncode == 1 and "手続ID「NOPE」の手続きがありません" in refused.stderr
    assert target.python(FACTS, json.dumps(list(codes))) == dict.fromkeys(codes)  # nothing was imported

    for code in codes:
        imported = target.run("forms", "import", code, str(files[code]), "--publish")
        assert "第1版として公開しました" in imported.stdout

    before, after = source.python(FACTS, json.dumps(list(codes))), target.python(FACTS, json.dumps(list(codes)))
    assert before == after  # the same schema, kind, anonymity, one published version
    assert after["SH2"]["kind"] == "survey" and after["SH2"]["anonymous"] is True

    here, there = source.python(WALK, json.dumps(list(codes))), target.python(WALK, json.dumps(list(codes)))
    assert here == there
    assert here["SH0"]["answers"]["fee"] == 900 and here["SH1"]["answers"]["fee"] == 400
    assert "email" not in here["SH2"]["answers"]  # an anonymous survey keeps no address there either


def test_form_file_moves_between_two_sqlite_installations(tmp_path):
    source_db, target_db = tmp_path / "source.sqlite3", tmp_path / "target.sqlite3"
    source = Side("source", tmp_path, f"sqlite:///{source_db}")
    target = Side("target", tmp_path, f"sqlite:///{target_db}")
    source.run("migrate", "--noinput")
    shutil.copy(source_db, target_db)  # the same empty, migrated schema (faster than migrating twice)
    _walk(source, target, tmp_path)


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


@pytest.mark.skipif(not _postgres_url(), reason="PostgreSQL: run with DATABASE_URL=postgres://…")
def test_form_file_moves_between_two_postgresql_databases(tmp_path):
    import psycopg

    head, _, _name = _postgres_url().rpartition("/")
    suffix = uuid.uuid4().hex[:8]
    names = [f"tenohira_forms_source_{suffix}", f"tenohira_forms_target_{suffix}"]
    admin = psycopg.connect(f"{head}/postgres", autocommit=True)
    try:
        admin.execute(f'CREATE DATABASE "{names[0]}"')
        source = Side("source", tmp_path, f"{head}/{names[0]}")
        target = Side("target", tmp_path, f"{head}/{names[1]}")
        source.run("migrate", "--noinput")
        admin.execute(f'CREATE DATABASE "{names[1]}" TEMPLATE "{names[0]}"')
        _walk(source, target, tmp_path)
    finally:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
