"""The state machines of assessments and payments, and the record of every move.

Every change of an Assessment's or a Payment's state goes through `move_assessment` /
`move_payment`: a move the machine does not allow raises StateError and changes nothing,
and each allowed move leaves a PaymentEvent (who or what moved it, from where, why).
Callers hold the row locked (select_for_update) inside their transaction.

Assessment (調定):
    assessed → awaiting_payment → paid → settled → reconciled
    assessed / awaiting_payment → exempt (減免 of the whole amount) | cancelled | expired
    expired → awaiting_payment (asked again)
    paid / settled / reconciled → refunded | partially_refunded
    partially_refunded → refunded | partially_refunded

Payment (one attempt):
    created → awaiting → authorised → captured → settled → reconciled
    created / awaiting / authorised → failed | cancelled | expired
    awaiting → captured (a provider that captures at once)
    captured / settled / reconciled → refunded | partially_refunded
    partially_refunded → refunded | partially_refunded
"""

from __future__ import annotations

from django.utils import timezone

from tenohira.payments.models import Assessment, Payment, PaymentEvent

A = Assessment.State
P = Payment.State

ASSESSMENT_MOVES: dict[str, set[str]] = {
    A.ASSESSED: {A.AWAITING, A.EXEMPT, A.CANCELLED, A.PAID},
    A.AWAITING: {A.PAID, A.EXEMPT, A.CANCELLED, A.EXPIRED},
    A.EXPIRED: {A.AWAITING, A.CANCELLED},
    A.PAID: {A.SETTLED, A.RECONCILED, A.REFUNDED, A.PARTIALLY_REFUNDED},
    A.SETTLED: {A.RECONCILED, A.REFUNDED, A.PARTIALLY_REFUNDED},
    A.RECONCILED: {A.REFUNDED, A.PARTIALLY_REFUNDED},
    A.PARTIALLY_REFUNDED: {A.REFUNDED, A.PARTIALLY_REFUNDED},
    A.EXEMPT: set(),
    A.CANCELLED: set(),
    A.REFUNDED: set(),
}

PAYMENT_MOVES: dict[str, set[str]] = {
    P.CREATED: {P.AWAITING, P.FAILED, P.CANCELLED, P.EXPIRED, P.CAPTURED},
    P.AWAITING: {P.AUTHORISED, P.CAPTURED, P.FAILED, P.CANCELLED, P.EXPIRED},
    P.AUTHORISED: {P.CAPTURED, P.FAILED, P.CANCELLED, P.EXPIRED},
    P.CAPTURED: {P.SETTLED, P.RECONCILED, P.REFUNDED, P.PARTIALLY_REFUNDED},
    P.SETTLED: {P.RECONCILED, P.REFUNDED, P.PARTIALLY_REFUNDED},
    P.RECONCILED: {P.REFUNDED, P.PARTIALLY_REFUNDED},
    P.PARTIALLY_REFUNDED: {P.REFUNDED, P.PARTIALLY_REFUNDED},
    P.FAILED: set(),
    P.CANCELLED: set(),
    P.EXPIRED: set(),
    P.REFUNDED: set(),
}

#: An assessment in one of these needs nothing more from the resident.
SETTLED_FOR_RESIDENT = {A.PAID, A.SETTLED, A.RECONCILED, A.EXEMPT}
#: A payment in one of these has the money (or had it, before a refund).
MONEY_RECEIVED = {P.CAPTURED, P.SETTLED, P.RECONCILED, P.PARTIALLY_REFUNDED, P.REFUNDED}
#: A payment in one of these may still turn into money.
OPEN_PAYMENT = {P.CREATED, P.AWAITING, P.AUTHORISED}


class StateError(Exception):
    """A move the state machine does not allow (in Japanese, for staff)."""


def _label(choices, state: str) -> str:
    try:
        return str(choices(state).label)
    except ValueError:
        return state


def move_assessment(assessment: Assessment, to_state: str, *, kind: str, actor=None, actor_label: str = "",
                    detail: dict | None = None, payment: Payment | None = None, at=None,
                    events: list | None = None) -> PaymentEvent:
    """`events`: a list to put the event in instead of inserting it at once (the caller
    inserts the events of one change together, in its transaction)."""
    from_state = assessment.state
    if to_state not in ASSESSMENT_MOVES.get(from_state, set()) and not (
        to_state == from_state == A.PARTIALLY_REFUNDED
    ):
        raise StateError(f"調定 {assessment.number} は「{_label(A, from_state)}」なので「{_label(A, to_state)}」にできません。")
    at = at or timezone.now()
    assessment.state = to_state
    fields = ["state", "updated_at"]
    if to_state == A.PAID and not assessment.paid_at:
        assessment.paid_at = at
        fields.append("paid_at")
    assessment.save(update_fields=fields)
    event = PaymentEvent(
        assessment=assessment, payment=payment, at=at, kind=kind, from_state=from_state, to_state=to_state,
        actor=actor, actor_label=actor_label[:100], detail=detail or {},
    )
    return _keep(event, events)


def _keep(event: PaymentEvent, events: list | None) -> PaymentEvent:
    if events is None:
        event.save(force_insert=True)
    else:
        events.append(event)
    return event


def move_payment(payment: Payment, to_state: str, *, kind: str, actor=None, actor_label: str = "",
                 detail: dict | None = None, provider_event_id: str = "", at=None,
                 also: tuple[str, ...] = (), events: list | None = None) -> PaymentEvent:
    """`also`: other fields of `payment` the caller changed, saved in the same UPDATE;
    `events`: as for move_assessment."""
    from_state = payment.state
    if to_state not in PAYMENT_MOVES.get(from_state, set()) and not (
        to_state == from_state == P.PARTIALLY_REFUNDED
    ):
        raise StateError(f"支払い（{payment.provider}）は「{_label(P, from_state)}」なので「{_label(P, to_state)}」にできません。")
    at = at or timezone.now()
    payment.state = to_state
    fields = ["state", "updated_at", *also]
    if to_state == P.CAPTURED and not payment.captured_at:
        payment.captured_at = at
        fields.append("captured_at")
    payment.save(update_fields=fields)
    event = PaymentEvent(
        assessment_id=payment.assessment_id, payment=payment, at=at, kind=kind, provider=payment.provider
        if provider_event_id else "", provider_event_id=provider_event_id, from_state=from_state,
        to_state=to_state, actor=actor, actor_label=actor_label[:100], detail=detail or {},
    )
    return _keep(event, events)


def note(assessment: Assessment, *, kind: str, actor=None, actor_label: str = "", detail: dict | None = None,
         payment: Payment | None = None, provider: str = "", provider_event_id: str = "") -> PaymentEvent:
    """An event that moves nothing (a webhook that changed nothing, a flag, a reminder)."""
    return PaymentEvent.objects.create(
        assessment=assessment, payment=payment, at=timezone.now(), kind=kind, provider=provider,
        provider_event_id=provider_event_id, actor=actor, actor_label=actor_label[:100], detail=detail or {},
    )
