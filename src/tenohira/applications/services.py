"""Writes of the resident side: drafts, attachments, submission, resume links."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tenohira.applications import assurance, prefill, signals, steps
from tenohira.applications import attachments as files
from tenohira.applications.history import WITHDRAWABLE, record_event
from tenohira.applications.models import (
    Attachment,
    Channel,
    CorrectionRequest,
    Draft,
    Submission,
    SubmissionEvent,
    SubmissionVersion,
)
from tenohira.applications.progress import cannot_correct, cannot_withdraw, history_label
from tenohira.applications.receipts import new_status_secret, next_receipt_number
from tenohira.catalog.models import Procedure
from tenohira.core import outbox, residents
from tenohira.core.fiscal import local
from tenohira.core.models import OutboxMessage
from tenohira.core.rows import insert_together
from tenohira.core.rows import load as load_row
from tenohira.core.site import public_url
from tenohira.forms.engine import FormRun, display
from tenohira.forms.models import FormDefinition, FormVersion
from tenohira.forms.schema import Step
from tenohira.insights import aggregates


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def draft_lifetime() -> dt.timedelta:
    return dt.timedelta(days=getattr(settings, "DRAFT_LIFETIME_DAYS", 30))


def start_draft(version: FormVersion, identity: dict | None = None) -> tuple[Draft, str]:
    """A new draft and the owner secret that the browser keeps in a cookie.

    `identity`: the signed-in resident (core.residents), kept on the draft as evidence
    and used to fill the fields the form maps to the four basic items (prefill). The
    caller has checked that it meets the procedure's level (views.start)."""
    owner_secret = secrets.token_urlsafe(32)
    if version.definition.anonymous:
        identity = None  # 匿名アンケート: who answered is never kept, not even on the draft
    kept = prefill.evidence(identity) if identity else {}
    raw = prefill.fill(version.parsed(), {}, kept) if kept else {}
    with transaction.atomic():
        draft = Draft.objects.create(
            form_version=version, expires_at=timezone.now() + draft_lifetime(), owner_secret_hash=_hash(owner_secret),
            identity=kept, raw=raw,
        )
        signals.draft_started.send(sender=Draft, draft=draft, identity=kept or None)
        steps.reached(draft, steps.START)
    return draft, owner_secret


class IdentityMismatch(Exception):
    """An identity of another person than the one the draft was started with."""


@transaction.atomic
def attach_identity(draft: Draft, identity: dict) -> Draft:
    """Keep the signed-in identity on a draft (a resident who signs in part-way, or again
    after an idle sign-out) and fill the fields it gives. The only writer of
    Draft.identity besides start_draft; the identity app and the resident's pages call it.

    A draft started by one person is never continued under another's identity
    (IdentityMismatch); the same person's newer sign-in replaces the older evidence."""
    from tenohira.applications.assurance import same_person

    locked = Draft.objects.select_for_update().get(pk=draft.pk)
    if hasattr(locked, "submission"):
        return locked
    if not same_person(locked.identity, identity):
        raise IdentityMismatch
    kept = prefill.evidence(identity)
    first = not locked.identity
    locked.identity = kept
    locked.raw = prefill.fill(locked.form_version.parsed(), locked.raw, kept)
    locked.save(update_fields=["identity", "raw", "updated_at"])
    if first:
        signals.draft_started.send(sender=Draft, draft=locked, identity=kept)
    draft.identity, draft.raw = locked.identity, locked.raw
    return locked


_SIGNATURE_KEYS = {"provider", "digest", "digest_algorithm", "signature_algorithm", "signature", "certificate",
                   "chain", "signed_at", "subject"}


@transaction.atomic
def attach_signature(draft: Draft, signature: dict) -> Draft:
    """Keep the resident's 電子署名 of the draft's digest (applications.digests), as the
    identity app received it from the provider's signing flow. Whether it still matches
    the answers is decided at submit (and verified again, by staff, on the submission)."""
    locked = Draft.objects.select_for_update().get(pk=draft.pk)
    if hasattr(locked, "submission"):
        return locked
    locked.signature = {key: value for key, value in signature.items() if key in _SIGNATURE_KEYS}
    locked.save(update_fields=["signature", "updated_at"])
    draft.signature = locked.signature
    return locked


def owns(draft: Draft, owner_secret: str | None) -> bool:
    """The browser's cookie holds the secret of the browser that started the draft, or the
    token of the e-mailed resume link (any browser that opened the link owns the draft,
    so the link works again and again, in the mail app's browser as well as the usual one).
    A draft taken over at the counter belongs to no browser."""
    if not owner_secret or is_counter_draft(draft):
        return False
    digest = _hash(owner_secret)
    if secrets.compare_digest(draft.owner_secret_hash, digest):
        return True
    return bool(draft.resume_token_hash) and secrets.compare_digest(draft.resume_token_hash, digest)


def run_of(draft: Draft) -> FormRun:
    schema = draft.form_version.parsed()
    if is_counter_draft(draft):
        schema = counter_schema(schema)
    names = None
    if schema.has_files:
        names = dict(draft.attachments.values_list("token", "original_name"))
    return FormRun(schema, draft.raw, names)


@transaction.atomic
def save_step(draft: Draft, step: Step, raw: dict, uploads: dict, removals: list[str]) -> tuple[FormRun, list[tuple[str, str]]]:
    """Store what was typed on one step (valid or not) and any files chosen there.

    Returns the new run and the upload problems (already phrased for the resident).
    """
    given = draft
    # The version is immutable once published: read with the lock, its schema column left
    # unread (parsed() knows a published version's schema by its key).
    draft = (
        Draft.objects.select_for_update(of=("self",)).select_related("form_version")
        .defer("form_version__schema").get(pk=draft.pk)
    )
    previous = draft.raw.get(step.key, {})
    schema = draft.form_version.parsed()
    fields = schema.field_map()
    # What the card gave a locked field stays, whatever was posted for it.
    raw = prefill.relock(schema, step, raw, draft.identity)
    problems: list[tuple[str, str]] = []
    # Files already attached stay attached unless the resident removed them.
    for name, tokens in previous.items():
        field = _file_field(fields, name)
        if field is not None:
            kept = [t for t in tokens if t not in removals]
            raw[name] = kept + [t for t in raw.get(name, []) if t not in kept and t not in removals]
    for name, token in store_uploads(draft, fields, uploads, problems):
        raw.setdefault(name, []).append(token)
    if removals:
        for attachment in draft.attachments.filter(token__in=removals, submission__isnull=True):
            files.delete_stored(attachment.stored_name)
            attachment.delete()
    # A file input holds tokens of this draft's own files only: a token typed into the
    # POST (made up, or another draft's) would otherwise count as an attached file.
    file_inputs = [name for name in raw if _file_field(fields, name) is not None]
    if file_inputs:
        owned = set(draft.attachments.values_list("token", flat=True))
        for name in file_inputs:
            raw[name] = [t for t in raw[name] if t in owned]
    draft.raw = {**draft.raw, step.key: raw}
    draft.expires_at = timezone.now() + draft_lifetime()
    draft.resume_expires_at = draft.expires_at if draft.resume_token_hash else None
    draft.save(update_fields=["raw", "expires_at", "resume_expires_at", "updated_at"])
    steps.reached(draft, step.key)  # in this transaction: no commit of its own
    # The caller's copy holds what was stored (its page shows it; no second read).
    for name in ("raw", "expires_at", "resume_expires_at", "updated_at"):
        setattr(given, name, getattr(draft, name))
    return run_of(draft), problems


def store_uploads(draft: Draft, fields, uploads: dict, problems: list) -> list[tuple[str, str]]:
    """Check, scan and store each uploaded file of a file field as an attachment of the
    draft. Returns (input name, token) per stored file; refusals go to `problems` as
    (input name, message for the resident)."""
    stored_tokens = []
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
            stored_tokens.append((name, stored.token))
    return stored_tokens


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


def counter_schema(schema):
    """書かない窓口 serves residents who have no e-mail address (the printed receipt
    carries the status code instead), so at the counter the contact e-mail is optional.
    Built once per published schema and kept on it."""
    variant = getattr(schema, "_counter_variant", None)
    if variant is None:
        keys = {schema.raw["email_field"]} if schema.raw.get("email_field") else {
            f.key for f in schema.all_fields() if f.type == "email"
        }
        steps = [
            replace(step, fields=[
                replace(f, required=False, required_if=None) if f.key in keys else f for f in step.fields
            ]) for step in schema.steps
        ]
        variant = schema._counter_variant = replace(schema, steps=steps)
    return variant


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


class NotOwner(Exception):
    """The browser that pressed 送信 does not hold the draft's owner secret."""


class OutsideWindow(Exception):
    """The form is not accepting applications now (受付期間の前か後); `state` is "before"
    or "closed". The draft is kept as it is."""

    def __init__(self, state: str):
        self.state = state
        super().__init__(state)


class ConsentMissing(Exception):
    """送信 was pressed without ticking the check page's consent."""


def submit(draft: Draft, *, channel: str = Channel.ONLINE, actor=None) -> tuple[Submission, str | None]:
    """Submit a draft once. Returns (submission, status secret); the secret is None when
    the draft had already been submitted (a double tap, a retry, a replayed POST)."""
    return _submit_once("id", draft.pk, channel=channel, actor=actor)


class IdentityRequired(Exception):
    """The procedure's 本人確認 is not met by the request's identity: `reason` is
    "missing" (not signed in as required) or "other" (another person than the draft's)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class SignatureRequired(Exception):
    """The draft must be signed (電子署名) before it is sent: `state` is "missing" or
    "changed" (signed, then the answers or files changed)."""

    def __init__(self, state: str):
        self.state = state
        super().__init__(state)


def submit_as_owner(
    public_id, owner_secret: str | None, *, consented: bool = False, identity: dict | None = None
) -> tuple[Submission, str | None]:
    """The resident's 送信 button: like `submit`, with the ownership check made on the
    locked row, so the button reads the draft once. `consented`: the check page's
    consent box was ticked (required when the form asks for one). `identity`: the
    request's signed-in identity (core.residents.current), checked against the
    procedure's level and the draft's own, and the signature the level needs.
    Raises Draft.DoesNotExist, NotOwner, NotReady, OutsideWindow, IdentityRequired,
    ConsentMissing or SignatureRequired."""
    return _submit_once(
        "public_id", public_id, channel=Channel.ONLINE, actor=None, owner_secret=owner_secret or "",
        consented=consented, identity=identity,
    )


# What a submission reads of its draft, form version and procedure: (model, alias, attnames).
_LOCKED_COLUMNS = [
    (Draft, "d", ["id", "public_id", "raw", "owner_secret_hash", "resume_token_hash", "receipt_number", "form_version_id",
                  "identity", "signature"]),
    (FormVersion, "v", ["id", "status", "created_at", "definition_id"]),
    (FormDefinition, "f", ["id", "procedure_id", "opens_at", "closes_at", "kind", "anonymous"]),
    (Procedure, "p", ["id", "code", "name", "section_id", "processing_days", "identity"]),
]


@functools.cache
def _lock_sql(key: str, vendor: str) -> str:
    """The statement of _lock_draft, built once per process and database kind."""
    quote = connection.ops.quote_name

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    columns = ", ".join(f"{alias}.{column(model, name)}" for model, alias, names in _LOCKED_COLUMNS for name in names)
    tables = {alias: quote(model._meta.db_table) for model, alias, _names in _LOCKED_COLUMNS}
    lock = " FOR UPDATE OF d" if connection.features.has_select_for_update_of else (
        " FOR UPDATE" if connection.features.has_select_for_update else ""
    )  # SQLite has no row locks: its write transactions already run one at a time
    return (
        f"SELECT {columns} FROM {tables['d']} d "  # noqa: S608 (names from the models, value a parameter)
        f"JOIN {tables['v']} v ON v.{column(FormVersion, 'id')} = d.{column(Draft, 'form_version_id')} "
        f"JOIN {tables['f']} f ON f.{column(FormDefinition, 'id')} = v.{column(FormVersion, 'definition_id')} "
        f"JOIN {tables['p']} p ON p.{column(Procedure, 'id')} = f.{column(FormDefinition, 'procedure_id')} "
        f"WHERE d.{column(Draft, key)} = %s{lock}"
    )


def _lock_draft(key: str, value) -> Draft:
    """The draft row, locked, with what a submission uses of its form version and
    procedure (the schema itself comes from the published-version cache).

    Written out in SQL: this is the read of the busiest write of the site, and building
    and reading it through the ORM (select_related over four tables) took about 0.5 ms of
    CPU per submission, as long again as the round trip (bench/submit_bench.py). The
    columns go through the ORM's own conversions (core.rows.load). The row lock makes two
    presses of the same button wait for each other."""
    sql = _lock_sql(key, connection.vendor)
    lookup = Draft._meta.get_field(key).get_db_prep_value(value, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [lookup])
        row = cursor.fetchone()
    if row is None:
        raise Draft.DoesNotExist
    loaded, start = [], 0
    for model, _alias, names in _LOCKED_COLUMNS:
        loaded.append(load_row(model, names, row[start:start + len(names)]))
        start += len(names)
    draft, version, definition, procedure = loaded
    definition.procedure = procedure
    version.definition = definition
    draft.form_version = version
    return draft


def _submission_of(draft: Draft) -> Submission | None:
    submission = Submission.objects.filter(draft_id=draft.pk).first()
    if submission is not None:
        submission.draft = draft
    return submission


def _submit_once(
    key: str, value, *, channel, actor, owner_secret=None, consented=True, identity=None
) -> tuple[Submission, str | None]:
    """Two short transactions instead of one long one.

    The receipt counter is one row per procedure and fiscal year: every submission of a
    busy procedure (a benefit campaign) needs it, and a row lock is held until commit.
    Taking the number inside the transaction that writes the submission held it for the
    whole write, and submissions queued behind it. So the number is reserved first, on the
    locked draft, in a transaction that holds the counter only for two statements; the
    submission is written in a second one. A double tap, a retry or a press after a
    failure between the two finds the reservation and reuses it: no number is lost."""
    with transaction.atomic():
        locked = _lock_draft(key, value)
        if owner_secret is not None and not owns(locked, owner_secret):
            raise NotOwner
        # A submission exists only for a draft whose number was reserved, so a first
        # press (nearly every press) does not look for one.
        existing = _submission_of(locked) if locked.receipt_number else None
        if existing is not None:
            return existing, None
        # 受付期間: decided here, on the locked row, so a page opened before the deadline
        # and sent after it is refused too. The counter (channel 窓口) is the section's own
        # decision: staff may take a late application with the reason on paper.
        state = locked.form_version.definition.window_state()
        if channel == Channel.ONLINE and state != "open":
            raise OutsideWindow(state)
        # 本人確認, on the locked row too: a direct POST meets the same rules as the page.
        # The counter is unaffected: staff check the resident's document there.
        required = assurance.required_level(locked.form_version.definition.procedure)
        if locked.form_version.definition.anonymous:
            # 匿名アンケート: nobody signs in, so nothing can tie the answers to a person.
            required, identity = residents.NONE, None
        if owner_secret is not None:
            problem = assurance.identity_problem(locked.identity, identity, required)
            if problem:
                raise IdentityRequired(problem)
        run = run_of(locked)
        pending = run.first_incomplete()
        if pending is not None:
            raise NotReady(pending)
        if owner_secret is not None and run.schema.consent is not None and not consented:
            raise ConsentMissing
        if owner_secret is not None:
            state = assurance.signature_state(locked, run.schema, required, run.answers)
            if state in {"missing", "changed"}:
                raise SignatureRequired(state)
        if not locked.receipt_number:
            locked.receipt_number = next_receipt_number(locked.form_version.definition.procedure.code, timezone.now())
            Draft.objects.filter(pk=locked.pk).update(receipt_number=locked.receipt_number)
    try:
        with transaction.atomic():
            return _create_submission(locked, run, channel, actor)
    except IntegrityError:
        # The same draft was submitted by a concurrent press (the draft link and the
        # receipt number are unique): return that one.
        existing = _submission_of(locked)
        if existing is None:
            raise
        return existing, None


#: Field types that say who someone is or how to reach them: an anonymous survey never
#: stores their answers (forms.builder warns a clerk who puts one on such a survey).
IDENTIFYING_TYPES = frozenset({"name", "email", "phone", "address", "postal_code", "file"})


def anonymous_answers(run: FormRun) -> tuple[dict, list]:
    """(answers, summary) of an anonymous survey response without identifying fields."""
    dropped = {f.key for f in run.schema.all_fields() if f.type in IDENTIFYING_TYPES}
    answers = {key: value for key, value in run.answers.items() if key not in dropped}
    labels = {f.label for f in run.schema.all_fields() if f.key in dropped}
    summary = [
        {"title": row["step"].title, "items": [item for item in row["items"] if item["label"] not in labels]}
        for row in run.summary()
    ]
    return answers, summary


def _create_submission(draft: Draft, run: FormRun, channel: str, actor) -> tuple[Submission, str]:
    version = draft.form_version
    definition = version.definition
    procedure = definition.procedure
    survey = definition.kind == FormDefinition.Kind.SURVEY
    now = timezone.now()
    secret = new_status_secret()
    email = contact_email(run)
    summary = [{"title": row["step"].title, "items": row["items"]} for row in run.summary()]
    name, name_search = applicant_of(run)
    answers = run.answers
    identity, signature = draft.identity or {}, draft.signature or {}
    if survey and definition.anonymous:
        # 匿名アンケート: no name, address, e-mail, identity or signature is kept, and no
        # e-mail is sent (there is no address to send it to).
        answers, summary = anonymous_answers(run)
        email, name, name_search, identity, signature = "", "", "", {}, {}
    tokens = [] if survey and definition.anonymous else _attachment_tokens(run)
    submission = Submission(
        receipt_number=draft.receipt_number, procedure=procedure,
        section_id=procedure.section_id, form_version=version, draft=draft, answers=answers,
        summary=summary, channel=channel, email=email, status_secret_hash=_hash(secret),
        submitted_at=now, status_changed_at=now, applicant_name=name, applicant_search=name_search,
        identity=identity, signature=signature,
        # A survey response is not work for a section: no 処理期限.
        due_date=(local(now).date() + dt.timedelta(days=procedure.processing_days))
        if procedure.processing_days and not survey else None,
    )
    rows = [
        (SubmissionVersion(number=1, answers=answers, summary=summary, created_at=now), "submission_id"),
        (SubmissionEvent(
            at=now, actor=actor,
            actor_label="窓口" if channel == Channel.COUNTER else ("回答者" if survey else "申請者"),
            from_status="", to_status=Submission.Status.RECEIVED,
        ), "submission_id"),
    ]
    # A survey sends no confirmation e-mail: there is nothing to follow up.
    message = _confirmation(submission, secret, run) if email and not survey else None
    if message is not None:
        rows.append((message, None))
    # One statement for the new rows (core.rows): this is the busiest write of the site.
    insert_together(submission, rows)
    if message is not None:
        outbox.saved(message)
    if tokens:
        draft.attachments.filter(token__in=tokens).update(submission=submission)
    if survey and definition.anonymous:
        # The draft stays only as the browser's way to its thank-you page: what was typed
        # on it (and any sign-in) goes, so the draft cannot name the respondent either.
        Draft.objects.filter(pk=draft.pk).update(raw={}, identity={}, signature={}, email="")
    signals.submitted.send(sender=Submission, submission=submission)
    steps.reached(draft, steps.SUBMITTED)
    # The DX figures' daily count, in this transaction: it commits with the submission.
    # Last, because it too is one row per procedure and day that every submission locks.
    # A survey response is not an application (申請): it is not counted (docs/forms.md).
    if not survey:
        aggregates.count_submission(submission)
    return submission, secret


def attachment_tokens(run: FormRun) -> list[str]:
    """Tokens of the files the answers name (what a submission takes with it)."""
    return _attachment_tokens(run)


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


def _confirmation(submission: Submission, secret: str, run: FormRun) -> OutboxMessage:
    """The confirmation e-mail, composed for the outbox (not yet saved).

    It says what was received and what happens next, not what was answered: an e-mail
    crosses mail servers and sits in mailboxes (shared ones too) for years, and the
    answers (children's names, birth dates, employer) are on the status page and the
    receipt PDF. A form may name the few answers its e-mail must repeat ("email_answers")."""
    lines = [
        f"{settings.MUNICIPALITY_NAME}です。次の申請を受け付けました。",
        "",
        f"手続き: {submission.procedure.name}",
        f"受付番号: {submission.receipt_number}",
        f"申請日時: {local(submission.submitted_at):%Y年%m月%d日 %H:%M}",
        f"確認コード: {secret}",
        *_email_answers(run),
        "",
        "― これからの流れ ―",
        "担当課が申請の内容を確認します。",
    ]
    if submission.due_date:
        lines.append(f"結果のお知らせは {submission.due_date:%Y年%m月%d日} ごろの予定です。")
    lines += [
        "書類の不足や修正が必要なときは、このメールアドレスにお知らせします。",
        "",
        "申請の状況と内容は、受付番号と確認コードで次のページから確かめられます。",
        public_url("/status/"),
        "確認コードは他の人に教えないでください。",
        "",
        "このメールは送信専用です。お問い合わせは担当課へお願いします。",
    ]
    return outbox.compose(
        kind="submission_received", to=submission.email,
        subject=f"【{settings.MUNICIPALITY_NAME}】申請を受け付けました（受付番号 {submission.receipt_number}）",
        body="\n".join(lines), reference=submission.receipt_number,
    )


def _email_answers(run: FormRun) -> list[str]:
    """The answers a form asks its confirmation e-mail to repeat (schema "email_answers":
    a list of field keys; none by default). Groups and files never: they are lists of
    people or documents, which is what the e-mail must not carry."""
    keys = run.schema.raw.get("email_answers") or []
    if not isinstance(keys, list):
        return []
    fields = {f.key: f for f in run.schema.all_fields() if f.type not in {"group", "file"}}
    return [
        f"{fields[key].label}: {display(fields[key], run.answers[key])}"
        for key in keys
        if isinstance(key, str) and key in fields and run.answers.get(key) not in (None, "", [])
    ]


def resume_token(draft: Draft) -> str:
    """The draft's resume link token: the same every time it is asked for, so saving again
    sends the link already sent (it does not cut off a browser that opened the first
    e-mail). Derived from the site's SECRET_KEY; only its hash is stored, to find the draft."""
    from django.utils.crypto import salted_hmac

    return salted_hmac("tenohira.applications.resume", str(draft.public_id), algorithm="sha256").hexdigest()[:43]


def send_resume_link(draft: Draft, email: str, link_for) -> None:
    """E-mail a link that reopens this draft. It works, as often as needed and from any
    browser, until the draft expires (DRAFT_LIFETIME_DAYS after the last change)."""
    token = resume_token(draft)
    with transaction.atomic():
        draft.email = email
        draft.resume_token_hash = _hash(token)
        draft.expires_at = max(draft.expires_at, timezone.now() + draft_lifetime())
        draft.resume_expires_at = draft.expires_at
        draft.save(update_fields=["email", "resume_token_hash", "resume_expires_at", "expires_at", "updated_at"])
        title = draft.form_version.parsed().title
        outbox.enqueue(
            kind="resume_link", to=email, subject=f"【{settings.MUNICIPALITY_NAME}】入力の続きはこちらから（{title}）",
            body="\n".join([
                f"「{title}」の入力内容を保存しました。",
                "次のリンクから、何度でも続きを入力できます（入力するたびに期限が延びます。"
                f"今の期限: {local(draft.expires_at):%Y年%m月%d日 %H:%M}）。",
                "",
                link_for(token),
                "",
                "心当たりがない場合は、このメールを破棄してください。",
            ]),
            reference=str(draft.public_id),
        )


def resume(token: str) -> Draft | None:
    """The draft a resume link opens (None if unknown, expired or already purged). The
    browser then keeps the token itself as its owner cookie (see `owns`); nothing is
    consumed, so the link keeps working until the draft expires."""
    if not token or len(token) > 100:
        return None
    with transaction.atomic():
        draft = Draft.objects.select_for_update().filter(resume_token_hash=_hash(token)).first()
        if draft is None or draft.expires_at <= timezone.now():
            return None
        draft.expires_at = max(draft.expires_at, timezone.now() + draft_lifetime())
        draft.resume_expires_at = draft.expires_at
        draft.save(update_fields=["expires_at", "resume_expires_at", "updated_at"])
        return draft


def known_email(draft: Draft) -> str:
    """The address a resume link may go to without asking: the one given for a link
    before, else the form's own e-mail answer."""
    return draft.email or contact_email(run_of(draft))


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


# --- 書かない窓口: handing a draft over to the counter ------------------------------------
#
# A resident who typed on a phone shows a short code (or its QR code) at the counter; staff
# open that draft, check it with the resident and submit it there. The code is 8 characters
# from an alphabet without look-alikes (no 0/O, 1/I/L), read aloud or typed from a phone
# screen; it lives HANDOFF_MINUTES and works once. Once staff open it, the draft belongs to
# the counter: its owner is no longer a browser cookie but the staff member.

HANDOFF_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
HANDOFF_CODE_LENGTH = 8
# A counter draft's owner_secret_hash holds this prefix and the staff member's id: no cookie
# can ever hash to it (a SHA-256 hex digest has no colon), so no browser owns the draft.
COUNTER_OWNER_PREFIX = "counter:"


def handoff_lifetime() -> dt.timedelta:
    return dt.timedelta(minutes=getattr(settings, "HANDOFF_MINUTES", 60))


def normalise_handoff_code(text: str) -> str:
    """ABCD-EFGH from what staff typed: full width, lower case, spaces and any dash or
    long-vowel mark an IME produces are accepted (ａｂｃｄーｅｆｇｈ → ABCDEFGH)."""
    import re

    from tenohira.core.text import fold_width

    return re.sub(r"[\s\-‐‑‒–—―−ー_]", "", fold_width(text or "")).upper()


def format_handoff_code(code: str) -> str:
    """ABCD-EFGH: two groups of four are easier to read aloud and to type back."""
    return f"{code[:4]}-{code[4:]}" if len(code) == HANDOFF_CODE_LENGTH else code


def issue_handoff_code(draft: Draft) -> str:
    """The draft's live counter code: the one already issued while it is valid, otherwise a
    new one valid for HANDOFF_MINUTES. Updates `draft` in place (code and expiry)."""
    for _attempt in range(20):
        now = timezone.now()
        try:
            with transaction.atomic():
                locked = Draft.objects.select_for_update().get(pk=draft.pk)
                if not (locked.handoff_code and locked.handoff_expires_at and locked.handoff_expires_at > now):
                    locked.handoff_code = "".join(secrets.choice(HANDOFF_ALPHABET) for _ in range(HANDOFF_CODE_LENGTH))
                    locked.handoff_expires_at = now + handoff_lifetime()
                    locked.save(update_fields=["handoff_code", "handoff_expires_at", "updated_at"])
        except IntegrityError:
            continue  # the code is held by another draft (live or expired): draw again
        draft.handoff_code, draft.handoff_expires_at = locked.handoff_code, locked.handoff_expires_at
        return locked.handoff_code
    raise RuntimeError("no free handoff code after 20 draws")


def draft_by_handoff_code(code: str, *, include_expired: bool = False) -> Draft | None:
    """The unsubmitted draft holding `code` (as typed: see normalise_handoff_code), or None.
    A used code is forgotten, so it finds nothing; an expired one only with include_expired
    (staff are told it expired rather than that it does not exist)."""
    code = normalise_handoff_code(code)
    if len(code) != HANDOFF_CODE_LENGTH or any(char not in HANDOFF_ALPHABET for char in code):
        return None
    drafts = Draft.objects.select_related("form_version__definition__procedure__section").filter(
        handoff_code=code, submission__isnull=True
    )
    if not include_expired:
        drafts = drafts.filter(handoff_expires_at__gt=timezone.now())
    return drafts.first()


def handoff_expired(draft: Draft) -> bool:
    return draft.handoff_expires_at is None or draft.handoff_expires_at <= timezone.now()


def _counter_owner(staff) -> str:
    return f"{COUNTER_OWNER_PREFIX}{staff.pk}"


def is_counter_draft(draft: Draft) -> bool:
    return draft.owner_secret_hash.startswith(COUNTER_OWNER_PREFIX)


def start_counter_draft(version: FormVersion, staff) -> Draft:
    """A new draft that a staff member fills for a walk-in resident (no browser owns it)."""
    return Draft.objects.create(
        form_version=version, expires_at=timezone.now() + draft_lifetime(), owner_secret_hash=_counter_owner(staff)
    )


@transaction.atomic
def claim_handoff(draft: Draft, staff) -> Draft | None:
    """Hand the draft over to the counter: the code stops working and the resident's
    browser no longer owns the draft. None when the code was used, expired or the draft
    submitted in the meantime (another counter, a double scan)."""
    locked = Draft.objects.select_for_update().get(pk=draft.pk)
    if (
        not locked.handoff_code or locked.handoff_code != draft.handoff_code or handoff_expired(locked)
        or Submission.objects.filter(draft=locked).exists()
    ):
        return None
    locked.handoff_code = None
    locked.handoff_expires_at = None
    locked.owner_secret_hash = _counter_owner(staff)
    locked.expires_at = max(locked.expires_at, timezone.now() + draft_lifetime())
    locked.save(update_fields=["handoff_code", "handoff_expires_at", "owner_secret_hash", "expires_at", "updated_at"])
    return locked


# --- 差戻し: the applicant's side of a correction request -----------------------------------
#
# Staff name the fields to fix (backoffice.services.request_correction); the e-mailed link
# opens a page with only those fields. Everything else is taken from the draft's raw inputs
# (kept after submission), so whatever the browser posts for other fields changes nothing.
# The merged inputs run through the same FormRun as the first submission: the new version
# is computed exactly like the first one.


def open_correction(token: str) -> CorrectionRequest | None:
    """The correction a link opens: unresolved, not expired, application still 差戻し."""
    correction = _correction_by_token(token)
    if (
        correction is None
        or correction.resolved_at is not None
        or correction.expires_at <= timezone.now()
        or correction.submission.status != Submission.Status.RETURNED
    ):
        return None
    return correction


def used_correction(token: str) -> CorrectionRequest | None:
    """The correction a link opened once it has been resubmitted (for its done page)."""
    correction = _correction_by_token(token)
    return correction if correction is not None and correction.resolved_at is not None else None


def _correction_by_token(token: str) -> CorrectionRequest | None:
    if not token or len(token) > 100:
        return None
    return (
        CorrectionRequest.objects.select_related(
            "submission", "submission__procedure", "submission__section", "submission__form_version", "submission__draft"
        )
        .filter(token_hash=_hash(token))
        .first()
    )


def correction_keys(correction: CorrectionRequest) -> set[str]:
    """Top-level field keys the applicant may change (a group or file field counts whole)."""
    return {item["path"] for item in correction.fields if item.get("path")}


def input_field_key(name: str) -> str:
    """The top-level field key an input name belongs to (`children-0-school` → `children`),
    split the same way as forms.engine.raw_from_post."""
    return name.split("__", 1)[0].split("-", 1)[0]


def correction_steps(correction: CorrectionRequest) -> list[Step]:
    """The form's steps that hold requested fields, each cut down to those fields."""
    keys = correction_keys(correction)
    steps = []
    for step in correction.submission.form_version.parsed().steps:
        chosen = [f for f in step.fields if f.key in keys]
        if chosen:
            steps.append(Step(step.key, step.title, chosen, step.show_if, step.description))
    return steps


def raw_from_answers(schema, answers: dict) -> dict:
    """Raw inputs (by step) that reproduce stored answers: for a submission without a draft."""
    from tenohira.forms.fields import FIELD_TYPES

    raw_by_step: dict[str, dict] = {}
    for step in schema.steps:
        raw: dict = {}
        for fld in step.fields:
            kind = FIELD_TYPES[fld.type]
            if kind.has_value and fld.type != "computed" and fld.key in answers:
                raw.update(kind.to_raw(fld, answers[fld.key], fld.key))
        raw_by_step[step.key] = raw
    return raw_by_step


def _current_raw(submission: Submission) -> dict:
    if submission.draft is not None and submission.draft.raw:
        return {key: {name: list(values) for name, values in raw.items()} for key, raw in submission.draft.raw.items()}
    return raw_from_answers(submission.form_version.parsed(), submission.answers)


def correction_attachments(submission: Submission) -> dict[str, Attachment]:
    """Files the correction page may show or keep: the draft's and the submission's own."""
    from django.db.models import Q

    where = Q(submission=submission)
    if submission.draft_id:
        where |= Q(draft_id=submission.draft_id)
    return {a.token: a for a in Attachment.objects.filter(where)}


@dataclass
class CorrectionInput:
    """What a correction page holds: the requested fields' inputs merged into the rest."""

    raw: dict  # step key → raw inputs of every field (requested ones as typed now)
    updates: dict  # step key → raw inputs of the requested fields only (what resubmit takes)
    run: FormRun
    problems: list[tuple[str, str]]  # refused uploads: (input name, message)


def correction_form(correction: CorrectionRequest) -> CorrectionInput:
    """The page as first opened: the current answers, nothing changed yet."""
    submission = correction.submission
    raw = _current_raw(submission)
    keys = correction_keys(correction)
    updates = {
        step.key: {n: v for n, v in raw.get(step.key, {}).items() if input_field_key(n) in keys}
        for step in correction_steps(correction)
    }
    return CorrectionInput(raw, updates, FormRun(submission.form_version.parsed(), raw), [])


@transaction.atomic
def stage_correction(correction: CorrectionRequest, raw_updates: dict, uploads: dict, removals: list[str]) -> CorrectionInput:
    """Merge what the applicant posted for the requested fields into the current inputs.

    Inputs of other fields are dropped. Files go through the same checks as save_step and
    are stored for the draft (linked to the submission only when resubmitted); a posted
    file token counts only if it is one of this application's own files. Nothing else is
    written: the submission and the draft's inputs change only on resubmit.
    """
    submission = correction.submission
    schema = submission.form_version.parsed()
    fields = schema.field_map()
    keys = correction_keys(correction)
    steps = correction_steps(correction)
    step_of = {f.key: step.key for step in steps for f in step.fields}
    updates: dict[str, dict] = {}
    for step in steps:
        posted = raw_updates.get(step.key) or {}
        updates[step.key] = {
            name: [str(v)[:5000] for v in values] for name, values in posted.items() if input_field_key(name) in keys
        }
    owned = set(correction_attachments(submission))
    problems: list[tuple[str, str]] = []
    allowed = {name: files_ for name, files_ in uploads.items() if input_field_key(name) in keys}
    for name, token in store_uploads(_draft_for(submission), fields, allowed, problems):
        owned.add(token)
        updates[step_of[input_field_key(name)]].setdefault(name, []).append(token)
    removed = set(removals)
    if removed and submission.draft_id:
        # Only files never submitted are deleted; a file of an earlier version stays with it.
        for attachment in Attachment.objects.filter(draft_id=submission.draft_id, token__in=removed, submission__isnull=True):
            files.delete_stored(attachment.stored_name)
            attachment.delete()
            owned.discard(attachment.token)
    for raw in updates.values():
        for name in list(raw):
            if _file_field(fields, name) is not None:
                tokens = [t for t in raw[name] if t in owned and t not in removed]
                raw[name] = list(dict.fromkeys(tokens))
    merged = _current_raw(submission)
    for step_key, raw in updates.items():
        kept = {n: v for n, v in merged.get(step_key, {}).items() if input_field_key(n) not in keys}
        merged[step_key] = {**kept, **raw}
    return CorrectionInput(merged, updates, FormRun(schema, merged), problems)


def _draft_for(submission: Submission) -> Draft:
    """The submission's draft; one is made from the answers if it has none (new files
    belong to a draft until they are resubmitted)."""
    if submission.draft is None:
        draft = Draft.objects.create(
            form_version=submission.form_version, raw=raw_from_answers(submission.form_version.parsed(), submission.answers),
            owner_secret_hash=_hash(secrets.token_urlsafe(32)), expires_at=timezone.now() + draft_lifetime(),
        )
        Submission.objects.filter(pk=submission.pk, draft__isnull=True).update(draft=draft)
        submission.draft = draft
    return submission.draft


def correction_problems(correction: CorrectionRequest, run: FormRun) -> list[tuple[str, str]]:
    """What stops a resubmission: problems of the requested fields as (input prefix,
    message); a problem elsewhere (a changed answer made another question necessary)
    comes as ("", message), since the applicant cannot change that field here."""
    keys = correction_keys(correction)
    named = [
        (prefix, problem.message)
        for step in run.visible
        for prefix, problem in run.outcomes[step.key].problems.items()
        if input_field_key(prefix) in keys
    ]
    if not named and not run.complete:
        section = correction.submission.section.name
        named.append(("", f"修正した内容では、ほかの項目にも入力が必要になりました。このページでは直せないため、{section}にお問い合わせください。"))
    return named


class CorrectionClosed(Exception):
    """The correction can no longer be resubmitted (withdrawn, expired); message for the applicant."""


def resubmit(
    correction: CorrectionRequest, raw_updates: dict, uploads: dict, removals: list[str], *, comment: str = ""
) -> tuple[Submission | None, list[tuple[str, str]]]:
    """再提出: store the corrected answers as a new version and move 差戻し → 再提出.

    Returns (submission, []) on success, also when this correction was already resubmitted
    (a second tap, a replayed POST: no second version); (None, problems) otherwise.
    """
    correction.refresh_from_db(fields=["resolved_at"])
    if correction.resolved_at is not None:
        return Submission.objects.get(pk=correction.submission_id), []
    staged = stage_correction(correction, raw_updates, uploads, removals)
    problems = staged.problems + correction_problems(correction, staged.run)
    if problems:
        return None, problems
    try:
        return _store_resubmission(correction, staged, comment.strip()[:2000]), []
    except CorrectionClosed as exc:
        return None, [("", str(exc))]
    except signals.SubmissionRefused as exc:
        # A receiver refused the corrected answers (the new collection day filled up): the
        # transaction rolled back, so the correction stays open with what was typed.
        correction.resolved_at = None
        return None, [("", exc.message)]


def _store_resubmission(correction: CorrectionRequest, staged: CorrectionInput, comment: str) -> Submission:
    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related("procedure").get(pk=correction.submission_id)
        now = timezone.now()
        # Claimed with a conditional update, so two racing POSTs make one version only,
        # on databases with and without row locks.
        if not CorrectionRequest.objects.filter(pk=correction.pk, resolved_at__isnull=True).update(resolved_at=now):
            return submission
        if submission.status != Submission.Status.RETURNED:
            raise CorrectionClosed(cannot_correct(submission))
        if correction.expires_at <= now:
            raise CorrectionClosed("修正の期限が過ぎています。担当課にお問い合わせください。")
        correction.resolved_at = now
        run = staged.run
        summary = [{"title": row["step"].title, "items": row["items"]} for row in run.summary()]
        number = submission.version + 1
        SubmissionVersion.objects.create(
            submission=submission, number=number, answers=run.answers, summary=summary, created_at=now
        )
        name, name_search = applicant_of(run)
        submission.answers = run.answers
        submission.summary = summary
        submission.version = number
        submission.applicant_name = name
        submission.applicant_search = name_search
        submission.email = contact_email(run) or submission.email
        submission.save(update_fields=["answers", "summary", "version", "applicant_name", "applicant_search", "email"])
        draft = _draft_for(submission)
        tokens = _attachment_tokens(run)
        Attachment.objects.filter(draft=draft, token__in=tokens, submission__isnull=True).update(submission=submission)
        # Files uploaded on this page and then left out have no use any more (files that
        # the inputs still name, e.g. of a question now hidden, are kept like on a draft).
        named = {value for raw in staged.raw.values() for values in raw.values() for value in values}
        leftovers = [
            a for a in draft.attachments.filter(submission__isnull=True).exclude(token__in=tokens)
            if a.token not in named
        ]
        for attachment in leftovers:
            attachment.delete()
        stored = [a.stored_name for a in leftovers]
        transaction.on_commit(lambda: [files.delete_stored(n) for n in stored])
        draft.raw = staged.raw
        draft.save(update_fields=["raw", "updated_at"])
        record_event(submission, Submission.Status.RESUBMITTED, actor=None, actor_label="申請者", comment=comment)
        _enqueue_resubmitted(submission, correction)
        return submission


def _enqueue_resubmitted(submission: Submission, correction: CorrectionRequest) -> None:
    if not submission.email:
        return
    lines = [
        f"{settings.MUNICIPALITY_NAME}です。修正した申請を受け付けました（再提出）。",
        "",
        f"手続き: {submission.procedure.name}",
        f"受付番号: {submission.receipt_number}",
        f"再提出日時: {local(correction.resolved_at):%Y年%m月%d日 %H:%M}",
        "修正した項目: " + "、".join(item.get("label", "") for item in correction.fields),
        "",
        "担当課が内容を確認します。申請の状況は、受付番号と確認コードで次のページから確かめられます。",
        public_url("/status/"),
        "",
        "このメールは送信専用です。お問い合わせは担当課へお願いします。",
    ]
    outbox.enqueue(
        kind="submission_resubmitted", to=submission.email,
        subject=f"【{settings.MUNICIPALITY_NAME}】修正した申請を受け付けました（受付番号 {submission.receipt_number}）",
        body="\n".join(lines), reference=submission.receipt_number,
    )


# --- 取下げ and the status page's history ----------------------------------------------------


class WithdrawRefused(Exception):
    """The application cannot be withdrawn in its state; the message is for the applicant."""


def withdraw(receipt_number: str, secret: str, *, comment: str = "") -> Submission | None:
    """取下げ by the applicant, who proves it with the receipt number and status secret.

    None when the number and secret do not match. Withdrawing twice is harmless (the
    second call returns the withdrawn application); other states raise WithdrawRefused."""
    found = find_submission(receipt_number, secret) if receipt_number and secret else None
    if found is None:
        return None
    return withdraw_submission(found, comment=comment)


def withdraw_submission(submission: Submission, *, comment: str = "", from_mypage: bool = False) -> Submission:
    """取下げ of an application whose applicant the caller has identified (the 確認コード,
    or the signed-in owner in マイページ): the same rules and e-mail either way."""
    with transaction.atomic():
        locked = Submission.objects.select_for_update().select_related("procedure").get(pk=submission.pk)
        if locked.status == Submission.Status.WITHDRAWN:
            return locked
        if locked.status not in WITHDRAWABLE:
            raise WithdrawRefused(cannot_withdraw(locked))
        record_event(locked, Submission.Status.WITHDRAWN, actor=None, actor_label="申請者",
                     comment=comment.replace("\x00", "").strip()[:2000])
        if locked.email:
            received = "次の申請の取下げを受け付けました（マイページから）。" if from_mypage else "次の申請の取下げを受け付けました。"
            outbox.enqueue(
                kind="submission_withdrawn", to=locked.email,
                subject=f"【{settings.MUNICIPALITY_NAME}】申請を取り下げました（受付番号 {locked.receipt_number}）",
                body="\n".join([
                    f"{settings.MUNICIPALITY_NAME}です。{received}",
                    "",
                    f"手続き: {locked.procedure.name}",
                    f"受付番号: {locked.receipt_number}",
                    f"取下げ日時: {local(locked.status_changed_at):%Y年%m月%d日 %H:%M}",
                    "",
                    "心当たりがない場合は、担当課へご連絡ください。",
                    "このメールは送信専用です。",
                ]),
                reference=locked.receipt_number,
            )
        return locked


def can_withdraw(submission: Submission) -> bool:
    return submission.status in WITHDRAWABLE


# Staff comments the applicant sees: the reasons of 差戻し, 却下 and 承認. Other comments
# (e.g. when staff start a review) are notes between staff.
COMMENTED_STATUSES = {Submission.Status.RETURNED, Submission.Status.REJECTED, Submission.Status.APPROVED}
# actor_label of the steps the applicant or the counter make without a staff account.
RESIDENT_SIDE_LABELS = {"申請者", "窓口"}


def public_history(submission: Submission) -> list[dict]:
    """The history as the applicant sees it: when, what happened (in words, not state
    names: progress.HISTORY), by whom, the reason.

    Staff are never named: a staff member's step shows the section that handles the
    application."""
    rows = []
    for event in submission.events.order_by("at", "id"):
        # A step with no staff account and not the applicant's or the counter's was made by
        # the section's business system (連携API): shown as the section, and its message,
        # written for the applicant, is shown whatever the state.
        by_system = event.actor_id is None and event.actor_label not in RESIDENT_SIDE_LABELS
        if not by_system and (event.actor_id is None or event.actor_label == "窓口"):
            who = event.actor_label
        else:
            who = submission.section.name
        rows.append({
            "at": event.at, "status": history_label(event.to_status), "who": who,
            "comment": event.comment if by_system or event.to_status in COMMENTED_STATUSES else "",
        })
    return rows


def pending_correction(submission: Submission) -> CorrectionRequest | None:
    """The correction request the applicant still has to answer, if any."""
    if submission.status != Submission.Status.RETURNED:
        return None
    return submission.corrections.filter(resolved_at__isnull=True, expires_at__gt=timezone.now()).first()
