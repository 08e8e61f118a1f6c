"""Any standard OpenID Connect provider, by settings alone (IDENTITY_OIDC_PROVIDERS).

A municipality that already runs, or contracts, an OpenID provider connects it without
code: issuer (its discovery document is read from <issuer>/.well-known/openid-configuration),
client id, a secret or a private key, the scopes, the assurance level it grants and which of
its claims are the name, the address and so on.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from tenohira.core import residents
from tenohira.identity.oidc import (
    CLIENT_SECRET_BASIC,
    CLIENT_SECRET_POST,
    PRIVATE_KEY_JWT,
    ClientConfig,
    OIDCProvider,
)
from tenohira.identity.registry import ProviderInfo, register

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# The card's level is earned only through the card's own provider (its signing flow too).
_LEVELS = {residents.EMAIL, residents.BUSINESS}
_RESERVED = {"mynumber_card", "gbizid", "email"}


def provider_from(entry: dict) -> OIDCProvider:
    name = str(entry.get("name", ""))
    if not _NAME.match(name) or name in _RESERVED:
        raise ImproperlyConfigured(f"IDENTITY_OIDC_PROVIDERS: name {name!r} must be lower-case letters, digits, _ or -"
                                   " and not one of the built-in providers")
    level = entry.get("level", residents.EMAIL)
    if level not in _LEVELS:
        raise ImproperlyConfigured(f"IDENTITY_OIDC_PROVIDERS[{name}]: level must be one of {sorted(_LEVELS)}")
    auth_method = entry.get("token_auth") or (PRIVATE_KEY_JWT if entry.get("private_key_file") else CLIENT_SECRET_BASIC)
    if auth_method not in {PRIVATE_KEY_JWT, CLIENT_SECRET_BASIC, CLIENT_SECRET_POST}:
        raise ImproperlyConfigured(f"IDENTITY_OIDC_PROVIDERS[{name}]: unknown token_auth {auth_method!r}")
    kind = entry.get("kind", "business" if level == residents.BUSINESS else "individual")
    info = ProviderInfo(name=name, label=str(entry.get("label") or name), kind=kind, levels=(level,))
    scopes = list(entry.get("scopes") or ["openid", "email", "profile"])
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    return OIDCProvider(info, ClientConfig(
        name=name,
        issuer=str(entry.get("issuer", "")).rstrip("/"),
        client_id=str(entry.get("client_id", "")),
        client_secret=str(entry.get("client_secret", "")),
        private_key_file=str(entry.get("private_key_file", "")),
        auth_method=auth_method,
        scopes=scopes,
        claims=dict(entry.get("claims") or {"name": "name", "email": "email"}),
    ))


@register.register("oidc")
def build() -> list[OIDCProvider]:
    return [provider_from(entry) for entry in getattr(settings, "IDENTITY_OIDC_PROVIDERS", []) or []]
