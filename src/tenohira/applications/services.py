"""Writes of the resident side: drafts, attachments, submission, resume links."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenohira.applications import attachments as files
from tenohira.applications.models import (
    Attachment,
    Channel,
    Draft,
    Submission,
    SubmissionEvent,
    SubmissionVersion,
)
from tenohira.applications.receipts import new_status_secret, next_receipt_number
from tenohira.core import outbox
from tenohira.core.fiscal import local
from tenohira.forms.engine import FormRun
from tenohira.forms.models import FormVersion
from tenohira.forms.schema import Step


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def draft_lifetime() -> dt.timedelta:
    return dt.timedelta(days=getattr(settings, "DRAFT_LIFETIME_DAYS", 30))


def start_draft(version: FormVersion) -> tuple[Draft, str]:
    """A new draft and the owner secret that the browser keeps in a cookie."""
    owner_secret = secrets.token_urlsafe(32)
    draft = Draft.objects.create(
        form_version=version, expires_at=timezone.now() + draft_lifetime(), owner_secret_hash=_hash(owner_secret)
    )
    return draft, owner_secret


def owns(draft: Draft, owner_secret: str | None) -> bool:
    return bool(owner_secret) and secrets.compare_digest(draft.owner_secret_hash, _hash(owner_secret))


def run_of(draft: Draft) -> FormRun:
    return FormRun(draft.form_version.parsed(), draft.raw)


@transaction.atomic
def save_step(draft: Draft, step: Step, raw: dict, uploads: dict, removals: list[str]) -> tuple[FormRun, list[tuple[str, str]]]:
    """Store what was typed on one step (valid or not) and any files chosen there.

    Returns the new run and the upload problems (already phrased for the resident).
    """
    draft = Draft.objects.select_for_update().get(pk=draft.pk)
    previous = draft.raw.get(step.key, {})
    fields = draft.form_version.parsed().field_map()
    problems: list[tuple[str, str]] = []
    # Files already attached stay attached unless the resident removed them.
    for name, tokens in previous.items():
        field = _file_field(fields, name)
        if field is not None:
            kept = [t for t in tokens if t not in removals]
            raw[name] = kept + [t for t in raw.get(name, []) if t not in kept and t not in removals]
    for name, upload_list in uploads.items():
        field = _file_field(fields, name)
        if field is None:
            continue
        for upload in upload_list:
            try:
                stored = files.accept_upload(
                    upload,
                    accept=field.option("accept", ["jpeg", "png", "heic", "pdf"]),
                    max_size_mb=field.option("max_size_mb", 10),
                    label=field.label,
                )
            except files.AttachmentRejected as exc:
                problems.append((name, str(exc)))
                continue
            Attachment.objects.create(
                token=stored.token, draft=draft, field_path=name, stored_name=stored.stored_name,
                original_name=stored.original_name, content_type=stored.content_type, size=stored.size,
                sha256=stored.sha256, scan=stored.scan,
            )
            raw.setdefault(name, []).append(stored.token)
    if removals:
        for attachment in draft.attachments.filter(token__in=removals, submission__isnull=True):
            files.delete_stored(attachment.stored_name)
            attachment.delete()
    # A file input holds tokens of this draft's own files only: a token typed into the
    # POST (made up, or another draft's) would otherwise count as an attached file.
    owned = set(draft.attachments.values_list("token", flat=True))
    for name in list(raw):
        if _file_field(fields, name) is not None:
            raw[name] = [t for t in raw[name] if t in owned]
    draft.raw = {**draft.raw, step.key: raw}
    draft.expires_at = timezone.now() + draft_lifetime()
    draft.save(update_fields=["raw", "expires_at", "updated_at"])
    return run_of(draft), problems


def _file_field(fields, input_name: str):
    """The file Field an input name belongs to (top level `key` or group `g-i-key`)."""
    parts = input_name.split("-")
    field = fields.get(f"{parts[0]}.{parts[2]}") if len(parts) == 3 else fields.get(input_name)
    return field if field is not None and field.type == "file" else None


def attachments_of(draft: Draft) -> dict[str, Attachment]:
    return {a.token: a for a in draft.attachments.all()}


class NotReady(Exception):
    """The draft still has steps to complete; `step` is where to continue."""

    def __init__(self, step: Step):
        self.step = step


def contact_email(run: FormRun) -> str:
    key = run.schema.raw.get("email_field")
    if key:
        return run.answers.get(key, "") or ""
    for field in run.schema.all_fields():
        if field.type == "email" and run.answers.get(field.key):
            return run.answers[field.key]
    return ""


def applicant_of(run: FormRun) -> tuple[str, str]:
    """(display name, normalised name + furigana for search) from the form's first name field."""
    from tenohira.core.text import normalize

    for field in run.schema.all_fields():
        value = run.answers.get(field.key)
        if field.type == "name" and value:
            name = f"{value.get('family', '')} {value.get('given', '')}".strip()
            kana = f"{value.get('family_kana', '')}{value.get('given_kana', '')}"
            return name, f"{normalize(name)}|{normalize(kana)}"
    return "", ""


def submit(draft: Draft, *, channel: str = Channel.ONLINE, actor=None) -> tuple[Submission, str | None]:
    """Submit a draft once. Returns (submission, status secret); the secret is None when
    the draft had already been submitted (a double tap, a retry, a replayed POST)."""
    try:
        with transaction.atomic():
            locked = Draft.objects.select_for_update().get(pk=draft.pk)
            existing = Submission.objects.filter(draft=locked).first()
            if existing is not None:
                return existing, None
            run = run_of(locked)
            pending = run.first_incomplete()
            if pending is not None:
                raise NotReady(pending)
            version = locked.form_version
            procedure = version.definition.procedure
            now = timezone.now()
            secret = new_status_secret()
            email = contact_email(run)
            summary = [
                {"title": row["step"].title, "items": row["items"]} for row in run.summary()
            ]
            name, name_search = applicant_of(run)
            submission = Submission.objects.create(
                receipt_number=next_receipt_number(procedure.code, now), procedure=procedure,
                section_id=procedure.section_id, form_version=version, draft=locked, answers=run.answers,
                summary=summary, channel=channel, email=email, status_secret_hash=_hash(secret),
                submitted_at=now, status_changed_at=now, applicant_name=name, applicant_search=name_search,
                due_date=(local(now).date() + dt.timedelta(days=procedure.processing_days))
                if procedure.processing_days else None,
            )
            SubmissionVersion.objects.create(
                submission=submission, number=1, answers=run.answers, summary=summary, created_at=now
            )
            SubmissionEvent.objects.create(
                submission=submission, at=now, actor=actor, actor_label="窓口" if channel == Channel.COUNTER else "申請者",
                from_status="", to_status=Submission.Status.RECEIVED,
            )
            tokens = _attachment_tokens(run)
            locked.attachments.filter(token__in=tokens).update(submission=submission)
            if email:
                _enqueue_confirmation(submission, secret)
            return submission, secret
    except IntegrityError:
        # Two requests raced past the check on a database without row locks: the unique
        # draft link let exactly one in. Return that one.
        existing = Submission.objects.filter(draft_id=draft.pk).first()
        if existing is None:
            raise
        return existing, None


def _attachment_tokens(run: FormRun) -> list[str]:
    tokens = []
    for field in run.schema.all_fields():
        value = run.answers.get(field.key)
        if field.type == "file":
            tokens += value or []
        elif field.type == "group":
            for row in value or []:
                for child in field.children:
                    if child.type == "file":
                        tokens += row.get(child.key) or []
    return tokens


def _enqueue_confirmation(submission: Submission, secret: str) -> None:
    lines = [
        f"{settings.MUNICIPALITY_NAME}です。次の申請を受け付けました。",
        "",
        f"手続き: {submission.procedure.name}",
        f"受付番号: {submission.receipt_number}",
        f"申請日時: {local(submission.submitted_at):%Y年%m月%d日 %H:%M}",
        f"確認コード: {secret}",
        "",
        "申請の状況は、受付番号と確認コードで次のページから確かめられます。",
        f"{settings.SITE_URL.rstrip('/')}/status/",
        "",
        "― 申請の内容 ―",
    ]
    for section in submission.summary:
        lines.append(f"【{section['title']}】")
        lines += [f"{item['label']}: {item['value']}" for item in section["items"]]
    lines += ["", "このメールは送信専用です。お問い合わせは担当課へお願いします。"]
    outbox.enqueue(
        kind="submission_received", to=submission.email,
        subject=f"【{settings.MUNICIPALITY_NAME}】申請を受け付けました（受付番号 {submission.receipt_number}）",
        body="\n".join(lines), reference=submission.receipt_number,
    )


def send_resume_link(draft: Draft, email: str, link_for) -> None:
    """E-mail a link that reopens this draft (expires after RESUME_LINK_DAYS)."""
    token = secrets.token_urlsafe(32)
    days = getattr(settings, "RESUME_LINK_DAYS", 7)
    with transaction.atomic():
        draft.email = email
        draft.resume_token_hash = _hash(token)
        draft.resume_expires_at = timezone.now() + dt.timedelta(days=days)
        draft.save(update_fields=["email", "resume_token_hash", "resume_expires_at", "updated_at"])
        title = draft.form_version.parsed().title
        outbox.enqueue(
            kind="resume_link", to=email, subject=f"【{settings.MUNICIPALITY_NAME}】入力の続きはこちらから（{title}）",
            body="\n".join([
                f"「{title}」の入力内容を保存しました。",
                f"次のリンクから続きを入力できます（{local(draft.resume_expires_at):%Y年%m月%d日 %H:%M} まで有効）。",
                "",
                link_for(token),
                "",
                "心当たりがない場合は、このメールを破棄してください。",
            ]),
            reference=str(draft.public_id),
        )


def resume(token: str) -> tuple[Draft, str] | None:
    """The draft a resume link opens, with a fresh owner secret; None if unknown/expired.
    The link works once: using it issues a new owner secret and forgets the token."""
    if not token:
        return None
    with transaction.atomic():
        draft = Draft.objects.select_for_update().filter(resume_token_hash=_hash(token)).first()
        if draft is None or draft.resume_expires_at is None or draft.resume_expires_at < timezone.now():
            return None
        owner_secret = secrets.token_urlsafe(32)
        draft.owner_secret_hash = _hash(owner_secret)
        draft.resume_token_hash = ""
        draft.expires_at = max(draft.expires_at, timezone.now() + draft_lifetime())
        draft.save(update_fields=["owner_secret_hash", "resume_token_hash", "expires_at", "updated_at"])
        return draft, owner_secret


def find_submission(receipt_number: str, secret: str) -> Submission | None:
    submission = Submission.objects.select_related("procedure").filter(receipt_number=receipt_number.strip().upper()).first()
    if submission is None or not secrets.compare_digest(submission.status_secret_hash, _hash(secret)):
        return None
    return submission



def purge_expired_drafts() -> tuple[int, int]:
    """Delete unsubmitted drafts past expires_at and their stored files; (drafts, files)."""
    expired = Draft.objects.filter(expires_at__lt=timezone.now(), submission__isnull=True)
    drafts = files_deleted = 0
    for draft in expired.iterator():
        with transaction.atomic():
            stored = list(draft.attachments.filter(submission__isnull=True).values_list("stored_name", flat=True))
            draft.delete()
        for name in stored:
            files.delete_stored(name)
        drafts += 1
        files_deleted += len(stored)
    return drafts, files_deleted
