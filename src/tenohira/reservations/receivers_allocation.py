"""Allocation's registrations: the waiting list is offered a freed place before anyone else."""

from __future__ import annotations


def connect() -> None:
    from tenohira.reservations import services, waitlist

    services.on_release(waitlist.offer_next)
