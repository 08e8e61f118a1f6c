"""One application for staff: answers, attachments (downloads audited and scoped),
history, version differences, the workflow buttons their role allows, 差戻し."""

from __future__ import annotations

import copy
import re
from urllib.parse import unquote

import pytest
from django.core import mail
from django.utils import timezone

from tenohira.applications.models import (
    CorrectionRequest,
    Submission,
    SubmissionEvent,
    SubmissionVersion,
)
from tenohira.audit.models import AuditRecord
from tenohira.audit.services import verify
from tenohira.core.models import OutboxMessage

pytestmark = pytest.mark.django_db

S = Submission.Status


def url(submission, tail: str = "") -> str:
    return f"/staff/submissions/{submission.receipt_number}/{tail}"


def buttons(html: str) -> list[str]:
    return re.findall(r'<button type="submit" name="to" value="[^"]+"[^>]*>([^<]+)</button>', html)


def refreshed(submission) -> Submission:
    return Submission.objects.get(pk=submission.pk)


@pytest.fixture
def submission(make_submission, pdf_bytes):
    return make_submission(
        family="山田", given="花子", family_kana="ヤマダ", given_kana="ハナコ", email="hanako@example.jp",
        reason="児童手当を受け取るため", copies=2, attachment=("住民票の写し.pdf", pdf_bytes),
    )


def start_review(client, submission):
    response = client.post(url(submission, "transition/"), {"to": S.UNDER_REVIEW, "comment": ""})
    assert response.status_code == 302, response.content.decode()[:500]


# --- the page and its audit record ------------------------------------------------------------


def test_the_detail_page_shows_answers_attachments_and_history(staff, staff_client, submission):
    response = staff_client(staff.handler).get(url(submission))
    assert response.status_code == 200
    html = response.content.decode()
    assert submission.receipt_number in html and "児童手当の認定請求" in html
    assert "山田 花子（ヤマダ ハナコ）" in html  # the answers as the resident confirmed them
    assert "児童手当を受け取るため" in html and "600円" in html and "hanako@example.jp" in html
    attachment = submission.attachments.get()
    assert f'href="{url(submission, f"attachments/{attachment.pk}/")}"' in html and "住民票の写し.pdf" in html
    assert "添付書類" in html  # the field the file belongs to
    history = html[html.index('id="history-title"'):]
    assert "申請者" in history and "受付" in history
    assert "第1版のみです" in html


def test_every_view_of_an_application_is_audited_with_who_when_and_where(staff, staff_client, submission):
    client = staff_client(staff.handler)
    before = timezone.now()
    client.get(url(submission), REMOTE_ADDR="10.20.30.40")
    client.get(url(submission), REMOTE_ADDR="10.20.30.41")
    views = list(AuditRecord.objects.filter(action="submission_view").order_by("id"))
    assert len(views) == 2
    assert {v.actor_id for v in views} == {staff.handler.pk} and views[0].actor == "tanto"
    assert {v.target for v in views} == {submission.receipt_number}
    assert [v.ip for v in views] == ["10.20.30.40", "10.20.30.41"]
    assert all(v.at >= before for v in views)
    assert verify().ok


def test_staff_of_another_section_get_404_and_leave_no_view_record(staff, staff_client, submission):
    attachment = submission.attachments.get()
    for user in (staff.other_handler, staff.other_approver, staff.auditor, staff.dx_admin):
        client = staff_client(user)
        assert client.get(url(submission)).status_code == 404
        assert client.get(url(submission, f"attachments/{attachment.pk}/")).status_code == 404
        assert client.post(url(submission, "transition/"), {"to": S.UNDER_REVIEW}).status_code == 404
        assert client.post(url(submission, "correction/"), {"fields": ["reason"], "message": "x"}).status_code == 404
    assert not AuditRecord.objects.filter(action__in=["submission_view", "attachment_download"]).exists()
    assert refreshed(submission).status == S.RECEIVED


def test_an_unknown_receipt_number_is_404(staff, staff_client):
    assert staff_client(staff.handler).get("/staff/submissions/2024-BOA-999999/").status_code == 404


# --- attachments -------------------------------------------------------------------------------


def test_attachment_download_streams_the_file_with_its_name_and_is_audited(staff, staff_client, submission, pdf_bytes):
    attachment = submission.attachments.get()
    response = staff_client(staff.handler).get(url(submission, f"attachments/{attachment.pk}/"), REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == pdf_bytes
    assert response["Content-Type"] == "application/pdf"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "住民票の写し.pdf" in unquote(disposition)
    assert "no-store" in response["Cache-Control"]
    record = AuditRecord.objects.get(action="attachment_download")
    assert record.actor_id == staff.handler.pk and record.target == submission.receipt_number
    assert record.detail["attachment"] == attachment.pk and record.detail["name"] == "住民票の写し.pdf"
    assert record.ip == "10.1.2.3"


def test_an_attachment_is_reachable_only_under_its_own_application(staff, staff_client, submission, make_submission, pdf_bytes):
    other = make_submission(family="佐藤", family_kana="サトウ", attachment=("other.pdf", pdf_bytes))
    other_attachment = other.attachments.get()
    # Same section, but the id belongs to another application: not under this receipt number.
    client = staff_client(staff.handler)
    assert client.get(url(submission, f"attachments/{other_attachment.pk}/")).status_code == 404
    # Another section's attachment, with its own receipt number: 404 for this section's staff.
    theirs = make_submission(staff.other_procedure, attachment=("theirs.pdf", pdf_bytes))
    assert client.get(url(theirs, f"attachments/{theirs.attachments.get().pk}/")).status_code == 404
    assert not AuditRecord.objects.filter(action="attachment_download").exists()


# --- workflow ------------------------------------------------------------------------------------


def test_a_handler_starts_the_review_but_is_not_offered_approval(staff, staff_client, submission):
    client = staff_client(staff.handler)
    assert buttons(client.get(url(submission)).content.decode()) == ["審査を始める"]
    start_review(client, submission)
    html = client.get(url(submission)).content.decode()
    assert "状態を「審査中」にしました。" in html
    assert buttons(html) == []  # 承認・却下 are the approver's
    assert "差し戻す" in html


def test_a_section_admin_reads_the_application_but_has_no_workflow_buttons(staff, staff_client, submission):
    client = staff_client(staff.section_admin)
    html = client.get(url(submission)).content.decode()
    assert buttons(html) == [] and "差し戻す" not in html
    assert "この申請に、あなたの役割でできる操作はいまはありません。" in html
    assert "所属管理者" in html
    response = client.post(url(submission, "transition/"), {"to": S.UNDER_REVIEW})
    assert response.status_code == 403
    assert refreshed(submission).status == S.RECEIVED


def test_a_handler_cannot_approve_even_by_posting_the_form(staff, staff_client, submission):
    client = staff_client(staff.handler)
    start_review(client, submission)
    events_before = SubmissionEvent.objects.filter(submission=submission).count()
    response = client.post(url(submission, "transition/"), {"to": S.APPROVED, "comment": "よし"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "この操作をする権限がありません（承認・却下は決裁者が行います）。" in html
    assert "申請の状態は変わっていません。" in html
    assert 'role="alert"' in html
    assert refreshed(submission).status == S.UNDER_REVIEW
    assert SubmissionEvent.objects.filter(submission=submission).count() == events_before
    assert AuditRecord.objects.filter(action="status_change").count() == 1  # only 審査を始める


def test_an_approver_approves_and_the_applicant_is_told(staff, staff_client, submission, django_capture_on_commit_callbacks):
    start_review(staff_client(staff.handler), submission)
    client = staff_client(staff.approver)
    html = client.get(url(submission)).content.decode()
    assert buttons(html) == ["承認する", "却下する"]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(submission, "transition/"), {"to": S.APPROVED, "comment": "書類に不備はありません。"})
    assert response.status_code == 302 and response["Location"] == url(submission)
    assert refreshed(submission).status == S.APPROVED
    event = SubmissionEvent.objects.filter(submission=submission).last()
    assert event.actor == staff.approver and event.to_status == S.APPROVED and event.comment == "書類に不備はありません。"
    change = AuditRecord.objects.filter(action="status_change").last()
    assert change.actor_id == staff.approver.pk and change.detail == {"from": "審査中", "to": "承認"}
    (message,) = mail.outbox
    assert message.to == ["hanako@example.jp"] and "承認" in message.subject
    assert "書類に不備はありません。" in message.body
    page = client.get(url(submission)).content.decode()
    assert buttons(page) == ["完了にする"]
    history = page[page.index('id="history-title"'):]
    assert "審査中 → 承認" in history and "子供 決裁" in history


def test_rejecting_needs_a_reason_and_nothing_changes_without_one(staff, staff_client, submission):
    start_review(staff_client(staff.handler), submission)
    client = staff_client(staff.approver)
    response = client.post(url(submission, "transition/"), {"to": S.REJECTED, "comment": "  "})
    assert response.status_code == 400
    assert "却下するときは理由を入力してください。" in response.content.decode()
    assert refreshed(submission).status == S.UNDER_REVIEW
    response = client.post(url(submission, "transition/"), {"to": S.REJECTED, "comment": "対象外の世帯です。"})
    assert response.status_code == 302 and refreshed(submission).status == S.REJECTED


def test_a_transition_the_workflow_does_not_have_is_refused_with_a_message(staff, staff_client, submission):
    client = staff_client(staff.approver)
    response = client.post(url(submission, "transition/"), {"to": S.COMPLETED})
    assert response.status_code == 400
    assert "「受付」の申請を「完了」にはできません。" in response.content.decode()
    response = client.post(url(submission, "transition/"), {"to": "no-such-state"})
    assert response.status_code == 400
    assert "選んだ操作が正しくありません" in response.content.decode()
    assert refreshed(submission).status == S.RECEIVED
    assert client.get(url(submission, "transition/")).status_code == 405


# --- 差戻し -------------------------------------------------------------------------------------


def test_the_correction_form_offers_the_fields_residents_typed(staff, staff_client, submission):
    client = staff_client(staff.handler)
    assert "差し戻す" not in client.get(url(submission)).content.decode()  # review first
    start_review(client, submission)
    html = client.get(url(submission)).content.decode()
    offered = re.findall(r'name="fields" value="([^"]+)"', html)
    assert offered == ["applicant", "email", "reason", "copies", "document"]  # no fee, no guidance
    for key in offered:
        assert f'<label for="f-fix-{key}">' in html and f'for="f-note-{key}"' in html


def test_a_correction_request_returns_the_application_and_mails_the_link(
    staff, staff_client, submission, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://shinsei.example.lg.jp"
    client = staff_client(staff.handler)
    start_review(client, submission)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(submission, "correction/"), {
            "fields": ["reason", "document"], "note-reason": "具体的な理由を書いてください。", "note-copies": "ignored",
            "message": "申請の理由と添付書類を確認させてください。",
        })
    assert response.status_code == 302
    assert refreshed(submission).status == S.RETURNED
    correction = CorrectionRequest.objects.get(submission=submission)
    assert correction.requested_by == staff.handler
    assert correction.fields == [
        {"path": "reason", "label": "申請の理由", "note": "具体的な理由を書いてください。"},
        {"path": "document", "label": "添付書類", "note": ""},
    ]
    event = SubmissionEvent.objects.filter(submission=submission).last()
    assert event.to_status == S.RETURNED and event.actor == staff.handler
    assert AuditRecord.objects.filter(action="correction_request", target=submission.receipt_number).exists()
    (message,) = mail.outbox
    assert message.to == ["hanako@example.jp"]
    assert "・申請の理由: 具体的な理由を書いてください。" in message.body and "・添付書類" in message.body
    link = re.search(r"(\S+/corrections/(\S+)/)", message.body)
    assert link and link.group(1).startswith("https://shinsei.example.lg.jp/corrections/")
    import hashlib

    assert hashlib.sha256(link.group(2).encode()).hexdigest() == correction.token_hash
    page = client.get(url(submission)).content.decode()
    assert "差戻しの記録" in page and "具体的な理由を書いてください。" in page
    assert "申請者の再提出を待っています。" in page


@pytest.mark.parametrize("data, message", [
    ({"message": "直してください。"}, "直してほしい項目を1つ以上選んでください。"),
    ({"fields": ["reason"], "message": " "}, "申請者へのメッセージを入力してください。"),
])
def test_an_incomplete_correction_request_changes_nothing_and_keeps_the_typing(staff, staff_client, submission, data, message):
    client = staff_client(staff.handler)
    start_review(client, submission)
    mails = OutboxMessage.objects.count()
    response = client.post(url(submission, "correction/"), {**data, "note-reason": "ここを直して"})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'value="ここを直して"' in html
    assert refreshed(submission).status == S.UNDER_REVIEW
    assert not CorrectionRequest.objects.exists()
    assert OutboxMessage.objects.count() == mails  # no e-mail either


def test_fields_that_are_not_typed_by_residents_cannot_be_returned(staff, staff_client, submission):
    client = staff_client(staff.handler)
    start_review(client, submission)
    response = client.post(url(submission, "correction/"), {"fields": ["fee"], "message": "x"})
    assert response.status_code == 400  # "fee" is computed: not offered, so nothing chosen
    assert refreshed(submission).status == S.UNDER_REVIEW


def test_only_applications_under_review_can_be_returned(staff, staff_client, submission):
    response = staff_client(staff.handler).post(url(submission, "correction/"), {"fields": ["reason"], "message": "x"})
    assert response.status_code == 400
    assert "審査中の申請だけを差し戻せます。" in response.content.decode()
    assert refreshed(submission).status == S.RECEIVED


# --- versions --------------------------------------------------------------------------------------


def test_the_difference_between_versions_shows_the_changed_items_only(staff, staff_client, submission):
    first = submission.versions.get()
    summary = copy.deepcopy(first.summary)
    for part in summary:
        for item in part["items"]:
            if item["label"] == "申請の理由":
                item["value"] = "第2子が生まれたため"
            if item["label"] == "通数":
                item["value"] = "3"
    SubmissionVersion.objects.create(
        submission=submission, number=2, answers=first.answers, summary=summary, created_at=timezone.now()
    )
    Submission.objects.filter(pk=submission.pk).update(version=2, summary=summary)
    html = staff_client(staff.handler).get(url(submission)).content.decode()
    section = html[html.index('id="versions-title"'):]
    assert "第1版 → 第2版" in section
    rows = re.findall(r'<tr class="diff-row diff-row--changed">(.*?)</tr>', section, re.S)
    assert len(rows) == 2
    assert "申請の理由" in rows[0] and "<del>児童手当を受け取るため</del>" in rows[0] and "<ins>第2子が生まれたため</ins>" in rows[0]
    assert "通数" in rows[1] and "<del>2</del>" in rows[1] and "<ins>3</ins>" in rows[1]
    assert "氏名" not in "".join(rows)
