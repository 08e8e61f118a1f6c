"""保存年限と廃棄: how long a closed application is kept, and its disposal.

The rule (documented in docs/retention.md), as Japanese document-management rules count it:
the period starts on 1 April of the fiscal year after the one in which the case was closed
(完結), so an application closed in fiscal year F with a period of N years is kept until
31 March of fiscal year F + N and may be disposed of from 1 April of F + 1 + N. The closing
moment is the time the submission entered its final status (承認・却下・完了・取下げ); an open
case never expires. A procedure's period is `Procedure.retention_years`, the site default
RETENTION_DEFAULT_YEARS when empty, or never with `retention_permanent` (永年).

Disposal removes everything personal about the application: the submission, its versions and
history, corrections, the counter identity check, attachments (rows, then files), drafts
linked to it and its e-mails in the outbox. What stays: the receipt counter, the audit log
(receipt numbers, no answers) and the DX figures — DailyApplications counts are not touched
by a deletion (only a withdrawal decrements them, in applications.history.record_event), so
the KPIs of past years keep their counts.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from tenohira.applications import attachments as files
from tenohira.applications.models import (
    Attachment,
    CorrectionRequest,
    Draft,
    Submission,
    SubmissionEvent,
    SubmissionVersion,
)
from tenohira.catalog.models import Procedure
from tenohira.core.fiscal import JST, fiscal_year
from tenohira.core.models import OutboxMessage

Status = Submission.Status
# Statuses a case is closed in (完結): its retention period runs from then.
CLOSED_STATUSES = (Status.APPROVED, Status.REJECTED, Status.COMPLETED, Status.WITHDRAWN)
DEFAULT_BATCH_SIZE = 200
AUDIT_ACTION = "retention.purge"


def default_years() -> int:
    """The period of procedures whose 保存年限 is empty: the RETENTION_DEFAULT_YEARS setting,
    else the environment variable of that name, else 5 years."""
    value = getattr(settings, "RETENTION_DEFAULT_YEARS", None) or os.environ.get("RETENTION_DEFAULT_YEARS") or 5
    try:
        years = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"RETENTION_DEFAULT_YEARS は年数（1以上の整数）にしてください: {value!r}") from None
    if years < 1:
        raise ImproperlyConfigured(f"RETENTION_DEFAULT_YEARS は1以上にしてください: {years}")
    return years


def years_of(procedure: Procedure) -> int | None:
    """The retention period of `procedure`'s applications in years; None = 永年 (never)."""
    if procedure.retention_permanent:
        return None
    return procedure.retention_years or default_years()


def expires_on(closed_at: dt.datetime, years: int | None) -> dt.date | None:
    """The first day an application closed at `closed_at` may be disposed of (None: never)."""
    if years is None:
        return None
    return dt.date(fiscal_year(closed_at) + 1 + years, 4, 1)


def closed_before(today: dt.date, years: int) -> dt.datetime:
    """Applications closed before this moment (JST) are past a `years` period on `today`.

    expires_on(c) <= today  ⇔  FY(c) + 1 + years <= FY(today)  ⇔  c < 1 April of FY(today) - years."""
    return dt.datetime(fiscal_year(today) - years, 4, 1, tzinfo=JST)


def _with_closed_at(queryset: QuerySet) -> QuerySet:
    # Every status change sets status_changed_at, so for a closed case it is the moment it
    # closed; a row without one (none is written so today) counts from its submission.
    return queryset.annotate(closed_at=Coalesce("status_changed_at", "submitted_at"))


def _past_retention(today: dt.date) -> Q:
    """Closed applications whose period is over on `today` (held ones included)."""
    periods = set(
        Procedure.objects.filter(retention_permanent=False).values_list("retention_years", flat=True).distinct()
    )
    where = Q(pk__in=[])
    for years in periods:
        effective = years or default_years()
        procedures = Q(procedure__retention_years=years) if years else Q(procedure__retention_years__isnull=True)
        where |= procedures & Q(closed_at__lt=closed_before(today, effective))
    return Q(status__in=CLOSED_STATUSES, procedure__retention_permanent=False) & where


def expired(today: dt.date) -> QuerySet:
    """Submissions to dispose of on `today`: closed, past their period, not on legal hold."""
    return _with_closed_at(Submission.objects.all()).filter(_past_retention(today), legal_hold=False)


def held(today: dt.date) -> QuerySet:
    """Submissions past their period but kept because of a legal hold (訴訟ホールド)."""
    return _with_closed_at(Submission.objects.all()).filter(_past_retention(today), legal_hold=True)


@dataclass
class PurgeReport:
    today: dt.date
    applied: bool
    # (procedure code, procedure name, fiscal year closed) → applications
    by_procedure_year: Counter = field(default_factory=Counter)
    submissions: int = 0
    versions: int = 0
    events: int = 0
    corrections: int = 0
    identity_checks: int = 0
    attachments: int = 0
    files_removed: int = 0
    files_missing: int = 0
    bytes_removed: int = 0
    drafts: int = 0
    emails: int = 0
    held: int = 0
    completed: bool = False

    def audit_detail(self) -> dict:
        """Counts only: no receipt number, name or answer (the record outlives the data)."""
        return {
            "applied": self.applied, "today": self.today.isoformat(), "completed": self.completed,
            "submissions": self.submissions, "versions": self.versions, "events": self.events,
            "corrections": self.corrections, "identity_checks": self.identity_checks,
            "attachments": self.attachments, "files_removed": self.files_removed,
            "bytes_removed": self.bytes_removed, "drafts": self.drafts, "emails": self.emails,
            "held": self.held,
            "by_procedure_year": [
                {"procedure": code, "fiscal_year": year, "submissions": n}
                for (code, _name, year), n in sorted(self.by_procedure_year.items())
            ],
        }

    def lines(self) -> list[str]:
        verb = "削除しました" if self.applied else "削除の対象です（試行。削除するには --apply）"
        out = [f"基準日 {self.today:%Y-%m-%d}: 保存年限を過ぎた申請 {self.submissions} 件を{verb}。"]
        for (code, name, year), n in sorted(self.by_procedure_year.items()):
            out.append(f"  {code} {name} {year}年度完結: {n} 件")
        out.append(
            f"  履歴 {self.events} 件、版 {self.versions} 件、差戻し {self.corrections} 件、窓口の本人確認 "
            f"{self.identity_checks} 件、入力中の申請 {self.drafts} 件、メール {self.emails} 件"
        )
        if self.applied:
            out.append(
                f"  添付ファイル {self.attachments} 件（ファイル {self.files_removed} 個、{self.bytes_removed:,} バイトを削除"
                + (f"、見つからなかったファイル {self.files_missing} 個" if self.files_missing else "") + "）"
            )
        else:
            out.append(f"  添付ファイル {self.attachments} 件（{self.bytes_removed:,} バイト）")
        if self.held:
            out.append(f"  訴訟ホールド中のため残した申請: {self.held} 件")
        return out


def purge(today: dt.date, *, apply: bool = False, batch_size: int = DEFAULT_BATCH_SIZE, user=None) -> PurgeReport:
    """Dispose of (apply=True) or list (dry run) the applications past retention on `today`.

    One transaction per batch of submissions: a failure keeps what earlier batches did
    and leaves the failed batch whole. Files are unlinked only after their batch
    committed, so a rolled-back batch never points at missing files (at worst a crash
    between commit and unlink leaves an orphan file, which no row references). One audit
    record per run, with counts only, written even when the run fails half-way."""
    from tenohira.audit import services as audit

    report = PurgeReport(today=today, applied=apply)
    report.held = held(today).count()
    try:
        last_pk = 0
        while True:
            ids = list(expired(today).filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            last_pk = ids[-1]
            if apply:
                with transaction.atomic():
                    _dispose(today, ids, report)
            else:
                _count(today, ids, report)
        report.completed = True
    finally:
        with transaction.atomic():
            audit.record(AUDIT_ACTION, user=user, detail=report.audit_detail())
    return report


def _rows(today: dt.date, ids: list[int], *, lock: bool) -> list[dict]:
    queryset = expired(today).filter(pk__in=ids)
    if lock:
        # Re-checked under a row lock: a hold set since the batch was chosen wins.
        queryset = queryset.select_for_update(of=("self",))
    return list(queryset.values("pk", "receipt_number", "draft_id", "closed_at", "procedure__code", "procedure__name"))


def _related(rows: list[dict]) -> tuple[QuerySet, QuerySet, QuerySet]:
    pks = [row["pk"] for row in rows]
    draft_ids = [row["draft_id"] for row in rows if row["draft_id"]]
    drafts = Draft.objects.filter(pk__in=draft_ids)
    attachments = Attachment.objects.filter(Q(submission_id__in=pks) | Q(draft_id__in=draft_ids))
    # E-mails name their case by receipt number, a resume e-mail by the draft's public id.
    references = [row["receipt_number"] for row in rows] + [str(p) for p in drafts.values_list("public_id", flat=True)]
    emails = OutboxMessage.objects.filter(reference__in=references)
    return drafts, attachments, emails


def _tally(rows: list[dict], report: PurgeReport) -> None:
    for row in rows:
        report.by_procedure_year[(row["procedure__code"], row["procedure__name"], fiscal_year(row["closed_at"]))] += 1
    report.submissions += len(rows)


def _count(today: dt.date, ids: list[int], report: PurgeReport) -> None:
    rows = _rows(today, ids, lock=False)
    pks = [row["pk"] for row in rows]
    drafts, attachments, emails = _related(rows)
    _tally(rows, report)
    report.versions += SubmissionVersion.objects.filter(submission_id__in=pks).count()
    report.events += SubmissionEvent.objects.filter(submission_id__in=pks).count()
    report.corrections += CorrectionRequest.objects.filter(submission_id__in=pks).count()
    # The counter's identity check lives in backoffice (a cascade of Submission): looked up
    # by name so that this lower app does not import the higher one.
    checks = apps.get_model("backoffice", "CounterIdentityCheck")
    report.identity_checks += checks.objects.filter(submission_id__in=pks).count()
    report.drafts += drafts.count()
    report.emails += emails.count()
    for size in attachments.values_list("size", flat=True):
        report.attachments += 1
        report.bytes_removed += size


def _dispose(today: dt.date, ids: list[int], report: PurgeReport) -> None:
    rows = _rows(today, ids, lock=True)
    if not rows:
        return
    drafts, attachments, emails = _related(rows)
    stored = list(attachments.values_list("stored_name", flat=True))
    draft_ids = list(drafts.values_list("pk", flat=True))
    report.emails += emails.delete()[0]
    report.attachments += attachments.delete()[0]  # Attachment.submission is PROTECT: first
    _total, per_model = Submission.objects.filter(pk__in=[row["pk"] for row in rows]).delete()
    report.versions += per_model.get("applications.SubmissionVersion", 0)
    report.events += per_model.get("applications.SubmissionEvent", 0)
    report.corrections += per_model.get("applications.CorrectionRequest", 0)
    report.identity_checks += per_model.get("backoffice.CounterIdentityCheck", 0)
    report.drafts += Draft.objects.filter(pk__in=draft_ids).delete()[1].get("applications.Draft", 0)
    _tally(rows, report)
    transaction.on_commit(lambda: _unlink(stored, report))


def _unlink(stored_names: list[str], report: PurgeReport) -> None:
    for name in stored_names:
        size = files.stored_size(name)
        if size is None:
            report.files_missing += 1
            continue
        files.delete_stored(name)
        report.files_removed += 1
        report.bytes_removed += size


# --- 訴訟ホールド --------------------------------------------------------------------------

def set_legal_hold(submission: Submission, *, hold: bool, reason: str, user, request=None) -> Submission:
    """Put `submission` on legal hold (kept past its period) or release it; audited."""
    from tenohira.audit import services as audit

    reason = (reason or "").strip()
    if hold and not reason:
        raise ValidationError({"legal_hold_reason": "訴訟ホールドにする理由を入力してください。"})
    if len(reason) > 300:
        raise ValidationError({"legal_hold_reason": "理由は300文字以内にしてください。"})
    with transaction.atomic():
        Submission.objects.filter(pk=submission.pk).update(legal_hold=hold, legal_hold_reason=reason if hold else "")
        submission.legal_hold, submission.legal_hold_reason = hold, (reason if hold else "")
        audit.record(
            "retention.legal_hold" if hold else "retention.legal_hold_released",
            user=user, target=submission.receipt_number, detail={"legal_hold": hold, "reason": reason},
            request=request,
        )
    return submission
