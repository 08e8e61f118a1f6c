"""Background tasks of integrations (found by core.background.load)."""

from tenohira.core import background
from tenohira.integrations import services
from tenohira.integrations.transfer import schedule  # noqa: F401  (registers the transfer on the timer)


@background.task("integrations.deliver")
def deliver(delivery_pk: int, *more: int) -> None:
    # Idempotent: a delivery already sent, or held by a live worker, is left alone. The
    # deliveries of one commit come in one message (a message of one, from before, too).
    services.deliver(delivery_pk, *more)


@background.periodic("integrations.sweep", seconds=30)
def sweep() -> bool:
    return services.sweep()
