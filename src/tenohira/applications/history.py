"""The history of an application (SubmissionEvent): every change of its status, whoever
makes it — the applicant (再提出, 取下げ), staff (審査, 差戻し, 承認 …) or the counter —
passes through record_event, so the status, its time and the DX figures change together.

It lives here, with the application it describes; the back office and the resident's
pages both call it (the back office decides who may, not how it is written)."""

from __future__ import annotations

from django.utils import timezone

from tenohira.applications import signals
from tenohira.applications.models import Submission, SubmissionEvent
from tenohira.insights import aggregates

# States from which the applicant may still withdraw (取下げ).
WITHDRAWABLE = {
    Submission.Status.RECEIVED, Submission.Status.UNDER_REVIEW, Submission.Status.RETURNED,
    Submission.Status.RESUBMITTED,
}


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
    signals.status_changed.send(sender=Submission, submission=submission, from_status=from_status, to_status=to_status)
    return event
