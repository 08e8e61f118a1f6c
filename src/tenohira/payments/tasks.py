"""Background sweeps of the payments (core.background): polling and expiry."""

from __future__ import annotations

from tenohira.core import background

POLL_BATCH = 50
EXPIRY_BATCH = 100


@background.periodic("payments.poll", seconds=30)
def poll() -> bool:
    """Ask the providers about attempts no browser came back from (bounded per run)."""
    from tenohira.payments.services import poll_open_payments

    return poll_open_payments(limit=POLL_BATCH) >= POLL_BATCH


@background.periodic("payments.expire", seconds=60)
def expire() -> bool:
    """Close assessments past their expiry and tell the residents."""
    from tenohira.payments.services import expire_due

    return expire_due(limit=EXPIRY_BATCH) >= EXPIRY_BATCH
