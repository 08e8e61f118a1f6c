"""保存年限と廃棄: exactly the applications past their retention period go, with everything
personal about them (files included), and the DX figures of those years do not move."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from tenohira.applications import attachments, retention, services
from tenohira.applications.models import (
    Attachment,
    CorrectionRequest,
    Draft,
    Submission,
    SubmissionEvent,
    SubmissionVersion,
)
from tenohira.audit.models import AuditRecord
from tenohira.backoffice.models import CounterIdentityCheck
from tenohira.backoffice.services import record_event
from tenohira.catalog.models import Procedure
from tenohira.core.fiscal import JST
from tenohira.core.models import OutboxMessage
from tenohira.insights import aggregates, report
from tenohira.insights.models import DailyApplications

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 300
Status = Submission.Status


def jst(*parts) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=JST)


def test_the_period_starts_on_the_first_of_april_after_the_fiscal_year_of_closing():
    # Closed in fiscal 2025 (2025-04-01 .. 2026-03-31): kept 5 years from 2026-04-01.
    assert retention.expires_on(jst(2025, 4, 1, 0, 0), 5) == dt.date(2031, 4, 1)
    assert retention.expires_on(jst(2026, 3, 31, 23, 59), 5) == dt.date(2031, 4, 1)
    # 2026-04-01 00:30 JST is still 2026-03-31 in UTC: the Japanese day decides.
    assert retention.expires_on(jst(2026, 4, 1, 0, 30), 5) == dt.date(2032, 4, 1)
    assert retention.expires_on(jst(2020, 1, 15, 9, 0), 1) == dt.date(2021, 4, 1)
    assert retention.expires_on(jst(2020, 1, 15, 9, 0), None) is None
    assert retention.closed_before(dt.date(2031, 4, 1), 5) == jst(2026, 4, 1)
    assert retention.closed_before(dt.date(2031, 3, 31), 5) == jst(2025, 4, 1)


class World:
    """Applications of three procedures (5 years by the site default, 10 years, 永年)
    across fiscal years, some closed, one open, one held, one withdrawn."""

    def __init__(self, version, publish_form, schema):
        self.default = version.definition.procedure
        self.ten = publish_form(schema, code="TEN").definition.procedure
        Procedure.objects.filter(pk=self.ten.pk).update(retention_years=10)
        self.forever = publish_form(schema, code="EIN").definition.procedure
        Procedure.objects.filter(pk=self.forever.pk).update(retention_permanent=True)
        self.clerk = get_user_model().objects.create_user("retention-clerk")
        self.by_name: dict[str, Submission] = {}

    def make(self, name, procedure, submitted_at, *, closed=None, status=Status.COMPLETED, channel="online"):
        version = procedure.form.published_version()
        draft, _ = services.start_draft(version)
        steps = version.parsed()
        services.save_step(draft, steps.step("about"), {
            "full_name": ["山田 花子"], "email": [f"{name.lower()}@example.jp"], "has_pet": ["no"],
        }, {}, [])
        services.save_step(draft, steps.step("confirm"), {"consent": ["yes"]}, {}, [])
        submission, _ = services.submit(draft, channel=channel)
        Submission.objects.filter(pk=submission.pk).update(
            submitted_at=submitted_at, status=status if closed else Status.UNDER_REVIEW,
            status_changed_at=closed or submitted_at,
        )
        submission.refresh_from_db()
        self.by_name[name] = submission
        return submission

    def attach(self, submission) -> tuple[Attachment, object]:
        stored = attachments.accept_upload(
            SimpleUploadedFile("photo.jpg", JPEG), accept=["jpeg"], max_size_mb=1, label="写真"
        )
        row = Attachment.objects.create(
            token=stored.token, draft_id=submission.draft_id, submission=submission, field_path="photo",
            stored_name=stored.stored_name, original_name="photo.jpg", content_type="image/jpeg",
            size=stored.size, sha256=stored.sha256, scan=stored.scan,
        )
        return row, attachments.storage_dir() / stored.stored_name


@pytest.fixture
def world(tiny_form, publish_form, flow, db):
    w = World(tiny_form, publish_form, flow.TINY_SCHEMA)
    # Expire on 2031-04-01 (closed in fiscal 2025, 5 years).
    a = w.make("A", w.default, jst(2025, 6, 10, 22, 0), closed=jst(2025, 7, 1, 10, 0))
    w.make("A2", w.default, jst(2026, 2, 1, 9, 0), closed=jst(2026, 3, 31, 23, 0), status=Status.REJECTED,
           channel="counter")
    # Fiscal 2026 by Japan time (00:30 JST on 1 April is 31 March in UTC): one more year.
    w.make("B", w.default, jst(2025, 11, 4, 10, 0), closed=jst(2026, 4, 1, 0, 30), status=Status.APPROVED)
    # Long expired, but on legal hold.
    w.make("C", w.default, jst(2019, 5, 10, 20, 0), closed=jst(2019, 6, 1, 10, 0))
    # Open for years: never expires.
    w.make("D", w.default, jst(2019, 8, 1, 23, 0))
    # Withdrawn in fiscal 2024 (expired on 2030-04-01).
    w.make("E", w.default, jst(2025, 1, 10, 7, 0), closed=jst(2025, 1, 11, 12, 0), status=Status.UNDER_REVIEW)
    # 10 years: closed in fiscal 2020, expires on 2031-04-01; closed in fiscal 2021: kept.
    w.make("G", w.ten, jst(2020, 9, 1, 21, 0), closed=jst(2021, 3, 1, 10, 0), status=Status.APPROVED)
    w.make("G2", w.ten, jst(2021, 9, 1, 21, 0), closed=jst(2021, 9, 2, 10, 0), status=Status.APPROVED)
    # 永年.
    w.make("H", w.forever, jst(2019, 4, 5, 18, 0), closed=jst(2019, 4, 6, 10, 0))
    aggregates.rebuild()  # the dates were moved behind the services' back

    # The withdrawal goes through the service that takes it out of the counts.
    e = w.by_name["E"]
    record_event(e, Status.WITHDRAWN, actor_label="申請者")
    Submission.objects.filter(pk=e.pk).update(status_changed_at=jst(2025, 1, 11, 12, 0))

    retention.set_legal_hold(w.by_name["C"], hold=True, reason="令和8年（行ウ）第12号", user=w.clerk)
    w.file_a = w.attach(a)
    w.file_b = w.attach(w.by_name["B"])
    w.file_c = w.attach(w.by_name["C"])
    CounterIdentityCheck.objects.create(
        submission=w.by_name["A2"], document="mynumber_card", checked_by=w.clerk, checked_at=jst(2026, 2, 1, 9, 0)
    )
    CorrectionRequest.objects.create(
        submission=a, requested_by=w.clerk, requested_at=jst(2025, 6, 11, 9, 0), message="写真を",
        fields=[], token_hash="0" * 64, expires_at=jst(2025, 6, 25, 9, 0),
    )
    return w


def figures(years=(2018, 2019, 2020, 2021, 2024, 2025, 2026)) -> dict:
    out = {}
    for year in years:
        built = report.build(fiscal_year=year)
        built.pop("generated_at")
        out[year] = built
    return out


def purge_call(*args) -> str:
    out = io.StringIO()
    call_command("retention", "purge", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_a_dry_run_lists_what_would_go_and_changes_nothing(world):
    before = (Submission.objects.count(), Attachment.objects.count(), OutboxMessage.objects.count())

    text = purge_call("--today", "2031-04-01")

    assert "試行" in text
    assert "保存年限を過ぎた申請 4 件" in text  # A, A2, E, G
    assert (Submission.objects.count(), Attachment.objects.count(), OutboxMessage.objects.count()) == before
    assert world.file_a[1].exists()
    assert "訴訟ホールド中のため残した申請: 1 件" in text
    record = AuditRecord.objects.filter(action=retention.AUDIT_ACTION).get()
    assert record.detail["applied"] is False and record.detail["submissions"] == 4


# Real commits: files are unlinked once each batch's transaction has committed.
@pytest.mark.django_db(transaction=True)
def test_purge_removes_exactly_the_expired_applications_and_keeps_the_figures(world):
    w = world
    kept = {"B", "C", "D", "G2", "H"}
    gone = {"A", "A2", "E", "G"}
    expired = {w.by_name[name].pk for name in gone}
    receipts = {name: w.by_name[name].receipt_number for name in w.by_name}
    drafts = {w.by_name[name].draft_id for name in gone}
    daily_before = list(DailyApplications.objects.order_by("day", "procedure_id", "channel", "outside_hours")
                        .values_list("day", "procedure_id", "channel", "outside_hours", "count"))
    assert sum(row[-1] for row in daily_before) == 8  # every one but the withdrawn E
    figures_before = figures()
    assert figures_before[2025]["after_hours"]["overall"]["applications"] == 2  # A and B, online
    assert OutboxMessage.objects.filter(reference=receipts["A"]).exists()
    assert SubmissionVersion.objects.filter(submission_id__in=expired).exists()
    assert SubmissionEvent.objects.filter(submission_id__in=expired).exists()

    # The day before the first of April, A, A2 and G are still within their period.
    text = purge_call("--today", "2031-03-31", "--apply")
    assert "保存年限を過ぎた申請 1 件を削除しました" in text
    assert set(Submission.objects.values_list("receipt_number", flat=True)) == {
        receipts[name] for name in kept | {"A", "A2", "G"}
    }

    text = purge_call("--today", "2031-04-01", "--apply", "--batch-size", "2")

    assert "保存年限を過ぎた申請 3 件を削除しました" in text
    assert f"{w.default.code} {w.default.name} 2025年度完結: 2 件" in text
    assert f"TEN {w.ten.name} 2020年度完結: 1 件" in text
    assert f"ファイル 1 個、{len(JPEG):,} バイトを削除" in text
    assert set(Submission.objects.values_list("receipt_number", flat=True)) == {receipts[name] for name in kept}
    assert not world.file_a[1].exists()
    assert world.file_b[1].exists() and world.file_c[1].exists()
    assert not Attachment.objects.filter(pk=world.file_a[0].pk).exists()
    assert not OutboxMessage.objects.filter(reference__in=[receipts[name] for name in gone]).exists()
    assert OutboxMessage.objects.filter(reference=receipts["B"]).exists()
    assert not Draft.objects.filter(pk__in=drafts).exists()
    assert not SubmissionVersion.objects.filter(submission_id__in=expired).exists()
    assert not SubmissionEvent.objects.filter(submission_id__in=expired).exists()
    assert not CorrectionRequest.objects.filter(submission_id__in=expired).exists()
    assert not CounterIdentityCheck.objects.exists()

    # The DX figures of every year are what they were.
    assert list(DailyApplications.objects.order_by("day", "procedure_id", "channel", "outside_hours")
                .values_list("day", "procedure_id", "channel", "outside_hours", "count")) == daily_before
    assert figures() == figures_before

    runs = list(AuditRecord.objects.filter(action=retention.AUDIT_ACTION).order_by("id"))
    assert len(runs) == 2  # one per run
    detail = runs[-1].detail
    assert detail["applied"] and detail["completed"] and detail["submissions"] == 3
    assert detail["files_removed"] == 1 and detail["bytes_removed"] == len(JPEG)
    assert detail["corrections"] == 1 and detail["identity_checks"] == 1
    written = json.dumps([r.detail for r in runs], ensure_ascii=False)
    assert "山田" not in written and "example.jp" not in written
    assert not any(receipt in written for receipt in receipts.values())

    # Nothing left to do: a second run removes nothing.
    assert "保存年限を過ぎた申請 0 件を削除しました" in purge_call("--today", "2031-04-01", "--apply")


@pytest.mark.django_db
def test_a_released_hold_lets_the_application_go_and_both_are_audited(world, django_capture_on_commit_callbacks):
    c = world.by_name["C"]
    with pytest.raises(ValidationError):
        retention.set_legal_hold(c, hold=True, reason="  ", user=world.clerk)
    retention.set_legal_hold(c, hold=False, reason="", user=world.clerk)
    actions = list(AuditRecord.objects.filter(target=c.receipt_number).values_list("action", flat=True))
    assert actions == ["retention.legal_hold", "retention.legal_hold_released"]
    with django_capture_on_commit_callbacks(execute=True):
        purge_call("--today", "2031-04-01", "--apply")
    assert not Submission.objects.filter(pk=c.pk).exists()
    assert not world.file_c[1].exists()


@pytest.mark.django_db
def test_the_site_default_and_a_failed_batch(world, settings, django_capture_on_commit_callbacks, monkeypatch):
    settings.RETENTION_DEFAULT_YEARS = 30
    # Only G remains due: its procedure has its own 10 years; the others follow the default.
    assert "保存年限を過ぎた申請 1 件" in purge_call("--today", "2031-04-01")
    settings.RETENTION_DEFAULT_YEARS = 5

    # A failing batch rolls back whole: its rows and files stay, and the run is still audited.
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(retention, "_tally", boom)
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        retention.purge(dt.date(2031, 4, 1), apply=True, batch_size=100)
    assert Submission.objects.count() == 9
    assert world.file_a[1].exists() and Attachment.objects.filter(pk=world.file_a[0].pk).exists()
    record = AuditRecord.objects.filter(action=retention.AUDIT_ACTION).latest("id")
    assert record.detail["completed"] is False


@pytest.mark.django_db
def test_bad_options_get_a_japanese_message():
    with pytest.raises(CommandError, match="日付"):
        purge_call("--today", "2031-13-01")
    with pytest.raises(CommandError, match="batch-size"):
        purge_call("--batch-size", "0")


@pytest.mark.django_db
def test_the_legal_hold_admin_is_for_dx_administrators_and_shows_no_answers(world, rf):
    from django.contrib import admin as django_admin
    from django.contrib.messages.storage.fallback import FallbackStorage

    from tenohira.backoffice.models import Role, StaffRole

    model_admin = django_admin.site._registry[Submission]
    clerk = world.clerk
    request = rf.get("/admin/")
    request.user = clerk
    assert not model_admin.has_view_permission(request)
    StaffRole.objects.create(user=clerk, role=Role.DX_ADMIN)
    clerk = get_user_model().objects.get(pk=clerk.pk)  # roles are cached on the instance
    request.user = clerk
    assert model_admin.has_change_permission(request) and not model_admin.has_delete_permission(request)
    shown = set(model_admin.get_fields(request)) | set(model_admin.list_display)
    assert not shown & {"answers", "summary", "applicant_name", "applicant_search", "email"}

    d = world.by_name["D"]
    form_class = model_admin.get_form(request, d, change=True)
    refused = form_class({"legal_hold": "on", "legal_hold_reason": " "}, instance=d)
    assert not refused.is_valid() and "理由" in str(refused.errors)
    form = form_class({"legal_hold": "on", "legal_hold_reason": "情報公開請求 第45号"}, instance=d)
    assert form.is_valid()
    request = rf.post("/admin/")
    request.user, request.session = clerk, {}
    request._messages = FallbackStorage(request)
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    d.refresh_from_db()
    assert d.legal_hold and d.legal_hold_reason == "情報公開請求 第45号"
    assert AuditRecord.objects.filter(action="retention.legal_hold", target=d.receipt_number, actor_id=clerk.pk).exists()


@pytest.mark.django_db
def test_the_catalog_file_carries_the_period(tmp_path):
    import csv

    from tenohira.catalog.services import ImportRejected, export_catalog, import_catalog

    def write(rows, columns=("部局", "所属", "手続名", "文書分類", "保存年限")):
        path = tmp_path / "catalog.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            writer.writerows(rows)
        return path

    import_catalog(write([
        ["市民部", "市民課", "住民票の写しの交付", "第3種", "５年"],
        ["市民部", "市民課", "戸籍の届出", "第1種", "永年"],
        ["市民部", "市民課", "犬の登録", "", ""],
    ]))
    periods = {p.name: (p.document_class, p.retention_years, p.retention_permanent) for p in Procedure.objects.all()}
    assert periods == {"住民票の写しの交付": ("第3種", 5, False), "戸籍の届出": ("第1種", None, True), "犬の登録": ("", None, False)}
    assert retention.years_of(Procedure.objects.get(name="戸籍の届出")) is None
    assert retention.years_of(Procedure.objects.get(name="犬の登録")) == 5

    with pytest.raises(ImportRejected) as rejected:
        import_catalog(write([["市民部", "市民課", "犬の登録", "", "ずっと"], ["市民部", "市民課", "犬の登録2", "", "0年"]]))
    assert [(e.row, e.column) for e in rejected.value.errors] == [(2, "保存年限"), (3, "保存年限")]

    # A file without the columns leaves the periods alone.
    import_catalog(write([["市民部", "市民課", "住民票の写しの交付"]], columns=("部局", "所属", "手続名")))
    assert Procedure.objects.get(name="住民票の写しの交付").retention_years == 5

    out = tmp_path / "export.csv"
    export_catalog(str(out))
    with out.open(encoding="utf-8-sig", newline="") as fh:
        exported = {row["手続名"]: (row["文書分類"], row["保存年限"]) for row in csv.DictReader(fh)}
    assert exported == {"住民票の写しの交付": ("第3種", "5年"), "戸籍の届出": ("第1種", "永年"), "犬の登録": ("", "")}


# Run inside the demo's own database (a separate process): close some of its applications
# at chosen times, put one on hold, give one a file; print what the checks need.
DEMO_SETUP = r"""
import datetime as dt, json
from django.core.files.uploadedfile import SimpleUploadedFile
from tenohira.applications import attachments, retention
from tenohira.applications.models import Attachment, Submission
from tenohira.core.fiscal import JST
from tenohira.insights import report
rows = list(Submission.objects.order_by("pk"))
closed = rows[::3]
for s in closed:
    Submission.objects.filter(pk=s.pk).update(status="completed", status_changed_at=s.submitted_at + dt.timedelta(days=1))
held = closed[0]
retention.set_legal_hold(held, hold=True, reason="訴訟 第1号", user=None)
stored = attachments.accept_upload(SimpleUploadedFile("a.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 100), accept=["jpeg"], max_size_mb=1, label="写真")
Attachment.objects.create(token=stored.token, submission=closed[1], field_path="photo", stored_name=stored.stored_name,
    original_name="a.jpg", content_type="image/jpeg", size=stored.size, sha256=stored.sha256, scan=stored.scan)
years = sorted({retention.fiscal_year(s.submitted_at) for s in rows})
figures = {y: {k: v for k, v in report.build(fiscal_year=y).items() if k != "generated_at"} for y in years}
print(json.dumps({"all": [s.receipt_number for s in rows], "expired": [s.receipt_number for s in closed[1:]],
                  "file": str(attachments.storage_dir() / stored.stored_name), "years": years,
                  "figures": figures}, ensure_ascii=False, default=str))
"""

DEMO_CHECK = r"""
import json
from tenohira.applications.models import Submission
from tenohira.insights import report
years = YEARS
figures = {y: {k: v for k, v in report.build(fiscal_year=y).items() if k != "generated_at"} for y in years}
print(json.dumps({"left": list(Submission.objects.values_list("receipt_number", flat=True)), "figures": figures},
                 ensure_ascii=False, default=str))
"""


def test_purge_on_the_demo_after_moving_the_clock(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    environment = {k: v for k, v in os.environ.items()
                   if k not in {"DATABASE_URL", "TENOHIRA_DEMO", "SITE_URL", "DJANGO_SETTINGS_MODULE"}}
    environment["TENOHIRA_DATA_DIR"] = str(tmp_path)

    def tenohira(*args):
        done = subprocess.run([sys.executable, "-c", "from tenohira.cli import main; main()", *args],
                              env=environment, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    tenohira("demo", "--no-serve")
    before = json.loads(tenohira("shell", "-c", DEMO_SETUP).strip().splitlines()[-1])
    assert Path(before["file"]).exists() and before["expired"]

    dry = tenohira("retention", "purge", "--today", "2099-04-01")
    assert f"保存年限を過ぎた申請 {len(before['expired'])} 件を削除の対象です" in dry
    applied = tenohira("retention", "purge", "--today", "2099-04-01", "--apply")
    assert f"保存年限を過ぎた申請 {len(before['expired'])} 件を削除しました" in applied
    assert "訴訟ホールド中のため残した申請: 1 件" in applied

    after = json.loads(tenohira("shell", "-c", DEMO_CHECK.replace("YEARS", json.dumps(before["years"]))).strip().splitlines()[-1])
    assert set(after["left"]) == set(before["all"]) - set(before["expired"])
    assert not Path(before["file"]).exists()
    assert after["figures"] == before["figures"]
