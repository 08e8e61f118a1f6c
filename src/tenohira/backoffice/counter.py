"""書かない窓口 (no-writing counter): staff fill the resident's form at the counter.

Two ways in: a staff member starts a new application for a walk-in resident, or opens the
draft a resident pre-filled on a phone with the short code (or QR code) the phone shows.
Either way the staff member fills the SAME form (same schema, same field templates and
validation as the resident's pages) and submits it with channel 窓口; the resident takes
home a printed receipt.

Every function takes the acting user and checks that they hold 担当 or 決裁者 in the
procedure's section; reads go through backoffice.selectors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from tenohira.applications import services as applications
from tenohira.applications.models import Channel, Draft, Submission
from tenohira.applications.selectors import published_form_version
from tenohira.audit.services import record as audit
from tenohira.backoffice import selectors
from tenohira.backoffice.models import CounterIdentityCheck, IdentityDocument
from tenohira.catalog.models import Procedure
from tenohira.core.ratelimit import hit
from tenohira.forms import editing
from tenohira.forms.engine import FormRun, raw_from_post
from tenohira.forms.schema import Step


def _require_counter_role(user, section_id: int) -> None:
    if section_id not in selectors.counter_section_ids(user):
        raise PermissionDenied("この手続きの窓口受付をする権限がありません（担当課の担当・決裁者が行います）。")


def section_of(draft: Draft) -> int:
    return draft.form_version.definition.procedure.section_id


@transaction.atomic
def start(user, procedure_id, *, request=None) -> Draft:
    """A new counter draft of the procedure's published form, owned by the staff member."""
    procedure = Procedure.objects.filter(pk=procedure_id).first() if str(procedure_id).isdigit() else None
    if procedure is None:
        raise Http404("procedure not found")
    _require_counter_role(user, procedure.section_id)
    version = published_form_version(procedure)
    if version is None:
        raise Http404("no published form")
    draft = applications.start_counter_draft(version, user)
    audit("counter_start", user=user, target=str(draft.public_id), detail={"procedure": procedure.code}, request=request)
    return draft


@dataclass
class StepResult:
    run: FormRun
    action: str
    problems: list[tuple[str, str]] = field(default_factory=list)  # (input name, message)


def save_step(user, draft: Draft, step: Step, post, files) -> StepResult:
    """Store what staff typed on one step, with the buttons of the resident's pages (add or
    remove a row, fill the address from the postal code, attach or remove a file)."""
    _require_counter_role(user, section_of(draft))
    schema = draft.form_version.parsed()
    action = post.get("action", "continue")
    raw = raw_from_post(post, step)
    problems: list[tuple[str, str]] = []
    removals, problem = editing.apply_button(action, raw, schema.field_map())
    if problem:
        problems.append(problem)
    uploads = {name: files.getlist(name) for name in files}
    run, upload_problems = applications.save_step(draft, step, raw, uploads, removals)
    return StepResult(run=run, action=action, problems=problems + upload_problems)


class IdentityProblem(ValueError):
    """The identity document was not chosen, or 「その他」 without its name; the message is
    for the clerk and nothing was submitted."""


IDENTITY_MISSING = _("確認した本人確認書類を選んでください（確認しなかったときは「確認なし」を選びます）。")
IDENTITY_NOTE_MISSING = _("「その他」を選んだときは、確認した書類の名前を入力してください。")
IDENTITY_NOTE_TOO_LONG = _("書類の名前は100文字以内で入力してください。")
NOTE_LENGTH = 100


def clean_identity(document: str, note: str = "") -> tuple[str, str]:
    """(document, note) as stored, or IdentityProblem. The note is kept for 「その他」 only."""
    document = (document or "").strip()
    note = " ".join((note or "").split())
    if document not in IdentityDocument.values:
        raise IdentityProblem(str(IDENTITY_MISSING))
    if document != IdentityDocument.OTHER:
        return document, ""
    if not note:
        raise IdentityProblem(str(IDENTITY_NOTE_MISSING))
    if len(note) > NOTE_LENGTH:
        raise IdentityProblem(str(IDENTITY_NOTE_TOO_LONG))
    return document, note


def submit(user, draft: Draft, *, identity_document: str, identity_note: str = "",
           request=None) -> tuple[Submission, str | None]:
    """Submit at the counter (channel 窓口, the staff member as actor in the history) with
    the identity document the clerk checked, stored in the same transaction.
    Returns (submission, status secret); the secret is None on a repeated submit (which
    keeps the first record of the identity check).
    Raises IdentityProblem before anything is written, and
    applications.services.NotReady when a step is still incomplete."""
    _require_counter_role(user, section_of(draft))
    document, note = clean_identity(identity_document, identity_note)
    with transaction.atomic():
        submission, secret = applications.submit(draft, channel=Channel.COUNTER, actor=user)
        if secret is not None:
            CounterIdentityCheck.objects.create(
                submission=submission, document=document, note=note, checked_by=user,
                checked_at=submission.submitted_at,
            )
            audit(
                "counter_submit", user=user, target=submission.receipt_number,
                detail={"procedure": submission.procedure.code, "draft": str(draft.public_id),
                        "identity_document": document, "email": bool(submission.email)},
                request=request,
            )
    return submission, secret


def receipt_submission(user, receipt_number: str) -> Submission:
    """The application whose receipt staff print (scoped: 404 outside the user's sections)."""
    return selectors.get_submission_for(user, receipt_number)


def record_receipt(user, submission: Submission, action: str, *, request=None) -> None:
    """receipt_view (the printable page, which shows the answers) or receipt_print (PDF)."""
    audit(action, user=user, target=submission.receipt_number, detail={"channel": submission.channel}, request=request)


class HandoffProblem(Exception):
    """The code cannot open a draft; `message` is for the staff member, `status` for HTTP."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message = message
        self.status = status


NOT_FOUND = (
    "このコードの申請は見つかりません。コードを確かめてください（使用済みのコードや、"
    "ほかの課の手続きのコードは使えません）。"
)
EXPIRED = (
    "このコードは有効期限（発行から{minutes}分）が切れています。申請者のスマートフォンで"
    "「窓口で続ける」を開き直して、新しいコードを表示してもらってください。"
)
TOO_MANY = "コードの照会が多すぎます。しばらく待ってからお試しください（1時間に{limit}回まで）。"


def open_handoff(user, code: str, *, request=None) -> Draft:
    """Open the draft a resident's counter code names: it moves to the counter (the code
    stops working, the resident's phone no longer edits it) and the opening is audited.
    Raises HandoffProblem: 429 over the rate limit, 404 unknown, used or another
    section's code, 410 expired."""
    limit = settings.HANDOFF_LOOKUP_LIMIT_PER_HOUR
    if not hit(f"handoff:{user.pk}", limit=limit, window=dt.timedelta(hours=1)):
        raise HandoffProblem(TOO_MANY.format(limit=limit), 429)
    draft = selectors.handoff_draft_for(user, code)
    if draft is None:
        raise HandoffProblem(NOT_FOUND, 404)
    if applications.handoff_expired(draft):
        raise HandoffProblem(EXPIRED.format(minutes=settings.HANDOFF_MINUTES), 410)
    _require_counter_role(user, section_of(draft))
    with transaction.atomic():
        claimed = applications.claim_handoff(draft, user)
        if claimed is None:  # used a moment ago (a double scan, another counter)
            raise HandoffProblem(NOT_FOUND, 404)
        audit(
            "handoff_open", user=user, target=str(claimed.public_id),
            detail={"procedure": draft.form_version.definition.procedure.code}, request=request,
        )
    return claimed
