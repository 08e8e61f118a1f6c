"""Writes of the back office: every function takes the acting user, checks the role,
changes the application in one transaction, writes the history, the audit record and the
applicant's e-mail (outbox) in that same transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from tenohira.applications.models import CorrectionRequest, Submission, SubmissionEvent
from tenohira.audit.services import record as audit
from tenohira.backoffice import selectors, workflow
from tenohira.core import outbox
from tenohira.core.fiscal import local
from tenohira.core.site import public_url
from tenohira.insights import aggregates


class WorkflowError(Exception):
    """A transition that is not possible now; the message is for the staff member."""


def staff_label(user) -> str:
    """The staff member's name as Japanese writes it: family name first (get_full_name()
    would give 「花子 山田」)."""
    if not user:
        return ""
    return f"{user.last_name} {user.first_name}".strip() or user.get_username()


def _roles_in(user, submission: Submission) -> set[str]:
    return {role for role, section in selectors.roles_of(user) if section == submission.section_id}


def _lock(user, receipt_number: str) -> Submission:
    submission = selectors.get_submission_for(user, receipt_number)
    return Submission.objects.select_for_update().get(pk=submission.pk)


def _notify(submission: Submission, subject: str, lines: list[str]) -> None:
    if not submission.email:
        return
    body = [
        f"{settings.MUNICIPALITY_NAME}です。",
        f"受付番号 {submission.receipt_number}（{submission.procedure.name}）について、お知らせします。",
        "",
        *lines,
        "",
        "申請の状況と経過は、受付番号と確認コードで次のページから確かめられます。",
        public_url("/status/"),
    ]
    outbox.enqueue(
        kind="submission_status", to=submission.email,
        subject=f"【{settings.MUNICIPALITY_NAME}】{subject}（受付番号 {submission.receipt_number}）",
        body="\n".join(body), reference=submission.receipt_number,
    )


def record_event(submission: Submission, to_status: str, *, actor=None, actor_label: str, comment: str = "") -> SubmissionEvent:
    now = timezone.now()
    from_status = submission.status
    event = SubmissionEvent.objects.create(
        submission=submission, at=now, actor=actor, actor_label=actor_label,
        from_status=from_status, to_status=to_status, comment=comment,
    )
    submission.status = to_status
    submission.status_changed_at = now
    submission.save(update_fields=["status", "status_changed_at"])
    # A withdrawn (取下げ) application leaves the DX figures' daily count. Every status change
    # passes here, so whichever path withdraws, the count changes in the same transaction.
    withdrawn = Submission.Status.WITHDRAWN
    if (to_status == withdrawn) != (from_status == withdrawn):
        aggregates.count_submission(submission, delta=-1 if to_status == withdrawn else +1)
    return event


@transaction.atomic
def transition(user, receipt_number: str, to_status: str, *, comment: str = "", request=None) -> Submission:
    """Move an application to `to_status` if the user's role in its section allows it."""
    submission = _lock(user, receipt_number)
    roles = _roles_in(user, submission)
    if not workflow.allowed(submission.status, to_status, roles):
        if (submission.status, to_status) in workflow.TRANSITIONS:
            raise PermissionDenied("この操作をする権限がありません（承認・却下は決裁者が行います）。")
        raise WorkflowError(
            f"「{Submission.Status(submission.status).label}」の申請を「{Submission.Status(to_status).label}」にはできません。"
        )
    if to_status == Submission.Status.REJECTED and not comment.strip():
        raise WorkflowError("却下するときは理由を入力してください。申請者にお知らせします。")
    from_label = submission.get_status_display()
    record_event(submission, to_status, actor=user, actor_label=staff_label(user), comment=comment.strip())
    audit("status_change", user=user, target=submission.receipt_number,
          detail={"from": from_label, "to": submission.get_status_display()}, request=request)
    label = submission.get_status_display()
    lines = [f"申請の状況が「{label}」になりました。"]
    if comment.strip():
        lines += ["", "担当からのコメント:", comment.strip()]
    _notify(submission, f"申請の状況が「{label}」になりました", lines)
    return submission


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def request_correction(user, receipt_number: str, *, fields: list[dict], message: str, link_for, request=None) -> CorrectionRequest:
    """差戻し: ask the applicant to change the named fields; e-mails a link to do it.

    `fields` are [{"path": top-level field key, "note": what to fix}], checked against the
    submission's form version."""
    submission = _lock(user, receipt_number)
    roles = _roles_in(user, submission)
    if not workflow.allowed(submission.status, Submission.Status.RETURNED, roles):
        raise WorkflowError("審査中の申請だけを差し戻せます。先に「審査を始める」を押してください。")
    if not submission.email:
        # The correction page opens only from the e-mailed link: without an address the
        # application would wait for an answer the resident can never give.
        raise WorkflowError(
            "この申請には連絡先のメールアドレスがないため、差戻しのリンクを送れません。申請者に電話などで連絡してください。"
        )
    schema_fields = {f.key: f for f in submission.form_version.parsed().all_fields()}
    chosen = []
    for item in fields:
        field = schema_fields.get(item.get("path"))
        if field is None or field.type in {"computed", "guidance"}:
            raise WorkflowError(f"「{item.get('path')}」はこの申請の項目ではありません。")
        chosen.append({"path": field.key, "label": field.label, "note": (item.get("note") or "").strip()})
    if not chosen:
        raise WorkflowError("直してほしい項目を1つ以上選んでください。")
    if not message.strip():
        raise WorkflowError("申請者へのメッセージを入力してください。")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    correction = CorrectionRequest.objects.create(
        submission=submission, requested_by=user, requested_at=now, message=message.strip(), fields=chosen,
        token_hash=_token_hash(token), expires_at=now + dt.timedelta(days=getattr(settings, "CORRECTION_DAYS", 14)),
    )
    record_event(submission, Submission.Status.RETURNED, actor=user, actor_label=staff_label(user), comment=message.strip())
    audit("correction_request", user=user, target=submission.receipt_number,
          detail={"fields": [c["path"] for c in chosen]}, request=request)
    lines = [
        "申請の内容について、次の項目を直していただく必要があります（差戻し）。",
        "",
        *[f"・{c['label']}{(': ' + c['note']) if c['note'] else ''}" for c in chosen],
        "",
        "担当からのメッセージ:",
        message.strip(),
        "",
        f"次のリンクから、該当する項目だけを直して再提出できます（{local(correction.expires_at):%Y年%m月%d日} まで有効）。",
        link_for(token),
    ]
    _notify(submission, "申請内容の修正のお願い", lines)
    return correction
