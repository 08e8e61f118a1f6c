"""Reads of the resident's payment pages and panels.

A resident reaches an assessment only through its random token (the /pay/ link in the
e-mail and on the done, status and マイページ pages) and an attempt only through its
random public id (the provider's return address): neither can be guessed from a
受付番号 or a 調定番号. Staff reads are the backoffice's (scoped by the acting user).
"""

from __future__ import annotations

from tenohira.payments.models import Assessment, Payment


def assessment_by_token(token: str) -> Assessment | None:
    if not token or len(token) > 64:
        return None
    return (
        Assessment.objects.select_related("submission", "procedure__section", "fee_item")
        .filter(token=token).first()
    )


def payment_by_public_id(public_id) -> Payment | None:
    return (
        Payment.objects.select_related("assessment__submission", "assessment__procedure__section",
                                       "assessment__fee_item")
        .filter(public_id=public_id).first()
    )


def current_assessment(submission) -> Assessment | None:
    """The submission's newest assessment (one per application today; a later one, e.g.
    after a cancelled one, replaces it on the resident's pages)."""
    return (
        Assessment.objects.select_related("fee_item").filter(submission_id=submission.pk)
        .order_by("-created_at", "-pk").first()
    )


def last_payment(assessment: Assessment) -> Payment | None:
    return assessment.payments.order_by("-created_at", "-pk").first()


def paid_payment(assessment: Assessment) -> Payment | None:
    from tenohira.payments.states import MONEY_RECEIVED

    return (assessment.payments.filter(state__in=MONEY_RECEIVED, flagged=False)
            .order_by("captured_at", "pk").first())
