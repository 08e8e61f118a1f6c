"""Deliveries made as applications happen (applications.signals).

applications sits below integrations, so it announces a submission and every status
change, and these receivers write the Delivery rows in the same transaction: committed
with the change or not at all."""

from __future__ import annotations

from tenohira.integrations import services
from tenohira.integrations.models import Delivery


def on_submitted(sender, submission, **kwargs) -> None:
    services.create_deliveries(submission, Delivery.Event.SUBMITTED)


def on_status_changed(sender, submission, from_status, to_status, **kwargs) -> None:
    event = Delivery.Event.RESUBMITTED if to_status == "resubmitted" else Delivery.Event.STATUS
    services.create_deliveries(submission, event)


def connect() -> None:
    from tenohira.applications import signals

    signals.submitted.connect(on_submitted, dispatch_uid="integrations.submitted")
    signals.status_changed.connect(on_status_changed, dispatch_uid="integrations.status_changed")
