"""Three-segment transfer between two deployments with their own databases and data
directories, through the real `tenohira transfer` commands run as processes.

1,000 submissions with attachments (a JPEG with EXIF and bytes after its end, a PDF with
JavaScript, an embedded file and trailing bytes) cross from the intake to the inside;
a bundle with one byte changed, a replayed bundle and an out-of-order bundle are refused
with the reason and import nothing; a status goes back out and the resident's status page
on the intake shows it."""

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
COUNT = 1000
SECRET = "ABCD-EFGH-JKMN"

# Run inside each deployment (its own DATABASE_URL and TENOHIRA_DATA_DIR).
SETUP = r'''
import os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenohira.config.settings")
django.setup()
import json, sys
'''

SEED = SETUP + r'''
import datetime as dt, hashlib, io, secrets
import pikepdf
from PIL import Image
from django.utils import timezone
from tenohira.applications.attachments import storage_dir
from tenohira.applications.models import Attachment, Submission, SubmissionEvent, SubmissionVersion
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.forms.models import FormVersion
from tenohira.forms.services import publish

args = json.loads(sys.argv[1])
department, _ = Department.objects.get_or_create(name=args["department"])
section, _ = Section.objects.get_or_create(department=department, name="市民課")
procedure = Procedure.objects.filter(code="TRX").first() or Procedure.objects.create(
    code="TRX", section=section, name="転送テスト申請")
version = FormVersion.objects.filter(definition__procedure=procedure, number=1).first()
if version is None:
    version, _ = publish(procedure, {
        "title": "転送テスト申請", "email_field": "email",
        "steps": [{"key": "about", "title": "申請する方", "fields": [
            {"key": "full_name", "type": "text", "label": "氏名", "required": True},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
            {"key": "document", "type": "file", "label": "添付書類", "accept": ["jpeg", "pdf"]},
        ]}],
    })

image = Image.new("RGB", (80, 60), (200, 30, 30))
exif = Image.Exif()
exif[0x010F] = "TestCamera"
exif[0x0112] = 6
buffer = io.BytesIO()
image.save(buffer, "JPEG", exif=exif.tobytes())
JPEG = buffer.getvalue() + b"TRAILING-BYTES-AFTER-THE-IMAGE"
pdf = pikepdf.new()
pdf.add_blank_page()
action = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('x')")))
pdf.Root.OpenAction = action
pdf.Root.Names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("a"), action])))
pdf.attachments["run.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ-not-a-program")
buffer = io.BytesIO()
pdf.save(buffer)
PDF = buffer.getvalue() + b"%TRAILING-BYTES"

now = timezone.now()
start, n = args["start"], args["count"]
submissions = [Submission(
    receipt_number=f"2025-TRX-{i:06d}", procedure=procedure, section=section, form_version=version,
    answers={"full_name": f"山田 太郎{i}", "email": f"r{i}@example.jp", "document": f"tok{i:06d}"},
    summary=[], email=f"r{i}@example.jp",
    status_secret_hash=hashlib.sha256(args["secret"].encode()).hexdigest(),
    submitted_at=now, status_changed_at=now, applicant_name=f"山田 太郎{i}",
    identity={"provider": "email", "account_id": 7} if i == start else {},
) for i in range(start, start + n)]
Submission.objects.bulk_create(submissions)
SubmissionVersion.objects.bulk_create(SubmissionVersion(submission=s, number=1, answers=s.answers, created_at=now) for s in submissions)
SubmissionEvent.objects.bulk_create(SubmissionEvent(submission=s, at=now, actor_label="申請者", from_status="", to_status="received") for s in submissions)
attachments = []
for index, s in enumerate(submissions):
    data, kind = (JPEG, "image/jpeg") if index % 2 == 0 else (PDF, "application/pdf")
    stored = f"seed/{secrets.token_hex(16)}"
    (storage_dir() / "seed").mkdir(exist_ok=True)
    (storage_dir() / stored).write_bytes(data)
    attachments.append(Attachment(
        token=f"tok{start + index:06d}-{secrets.token_hex(4)}", submission=s, field_path="document", stored_name=stored,
        original_name="photo.jpg" if kind == "image/jpeg" else "書類.pdf", content_type=kind, size=len(data),
        sha256=hashlib.sha256(data).hexdigest(), scan="skipped"))
Attachment.objects.bulk_create(attachments)
print(json.dumps({"jpeg": hashlib.sha256(JPEG).hexdigest(), "pdf": hashlib.sha256(PDF).hexdigest()}))
'''

# Two more submissions, each exported into its own bundle (one process: start-ups are slow).
TWO_MORE = SEED.replace("args = json.loads(sys.argv[1])", """args = {"department": "市民部", "start": 1001, "count": 1, "secret": "-"}""") + r'''
from io import StringIO
from django.core.management import call_command
paths = []
for start in (1001, 1002):
    if start == 1002:
        now = timezone.now()
        s = Submission.objects.create(
            receipt_number=f"2025-TRX-{start:06d}", procedure=procedure, section=section, form_version=version,
            answers={}, summary=[], status_secret_hash="-", submitted_at=now, status_changed_at=now)
    out = StringIO()
    call_command("transfer", "export", "--to", sys.argv[1], stdout=out)
    paths.append(sys.argv[1] + "/" + next(w for w in out.getvalue().replace("（", " ").split() if w.endswith(".tnhb")))
print(json.dumps(paths))
'''

INSIDE_FACTS = SETUP + r'''
import hashlib, io
from PIL import Image
from tenohira.applications.attachments import storage_dir
from tenohira.applications.models import Attachment, Submission
from tenohira.integrations.models import TransferBundle
rows = []
for a in Attachment.objects.select_related("submission", "transfer").order_by("submission__receipt_number"):
    data = (storage_dir() / a.stored_name).read_bytes()
    exif = dict(Image.open(io.BytesIO(data)).getexif()) if a.content_type == "image/jpeg" else {}
    rows.append({
        "receipt": a.submission.receipt_number, "type": a.content_type, "sha256": a.sha256,
        "file_sha256": hashlib.sha256(data).hexdigest(), "original_sha256": a.transfer.original_sha256,
        "method": a.transfer.method, "exif": len(exif), "ends": data[-16:].hex(),
        "javascript": b"/JavaScript" in data or b"/JS" in data, "embedded": b"/EmbeddedFile" in data,
        "trailing": b"TRAILING" in data,
    })
print(json.dumps({
    "receipts": sorted(Submission.objects.values_list("receipt_number", flat=True)),
    "identities": [s.identity for s in Submission.objects.exclude(identity={})],
    "attachments": rows,
    "bundles": list(TransferBundle.objects.filter(direction="submissions_in").order_by("sequence").values_list("sequence", flat=True)),
}))
'''

INTAKE_FACTS = SETUP + r'''
from tenohira.applications.models import Attachment
from tenohira.integrations.models_transfer import TransferredAttachment
print(json.dumps({
    "harmless": dict(TransferredAttachment.objects.values_list("attachment__submission__receipt_number", "harmless_sha256")),
    "methods": sorted(set(TransferredAttachment.objects.values_list("method", flat=True))),
}))
'''

DECIDE = SETUP + r'''
from tenohira.applications.history import record_event
from tenohira.applications.models import Submission
s = Submission.objects.get(receipt_number=sys.argv[1])
record_event(s, "under_review", actor=None, actor_label="市民課の担当")
record_event(s, "approved", actor=None, actor_label="市民課の担当", comment="承認しました。証明書を郵送します。")
'''

STATUS_PAGE = SETUP + r'''
from django.test import Client
from django.urls import reverse
response = Client(HTTP_HOST="localhost").post(reverse("applications:status"), {"receipt_number": sys.argv[1], "secret": sys.argv[2]})
print(json.dumps({"code": response.status_code, "body": response.content.decode()}))
'''


class Side:
    def __init__(self, name: str, root: Path, database_url: str, key_env: dict):
        self.name = name
        self.data = root / name
        self.data.mkdir()
        self.env = {**os.environ, "DATABASE_URL": database_url, "TENOHIRA_DATA_DIR": str(self.data),
                    "OUTBOX_DELIVERY": "after_commit", **key_env}

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([PYTHON, "-m", "tenohira", *args], env=self.env, capture_output=True, text=True, timeout=300)
        if ok:
            assert done.returncode == 0, f"{self.name} {args}: {done.stdout}\n{done.stderr}"
        return done

    def python(self, code: str, *args: str) -> dict | None:
        done = subprocess.run([PYTHON, "-c", code, *args], env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        return json.loads(lines[-1]) if lines else None

    def count(self) -> int:
        return self.python(SETUP + "from tenohira.applications.models import Submission\n"
                           "print(json.dumps(Submission.objects.count()))")


def _bundle_of(output: str, directory: Path) -> Path:
    name = next(word for word in output.replace("（", " ").split() if word.endswith(".tnhb"))
    return directory / name


def _sides(tmp_path: Path, intake_url: str, inside_url: str) -> tuple[Side, Side]:
    keys = tmp_path / "keys"
    intake_keys, inside_keys = keys / "intake", keys / "inside"
    intake_env = {
        "TRANSFER_SIGNING_KEY_FILE": str(intake_keys / "intake-signing.key"),
        "TRANSFER_INSIDE_PUBLIC_KEY_FILE": str(inside_keys / "inside-encryption.pub"),
        "TRANSFER_STATUS_PUBLIC_KEY_FILE": str(inside_keys / "inside-status-signing.pub"),
    }
    inside_env = {
        "TRANSFER_INTAKE_PUBLIC_KEY_FILE": str(intake_keys / "intake-signing.pub"),
        "TRANSFER_INSIDE_PRIVATE_KEY_FILE": str(inside_keys / "inside-encryption.key"),
        "TRANSFER_STATUS_SIGNING_KEY_FILE": str(inside_keys / "inside-status-signing.key"),
    }
    return Side("intake", tmp_path, intake_url, intake_env), Side("inside", tmp_path, inside_url, inside_env)


def _walk(intake: Side, inside: Side, tmp_path: Path, prepare_inside) -> None:
    from tenohira.integrations.transfer import keys

    made = intake.run("transfer", "keys", "--side", "intake", "--out", str(tmp_path / "keys" / "intake"))
    assert "intake-signing.key" in made.stdout
    keys.generate(tmp_path / "keys" / "inside", "inside")  # the same code, without a second start-up
    private = tmp_path / "keys" / "inside" / "inside-encryption.key"
    assert oct(private.stat().st_mode & 0o777) == "0o600"

    originals = intake.python(SEED, json.dumps({"department": "市民部", "start": 1, "count": COUNT, "secret": SECRET}))
    prepare_inside()
    inside.python(SEED, json.dumps({"department": "LGWAN市民部", "start": 900000, "count": 0, "secret": SECRET}))

    drop = tmp_path / "drop"
    exported = intake.run("transfer", "export", "--to", str(drop))
    bundle = _bundle_of(exported.stdout, drop)
    assert f"申請 {COUNT} 件" in exported.stdout
    assert [p.name for p in drop.iterdir()] == [bundle.name]  # no temporary file left
    assert "送り出す申請はありません" in intake.run("transfer", "export", "--to", str(drop)).stdout

    # One byte changed anywhere: refused with the reason, nothing imported.
    # (The real import below then succeeding shows these imported nothing: it would be a replay.)
    for offset in (len(bundle.read_bytes()) // 2, len(bundle.read_bytes()) - 200):
        tampered = tmp_path / f"tampered-{offset}.tnhb"
        data = bytearray(bundle.read_bytes())
        data[offset] ^= 0x01
        tampered.write_bytes(bytes(data))
        refused = inside.run("transfer", "import", str(tampered), ok=False)
        assert refused.returncode != 0
        assert "取り込みませんでした" in refused.stderr and "取り込みません" in refused.stderr, refused.stderr

    imported = inside.run("transfer", "import", str(bundle))
    assert f"申請 {COUNT} 件、添付 {COUNT} 件" in imported.stdout

    facts = inside.python(INSIDE_FACTS)
    assert facts["receipts"] == [f"2025-TRX-{i:06d}" for i in range(1, COUNT + 1)]
    assert facts["identities"] == [{"provider": "email"}]  # the intake's account id stays there
    harmless = intake.python(INTAKE_FACTS)
    assert harmless["methods"] == ["image-reencoded", "pdf-rewritten"]
    assert len(facts["attachments"]) == COUNT
    for row in facts["attachments"]:
        assert row["sha256"] == row["file_sha256"] == harmless["harmless"][row["receipt"]]
        assert row["original_sha256"] == (originals["jpeg"] if row["type"] == "image/jpeg" else originals["pdf"])
        assert row["original_sha256"] != row["sha256"]
        assert not row["trailing"]
        if row["type"] == "image/jpeg":
            assert row["method"] == "image-reencoded" and row["exif"] == 0 and row["ends"].endswith("ffd9")
        else:
            assert row["method"] == "pdf-rewritten" and not row["javascript"] and not row["embedded"]

    # The same bundle again: refused, nothing added.
    replayed = inside.run("transfer", "import", str(bundle), ok=False)
    assert replayed.returncode != 0 and "すでに取り込み済み" in replayed.stderr

    # Two more bundles, the later one offered first: refused until its predecessor is in.
    second, third = intake.python(TWO_MORE, str(drop))
    second, third = Path(second), Path(third)
    early = inside.run("transfer", "import", str(third), ok=False)
    assert early.returncode != 0 and "番号 2 の束がまだ取り込まれていません" in early.stderr
    inside.run("transfer", "import", str(second))
    inside.run("transfer", "import", str(third))
    assert inside.count() == COUNT + 2
    old = inside.run("transfer", "import", str(second), ok=False)
    assert old.returncode != 0 and "取り込み済み" in old.stderr

    # A status back outward; the resident sees it on the intake's status page.
    inside.python(DECIDE, "2025-TRX-000001")
    back = tmp_path / "back"
    status_bundle = _bundle_of(inside.run("transfer", "export-status", "--to", str(back)).stdout, back)
    assert "送り出す状態の変更はありません" in inside.run("transfer", "export-status", "--to", str(back)).stdout
    payload = status_bundle.read_bytes()
    assert "山田".encode() not in payload and b"example.jp" not in payload  # no personal data outward
    intake.run("transfer", "import-status", str(status_bundle))
    again = intake.run("transfer", "import-status", str(status_bundle), ok=False)
    assert again.returncode != 0 and "すでに取り込み済み" in again.stderr
    page = intake.python(STATUS_PAGE, "2025-TRX-000001", SECRET)
    assert page["code"] == 200
    assert "承認しました。証明書を郵送します。" in page["body"]
    assert page["body"].count("承認しました。証明書を郵送します。") == 1
    # A status bundle signed with the wrong key (the intake's own) is refused.
    forged_env = dict(intake.env, TRANSFER_STATUS_PUBLIC_KEY_FILE=str(tmp_path / "keys" / "intake" / "intake-signing.pub"))
    forged = subprocess.run([PYTHON, "-m", "tenohira", "transfer", "import-status", str(status_bundle)],
                            env=forged_env, capture_output=True, text=True, timeout=120)
    assert forged.returncode != 0 and "署名が正しくありません" in forged.stderr


def test_transfer_between_two_sqlite_deployments(tmp_path):
    intake_db, inside_db = tmp_path / "intake.sqlite3", tmp_path / "inside.sqlite3"
    intake, inside = _sides(tmp_path, f"sqlite:///{intake_db}", f"sqlite:///{inside_db}")
    intake.run("migrate", "--noinput")
    # The inside starts from the same empty, migrated schema (faster than migrating twice).
    shutil.copy(intake_db, inside_db)
    _walk(intake, inside, tmp_path, prepare_inside=lambda: None)


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


@pytest.mark.skipif(not _postgres_url(), reason="PostgreSQL: run with DATABASE_URL=postgres://…")
def test_transfer_between_two_postgresql_databases(tmp_path):
    import psycopg

    base = _postgres_url()
    head, _, _name = base.rpartition("/")
    suffix = uuid.uuid4().hex[:8]
    names = [f"tenohira_transfer_intake_{suffix}", f"tenohira_transfer_inside_{suffix}"]
    admin = psycopg.connect(f"{head}/postgres", autocommit=True)
    try:
        admin.execute(f'CREATE DATABASE "{names[0]}"')
        intake, inside = _sides(tmp_path, f"{head}/{names[0]}", f"{head}/{names[1]}")
        intake.run("migrate", "--noinput")
        admin.execute(f'CREATE DATABASE "{names[1]}" TEMPLATE "{names[0]}"')
        _walk(intake, inside, tmp_path, prepare_inside=lambda: None)
    finally:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
