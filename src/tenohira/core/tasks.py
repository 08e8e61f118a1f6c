"""Background tasks of core (found by core.background.load): the e-mail outbox's."""

from tenohira.core import outbox  # noqa: F401 (registers core.outbox.deliver and core.outbox.sweep)
