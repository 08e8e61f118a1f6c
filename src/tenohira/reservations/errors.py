"""Why a booking was refused, in words a resident understands (the views show `message`)."""

from __future__ import annotations


class BookingRefused(Exception):
    """A booking could not be made; nothing was written."""

    code = "refused"

    def __init__(self, message: str, *, alternatives: list | None = None):
        super().__init__(message)
        self.message = message
        # The nearest slots with free places (selectors.Availability rows), for 「ほかの空き」.
        self.alternatives = alternatives or []


class SlotFull(BookingRefused):
    code = "full"


class OutsideWindow(BookingRefused):
    code = "window"


class LimitReached(BookingRefused):
    code = "limit"


class NotAllowed(BookingRefused):
    code = "not_allowed"
