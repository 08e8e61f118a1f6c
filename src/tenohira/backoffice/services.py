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

from tenohira.applications.history import record_event
from tenohira.applications.models import CorrectionRequest, Submission
from tenohira.audit.services import record as audit
from tenohira.backoffice import selectors, workflow
from tenohira.core import outbox
from tenohira.core.fiscal import local
from tenohira.core.site import public_url
from tenohira.payments import staff_services as fee_rules


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


def notify_applicant(submission: Submission, subject: str, lines: list[str]) -> None:
    """E-mail the applicant (if they gave an address) about their application, in the
    back office's wording, through the outbox: one wording whoever moved it (staff, or a
    business system through the pull API)."""
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
    if to_status == Submission.Status.APPROVED:
        # A procedure may ask for its fee before approval (FeeSetting.require_before_approval).
        blocker = fee_rules.approval_blocker(submission)
        if blocker:
            raise WorkflowError(blocker)
    from_label = submission.get_status_display()
    record_event(submission, to_status, actor=user, actor_label=staff_label(user), comment=comment.strip())
    audit("status_change", user=user, target=submission.receipt_number,
          detail={"from": from_label, "to": submission.get_status_display()}, request=request)
    label = submission.get_status_display()
    lines = [f"申請の状況が「{label}」になりました。"]
    if comment.strip():
        lines += ["", "担当からのコメント:", comment.strip()]
    notify_applicant(submission, f"申請の状況が「{label}」になりました", lines)
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
    notify_applicant(submission, "申請内容の修正のお願い", lines)
    return correction


# --- Role grants: a second person (四つの目) -------------------------------------------
#
# One DX管理者 alone could give themselves a section role in the admin and read that
# section's applications. A grant made there is therefore stored PENDING (selectors ignore
# it) until someone else approves it: another DX管理者, or the section's 所属管理者. Nobody
# approves a grant they made or a grant for themselves. Requests, approvals, refusals and
# removals go into the audit chain; the people who may approve get a short e-mail.

ROLE_FIELDS = ("user", "role", "section", "department")


def _grant_detail(grant) -> dict:
    return {
        "grant": grant.pk, "grantee": grant.user.get_username(), "role": grant.role,
        "section": grant.section_id, "department": grant.department_id,
    }


def may_approve_grant(actor, grant) -> bool:
    from tenohira.backoffice.models import Role

    if actor is None or actor.pk in {grant.user_id, grant.requested_by_id}:
        return False
    if selectors.is_dx_admin(actor):
        return True
    return grant.section_id is not None and selectors.has_role(actor, Role.SECTION_ADMIN, grant.section_id)


def approvers_of(grant) -> list:
    """Who is asked to approve: the DX管理者 and the section's 所属管理者 (effective roles
    only), never the person who made the grant nor the person it is for."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from tenohira.backoffice.models import GrantStatus, Role

    who = Q(staff_roles__role=Role.DX_ADMIN, staff_roles__section__isnull=True)
    if grant.section_id:
        who |= Q(staff_roles__role=Role.SECTION_ADMIN, staff_roles__section_id=grant.section_id)
    return list(
        get_user_model().objects.filter(who, staff_roles__status=GrantStatus.ACTIVE, is_active=True)
        .exclude(pk__in=[grant.user_id, grant.requested_by_id]).exclude(email="").distinct().order_by("pk")
    )


def request_role_grant(actor, grant, *, request=None, changed: bool = False):
    """Store a role given (or changed) in the admin as waiting for approval."""
    from django.urls import reverse

    from tenohira.backoffice.models import GrantStatus
    from tenohira.core.site import staff_url

    with transaction.atomic():
        grant.status = GrantStatus.PENDING
        grant.requested_by, grant.requested_at = actor, timezone.now()
        grant.approved_by, grant.approved_at = None, None
        grant.save()
        audit("role_grant_request", user=actor, target=f"role:{grant.pk}",
              detail={**_grant_detail(grant), "changed": changed}, request=request)
        where = grant.section.name if grant.section_id else (grant.department.name if grant.department_id else "全庁")
        link = staff_url(reverse("admin:backoffice_staffrole_changelist") + "?status__exact=pending")
        body = (
            f"{staff_label(actor)} さんが、{staff_label(grant.user)} さんに「{grant.get_role_display()}」"
            f"（{where}）の役割を付与しました。\n"
            "別の方が承認するまで、この役割は有効になりません。\n\n"
            f"承認または却下: {link}\n"
        )
        for person in approvers_of(grant):
            outbox.enqueue(kind="role_grant", to=person.email, subject="【てのひら】職員の役割の承認依頼",
                           body=body, reference=f"role:{grant.pk}")
    return grant


def approve_role_grant(actor, grant, *, request=None):
    from tenohira.backoffice.models import GrantStatus, StaffRole

    with transaction.atomic():
        grant = StaffRole.objects.select_for_update().select_related("user").get(pk=grant.pk)
        if grant.status != GrantStatus.PENDING:
            raise WorkflowError("この役割は承認待ちではありません。")
        if grant.user_id == actor.pk:
            raise PermissionDenied("自分自身への役割の付与は承認できません。")
        if grant.requested_by_id == actor.pk:
            raise PermissionDenied("自分で付与した役割は、別の方が承認する必要があります。")
        if not may_approve_grant(actor, grant):
            raise PermissionDenied("この役割を承認できるのは、DX管理者またはその所属の所属管理者です。")
        grant.status, grant.approved_by, grant.approved_at = GrantStatus.ACTIVE, actor, timezone.now()
        grant.save(update_fields=["status", "approved_by", "approved_at"])
        audit("role_grant_approve", user=actor, target=f"role:{grant.pk}",
              detail={**_grant_detail(grant), "requested_by": grant.requested_by_id}, request=request)
    return grant


def refuse_role_grant(actor, grant, *, request=None) -> None:
    """Refuse a pending grant (or, by the person who made it, withdraw it): the row goes."""
    from tenohira.backoffice.models import GrantStatus, StaffRole

    with transaction.atomic():
        grant = StaffRole.objects.select_for_update().select_related("user").get(pk=grant.pk)
        if grant.status != GrantStatus.PENDING:
            raise WorkflowError("この役割は承認待ちではありません。")
        if actor.pk != grant.requested_by_id and not may_approve_grant(actor, grant):
            raise PermissionDenied("この役割を却下できるのは、DX管理者またはその所属の所属管理者です。")
        audit("role_grant_refuse", user=actor, target=f"role:{grant.pk}",
              detail={**_grant_detail(grant), "requested_by": grant.requested_by_id}, request=request)
        grant.delete()


def record_role_removal(actor, grant, *, request=None) -> None:
    """A role taken away (removing access needs no second person, but is logged)."""
    audit("role_revoke", user=actor, target=f"role:{grant.pk}",
          detail={**_grant_detail(grant), "status": grant.status}, request=request)
