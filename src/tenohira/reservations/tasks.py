"""Background sweeps of the reservations (core.background)."""

from __future__ import annotations

import contextlib

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


@background.periodic("reservations.draw_due", seconds=60)
def draw_due() -> bool:
    """抽選: draw each lottery whose draw time has come (the staff button and
    `tenohira reservations draw` do the same earlier). One lottery per run: a draw books and
    mails every entrant in one transaction."""
    from tenohira.reservations.allocation_services import draw, due_lotteries
    from tenohira.reservations.errors import NotAllowed

    due = list(due_lotteries()[:2])
    if not due:
        return False
    with contextlib.suppress(NotAllowed):  # drawn a moment ago by staff or another worker
        draw(due[0])
    return len(due) > 1
