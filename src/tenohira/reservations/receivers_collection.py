"""粗大ごみ collection days (reservations.collection): the slot source of the form
engine's `reservation_slot` field, the booking made with the application, moved when a
correction (差戻し → 再提出) changes the day, ended when the application is rejected or withdrawn, and the panel on the done page, the status page
and マイページ."""

from __future__ import annotations


def connect() -> None:
    from tenohira.applications import extensions, signals
    from tenohira.forms.extensions import register_slot_source
    from tenohira.reservations import collection

    register_slot_source(collection.SOURCE)
    signals.submitted.connect(collection.book_on_submission, dispatch_uid="reservations.collection.book")
    signals.status_changed.connect(collection.end_with_application, dispatch_uid="reservations.collection.end")
    signals.status_changed.connect(collection.move_with_correction, dispatch_uid="reservations.collection.move")
    extensions.add_submission_panel(collection.submission_panel)
