"""What the reservations add to other apps' pages and flows, registered at start-up
(applications.extensions, catalog's procedure page, マイページ): those apps sit below this
one and never import it."""

from __future__ import annotations


def connect() -> None:
    """Called once from ReservationsConfig.ready()."""
