"""Reads and writes of the pull API, with the business system (IntegrationClient) as the
actor: it sees the applications of its sections only, and acts on them as the section
(the back office's workflow rules, with the roles of the section's staff)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenohira.applications.history import record_event
from tenohira.applications.models import Attachment, Submission
from tenohira.backoffice import workflow
from tenohira.backoffice.models import Role
from tenohira.integrations.models import Acknowledgement, IntegrationClient

S = Submission.Status
# The states a business system may set; 差戻し needs the correction page's fields and link,
# so it stays with staff.
POSTABLE_STATUSES = [S.UNDER_REVIEW, S.APPROVED, S.REJECTED, S.COMPLETED]
# The system acts for its whole section: what any of the section's staff may do.
SECTION_ROLES = {Role.HANDLER, Role.APPROVER}
MAX_LIMIT = 100


class Forbidden(Exception):
    """The client may not do this (scope or section); the message says why."""


class NotFound(Exception):
    pass


class Invalid(ValueError):
    """Bad input or a transition that is not possible now; the message says what to do."""


def section_ids(client: IntegrationClient) -> set[int]:
    cached = getattr(client, "_section_ids", None)
    if cached is None:
        cached = client._section_ids = set(client.sections.values_list("pk", flat=True))
    return cached


def require_scope(client: IntegrationClient, scope: str) -> None:
    if scope not in (client.scopes or []):
        raise Forbidden(f"この操作には権限「{scope}」が必要です。管理者に権限の追加を依頼してください。")


def get_submission(client: IntegrationClient, receipt_number: str, *, lock: bool = False) -> Submission:
    queryset = Submission.objects.select_related("procedure", "section")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    submission = queryset.filter(receipt_number=receipt_number).first()
    if submission is None:
        raise NotFound("この受付番号の申請はありません。")
    if submission.section_id not in section_ids(client):
        raise Forbidden("この申請は、このシステムが扱える所属の申請ではありません。")
    return submission


# --- the cursor ------------------------------------------------------------------------------
#
# The cursor is the last submission id the client has seen, wrapped so that clients treat it
# as opaque (it may carry more later). Ids grow with each insert, but on PostgreSQL a
# transaction that took a lower id may commit after a higher one is already visible; the list
# therefore stops at submissions older than INTEGRATION_SETTLE_SECONDS, by which time every
# submission's short transaction has committed. `unacknowledged=true` without a cursor is the
# safety net: it lists everything not yet acknowledged by this client.


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"s1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, _, value = raw.partition(":")
        if version != "s1" or not value.isdigit() or len(value) > 18:
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Invalid("since の値が正しくありません。前回の応答の next をそのまま送ってください。") from None


def settle_seconds() -> float:
    return float(getattr(settings, "INTEGRATION_SETTLE_SECONDS", 2))


def list_submissions(client: IntegrationClient, *, since: str | None, limit: int, unacknowledged: bool):
    """(submissions oldest first, the next cursor, whether more are waiting)."""
    after = decode_cursor(since) if since else 0
    queryset = (
        Submission.objects.filter(section_id__in=section_ids(client), pk__gt=after,
                                  submitted_at__lte=timezone.now() - dt.timedelta(seconds=settle_seconds()))
        .select_related("procedure", "section").order_by("pk")
    )
    if unacknowledged:
        queryset = queryset.exclude(acknowledgements__client=client)
    rows = list(queryset[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    acknowledged = set(
        Acknowledgement.objects.filter(client=client, submission__in=rows).values_list("submission_id", flat=True)
    )
    for row in rows:
        row.acknowledged = row.pk in acknowledged
    next_cursor = encode_cursor(rows[-1].pk if rows else after)
    return rows, next_cursor, more


def get_attachment(client: IntegrationClient, receipt_number: str, token: str) -> tuple[Submission, Attachment]:
    submission = get_submission(client, receipt_number)
    attachment = Attachment.objects.filter(submission=submission, token=token).first()
    if attachment is None:
        raise NotFound("この申請にその添付ファイルはありません。")
    return submission, attachment


@transaction.atomic
def acknowledge(client: IntegrationClient, receipt_number: str) -> tuple[Acknowledgement, bool]:
    """取込済 (idempotent): the first acknowledgement's time stays."""
    submission = get_submission(client, receipt_number)
    ack, created = Acknowledgement.objects.get_or_create(client=client, submission=submission,
                                                         defaults={"at": timezone.now()})
    return ack, created


@transaction.atomic
def post_status(client: IntegrationClient, receipt_number: str, to_status: str, message: str) -> tuple[Submission, str]:
    """Move the application as the section would, with the message for the applicant on the
    status page and in the e-mail the back office sends for the same step. Returns the
    submission and the previous state."""
    from tenohira.backoffice.services import (
        notify_applicant,  # the same e-mail as a step taken by staff
    )

    submission = get_submission(client, receipt_number, lock=True)
    message = message.strip()
    if to_status not in POSTABLE_STATUSES:
        raise Invalid("status は under_review, approved, rejected, completed のいずれかです。")
    if submission.status == to_status:
        raise Invalid(f"この申請はすでに「{Submission.Status(to_status).label}」です。")
    if not workflow.allowed(submission.status, to_status, SECTION_ROLES):
        raise Invalid(
            f"「{Submission.Status(submission.status).label}」の申請を「{Submission.Status(to_status).label}」にはできません。"
        )
    if to_status == S.REJECTED and not message:
        raise Invalid("却下するときは message に理由を入れてください。申請者にお知らせします。")
    previous = submission.status
    record_event(submission, to_status, actor=None, actor_label=client.name[:100], comment=message)
    label = submission.get_status_display()
    lines = [f"申請の状況が「{label}」になりました。"]
    if message:
        lines += ["", "担当からのお知らせ:", message]
    notify_applicant(submission, f"申請の状況が「{label}」になりました", lines)
    return submission, previous
