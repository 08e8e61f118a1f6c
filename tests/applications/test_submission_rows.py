"""How a submission is written: the receipt number reserved on the draft in a short first
transaction (a press after a failure reuses it: no gaps), the new rows in one statement
on PostgreSQL (core.rows.insert_together), the locking read in hand-written SQL loaded
through the ORM's conversions (core.rows.load)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tenohira.applications import services
from tenohira.applications.models import (
    Draft,
    ReceiptCounter,
    Submission,
    SubmissionEvent,
    SubmissionVersion,
)
from tenohira.core.models import OutboxMessage
from tenohira.core.rows import insert_together, load
from tenohira.forms.models import FormVersion
from tests.applications.test_submission import filled_draft


def test_a_failure_after_the_reservation_keeps_the_number_for_the_next_press(tiny_form, flow, monkeypatch):
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)

    def broken(*args, **kwargs):
        raise OSError("the database went away (test)")

    monkeypatch.setattr(services, "insert_together", broken)
    with pytest.raises(OSError):
        services.submit(draft)
    draft.refresh_from_db()
    assert not Submission.objects.exists()
    assert draft.receipt_number.endswith("-TST-000001")  # reserved, kept

    monkeypatch.undo()
    submission, secret = services.submit(draft)
    assert secret
    assert submission.receipt_number == draft.receipt_number  # the same number, no gap
    assert ReceiptCounter.objects.get(procedure_code="TST").last == 1
    other, _secret = services.submit(filled_draft(tiny_form, flow.TINY_ANSWERS))
    assert other.receipt_number.endswith("-TST-000002")


def test_an_incomplete_draft_takes_no_number(tiny_form, flow):
    draft = filled_draft(tiny_form, {"about": flow.TINY_ANSWERS["about"]})
    with pytest.raises(services.NotReady):
        services.submit(draft)
    draft.refresh_from_db()
    assert draft.receipt_number == ""
    assert not ReceiptCounter.objects.exists()


def test_a_second_submit_returns_the_first_submission(tiny_form, flow):
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    first, secret = services.submit(draft)
    again, again_secret = services.submit(draft)
    assert again.pk == first.pk and again_secret is None and secret
    assert again.draft.pk == draft.pk  # the view redirects with it, without another query
    assert ReceiptCounter.objects.get(procedure_code="TST").last == 1


def test_submit_as_owner_refuses_another_browser_and_unknown_drafts(tiny_form, flow):
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    with pytest.raises(services.NotOwner):
        services.submit_as_owner(draft.public_id, "not-the-owner-secret")
    with pytest.raises(services.NotOwner):
        services.submit_as_owner(draft.public_id, None)
    with pytest.raises(Draft.DoesNotExist):
        services.submit_as_owner(uuid.uuid4(), "anything")
    draft.refresh_from_db()
    assert draft.receipt_number == "" and not Submission.objects.exists()


def test_the_submission_writes_its_rows_in_one_statement_on_postgresql(tiny_form, flow):
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    with CaptureQueriesContext(connection) as queries:
        submission, _secret = services.submit(draft)
    tables = ("applications_submission", "applications_submissionversion", "applications_submissionevent",
              "core_outboxmessage")
    inserts = [q["sql"] for q in queries.captured_queries if any(f'INSERT INTO "{t}"' in q["sql"] for t in tables)]
    if connection.vendor == "postgresql":
        assert len(inserts) == 1 and inserts[0].startswith("WITH parent AS")
    else:
        assert len(inserts) == 4  # SQLite: one INSERT per row
    assert SubmissionVersion.objects.get(submission=submission).answers == submission.answers
    event = SubmissionEvent.objects.get(submission=submission)
    assert (event.from_status, event.to_status, event.actor_label) == ("", "received", "申請者")
    message = OutboxMessage.objects.get(reference=submission.receipt_number)
    assert message.created_at is not None  # auto_now_add is applied as save() would
    assert message.to == submission.email


def unsaved_submission(draft: Draft, now, **fields) -> Submission:
    procedure = draft.form_version.definition.procedure
    return Submission(
        receipt_number="2024-TST-999999", procedure=procedure, section_id=procedure.section_id,
        form_version=draft.form_version, draft=draft, submitted_at=now, status_secret_hash="x" * 64, **fields,
    )


def test_insert_together_sets_the_keys_and_writes_what_save_would(tiny_form, flow):
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    now = timezone.now()
    parent = unsaved_submission(
        draft, now, answers={"名前": "山田", "数": [1, 2]}, summary=[{"title": "見出し", "items": []}]
    )
    version = SubmissionVersion(number=1, answers={"名前": "山田"}, created_at=now)
    message = OutboxMessage(kind="test", to="a@example.jp", subject="件名", body="本文")
    with transaction.atomic():
        insert_together(parent, [(version, "submission_id"), (message, None)])
    assert parent.pk and version.pk and message.pk
    assert version.submission_id == parent.pk and not parent._state.adding
    stored = Submission.objects.get(pk=parent.pk)
    assert stored.answers == {"名前": "山田", "数": [1, 2]}
    assert stored.status == Submission.Status.RECEIVED  # the model default
    assert stored.channel == "online" and stored.version == 1
    assert abs(stored.submitted_at - now) < dt.timedelta(microseconds=1)
    assert SubmissionVersion.objects.get(pk=version.pk).submission_id == parent.pk


def test_insert_together_writes_nothing_when_one_row_is_refused(tiny_form, flow):
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    now = timezone.now()
    parent = unsaved_submission(draft, now, answers={})
    twins = [(SubmissionVersion(number=1, answers={}, created_at=now), "submission_id") for _ in range(2)]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_together(parent, twins)  # (submission, number) is unique
    assert not Submission.objects.exists()
    assert not SubmissionVersion.objects.exists()


def test_load_converts_columns_like_the_orm(tiny_form, flow):
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    names = ["id", "public_id", "raw", "owner_secret_hash", "created_at", "form_version_id"]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(Draft._meta.get_field(n).column) for n in names)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {quote(Draft._meta.db_table)} WHERE id = %s", [draft.pk])
        row = cursor.fetchone()
    loaded = load(Draft, names, row)
    assert isinstance(loaded.public_id, uuid.UUID) and loaded.public_id == draft.public_id
    assert loaded.raw == draft.raw and isinstance(loaded.raw, dict)
    assert loaded.created_at == draft.created_at and loaded.created_at.tzinfo is not None
    assert loaded.form_version_id == draft.form_version_id
    assert not loaded._state.adding
    # Columns not read are deferred and load on access, as with .only().
    assert "expires_at" in loaded.get_deferred_fields()
    assert loaded.expires_at == draft.expires_at
    version = load(FormVersion, ["id", "status"], [draft.form_version_id, "published"])
    assert version.status == "published"


def test_in_worker_mode_the_confirmation_is_sent_by_the_worker(tiny_form, flow, settings,
                                                                django_capture_on_commit_callbacks):
    from django.core import mail

    from tenohira.core import outbox

    settings.OUTBOX_DELIVERY = outbox.WORKER
    browser = flow.client()
    draft_id = flow.start(browser)
    flow.fill_tiny(browser, draft_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/apply/{draft_id}/check/")
    assert response.status_code == 302
    submission = Submission.objects.get()
    assert mail.outbox == []  # the request did not wait for the mail server
    assert outbox.deliver_batch() == (1, 0)
    assert submission.receipt_number in mail.outbox[0].subject
    assert mail.outbox[0].to == [submission.email]
