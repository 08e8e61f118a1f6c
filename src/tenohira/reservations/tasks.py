"""Background sweeps of the reservations (core.background)."""

from __future__ import annotations

from tenohira.core import background

REMINDER_BATCH = 200


@background.periodic("reservations.remind", seconds=300)
def remind() -> bool:
    """前日のお知らせ: e-mail bookings that start tomorrow, once each (bounded per run)."""
    from tenohira.reservations.services import send_reminders

    return send_reminders(limit=REMINDER_BATCH) >= REMINDER_BATCH


OFFER_BATCH = 200
UNPAID_BATCH = 200


@background.periodic("reservations.lapse_offers", seconds=60)
def lapse_offers() -> bool:
    """キャンセル待ち: offers not accepted before they expire lapse, and the place is offered
    to the next person waiting (bounded per run)."""
    from tenohira.reservations.waitlist import lapse_offers as lapse

    return lapse(limit=OFFER_BATCH) >= OFFER_BATCH


@background.periodic("reservations.lapse_unpaid", seconds=300)
def lapse_unpaid() -> bool:
    """Bookings whose fee is unpaid at pay_by are cancelled and the resident told."""
    from tenohira.reservations.allocation_services import lapse_unpaid as lapse

    return lapse(limit=UNPAID_BATCH) >= UNPAID_BATCH
