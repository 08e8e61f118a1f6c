"""Background tasks of integrations (found by core.background.load)."""

from tenohira.core import background
from tenohira.integrations import services


@background.task("integrations.deliver")
def deliver(delivery_pk: int) -> None:
    # Idempotent: a delivery already sent, or held by a live worker, is left alone.
    services.deliver(delivery_pk)


@background.periodic("integrations.sweep", seconds=30)
def sweep() -> bool:
    return services.sweep()
