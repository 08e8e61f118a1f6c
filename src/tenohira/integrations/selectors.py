"""Reads of deliveries for staff pages, scoped by the acting user.

Section staff see the deliveries of their sections' applications; the DX管理者 sees every
delivery (the page shows receipt numbers, targets, states and reasons — no answers and no
names), since connecting business systems is the DX division's work.
"""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import Http404

from tenohira.backoffice import selectors as staff
from tenohira.integrations.models import Delivery


def deliveries_for(user, *, state: str = "") -> QuerySet[Delivery]:
    deliveries = Delivery.objects.select_related("target", "submission__procedure", "submission__section")
    if not staff.is_dx_admin(user):
        deliveries = deliveries.filter(submission__section_id__in=staff.section_ids(user))
    if state:
        deliveries = deliveries.filter(state=state)
    return deliveries.order_by("-created_at", "-pk")


def delivery_for(user, delivery_id) -> Delivery:
    """The delivery, or 404 (also when it belongs to a section the user does not serve)."""
    delivery = deliveries_for(user).filter(delivery_id=delivery_id).first()
    if delivery is None:
        raise Http404("delivery not found")
    return delivery


def may_resend(user, delivery: Delivery) -> bool:
    return staff.is_dx_admin(user) or delivery.submission.section_id in staff.section_ids(user)


def state_counts(user) -> dict[str, int]:
    """{state: count} over what the user may see (the page's summary)."""
    rows = deliveries_for(user).order_by().values("state").annotate(n=Count("pk"))
    return {row["state"]: row["n"] for row in rows}


def for_submission(user, submission) -> list[Delivery]:
    """Deliveries of one application the user may already see (its detail page)."""
    return list(deliveries_for(user).filter(submission=submission)[:20])
