"""Background sweeps of the reservations (core.background)."""

from __future__ import annotations

from tenohira.core import background

REMINDER_BATCH = 200


@background.periodic("reservations.remind", seconds=300)
def remind() -> bool:
    """前日のお知らせ: e-mail bookings that start tomorrow, once each (bounded per run)."""
    from tenohira.reservations.services import send_reminders

    return send_reminders(limit=REMINDER_BATCH) >= REMINDER_BATCH
