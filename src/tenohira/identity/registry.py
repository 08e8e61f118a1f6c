"""Identity providers behind one interface, one module per provider under contrib/.

A provider proves who a resident or business is and hands back a verified identity (the
dict described in tenohira.core.residents). Which providers are offered is decided by
settings (a provider that is not configured is not shown); the code of a new standard
OpenID Connect provider is not needed at all (contrib.oidc reads it from settings).
"""

from __future__ import annotations

from dataclasses import dataclass

from tenohira.core import residents


@dataclass(frozen=True)
class ProviderInfo:
    name: str            # stable id used in URLs and stored evidence ("mynumber_card")
    label: str           # what the resident reads on the button (「マイナンバーカードでログイン」)
    kind: str            # "individual" or "business"
    levels: tuple[str, ...]  # assurance levels a sign-in through it grants (core.residents)
    can_sign: bool = False   # offers the signing flow (電子署名) as well
    note: str = ""           # shown under the button (e.g. that it is the demo's stand-in)


class Provider:
    """Base class. Subclasses implement the flow; the registry holds configured ones.

    A redirecting provider (OpenID Connect) implements `authorization_url` and `finish`;
    one with its own pages (e-mail) sets `start_view` to the name of its first page.
    """

    info: ProviderInfo
    start_view: str = ""

    def is_configured(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def grants(self, required: str) -> bool:
        """Would a sign-in through this provider satisfy a procedure requiring `required`?"""
        return any(residents.satisfies({"level": level}, required) for level in self.info.levels)

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
        raise NotImplementedError  # pragma: no cover

    def finish(self, *, params, redirect_uri: str, nonce: str, code_verifier: str) -> dict:
        raise NotImplementedError  # pragma: no cover


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

    def providers(self) -> list[Provider]:
        """The configured providers, built from the settings now (not at import: a test's
        override or a changed environment takes effect at once)."""
        found: list[Provider] = []
        for factory in self._factories.values():
            made = factory()
            for provider in made if isinstance(made, list | tuple) else [made]:
                if provider is not None and provider.is_configured():
                    found.append(provider)
        return found

    def get(self, name: str) -> Provider | None:
        return next((p for p in self.providers() if p.info.name == name), None)

    def offering(self, required: str) -> list[Provider]:
        """Providers whose sign-in satisfies `required`, strongest first (the card before
        the e-mail), so the chooser leads with what the procedure really asks for."""
        order = [residents.CARD_SIGNIN, residents.BUSINESS, residents.EMAIL]
        chosen = [p for p in self.providers() if p.grants(required)]
        # Providers with pages of their own (the e-mail) after the redirecting ones of a level.
        return sorted(chosen, key=lambda p: (min((order.index(lv) for lv in p.info.levels if lv in order), default=9),
                                             bool(p.start_view)))


register = Registry()
