"""Delivery kinds behind one interface, one module per kind under contrib/.

A kind sends one Delivery's document to its target and says what happened: delivered,
retry later (the target is down or slow), or give up now (the target refused the document:
a 4xx, a directory that does not exist). Workers, retries and the dead letter are the
same for every kind (integrations.services).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    delivered: bool
    retry: bool = False
    reason: str = ""          # plain Japanese for staff
    detail: str = ""          # technical, for the operator (no personal data)
    status_code: int | None = None


class DeliveryKind:
    name: str = ""
    label: str = ""

    def validate(self, config: dict) -> list[str]:  # pragma: no cover - overridden
        """Problems with a target's config, in Japanese (empty when fine)."""
        raise NotImplementedError

    def send(self, delivery, document: dict) -> Outcome:  # pragma: no cover - overridden
        raise NotImplementedError


class Registry:
    def __init__(self):
        self._kinds: dict[str, DeliveryKind] = {}

    def register(self, kind_class):
        kind = kind_class()
        self._kinds[kind.name] = kind
        return kind_class

    def get(self, name: str) -> DeliveryKind | None:
        return self._kinds.get(name)

    def names(self) -> list[str]:
        return sorted(self._kinds)


register = Registry()
