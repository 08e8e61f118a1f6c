"""Identity providers behind one interface, one module per provider under contrib/.

A provider proves who a resident or business is and hands back a verified identity (the
dict described in tenohira.core.residents). Which providers are offered is decided by
settings (a provider that is not configured is not shown); the code of a new standard
OpenID Connect provider is not needed at all (contrib.oidc reads it from settings).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderInfo:
    name: str            # stable id used in URLs and stored evidence ("mynumber_card")
    label: str           # what the resident reads on the button (「マイナンバーカードでログイン」)
    kind: str            # "individual" or "business"
    levels: tuple[str, ...]  # assurance levels a sign-in through it grants (core.residents)
    can_sign: bool = False   # offers the signing flow (電子署名) as well


class Provider:
    """Base class. Subclasses implement the flow; the registry holds configured ones."""

    info: ProviderInfo

    def is_configured(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError


class Registry:
    def __init__(self):
        self._factories: dict[str, object] = {}

    def register(self, name: str):
        """Decorator: register a provider class (or a callable returning providers)."""
        def wrap(factory):
            self._factories[name] = factory
            return factory
        return wrap

    def factories(self) -> dict[str, object]:
        return dict(self._factories)


register = Registry()
