"""What the reservations add to other apps' pages and flows, registered at start-up
(applications.extensions, catalog.extensions, マイページ, applications.signals): those apps
sit below this one and never import it. Each area keeps its own registrations in
`receivers_<area>.py` with a `connect()`."""

from __future__ import annotations

from importlib import import_module

AREAS = ("booking", "allocation", "congestion", "collection")


def connect() -> None:
    """Called once from ReservationsConfig.ready()."""
    for area in AREAS:
        name = f"tenohira.reservations.receivers_{area}"
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.connect()
