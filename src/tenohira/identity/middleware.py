"""Let the site's forms lead to the identity providers.

The Content Security Policy allows forms to post only to the site itself (form-action
'self'), and browsers apply that to the redirects that follow the POST as well: the
sign-in and 署名 buttons post here and are redirected to the provider, which Chromium would
block. Each HTML response therefore adds the configured providers' origins to form-action
— only those, computed from the settings now (a test's override or a changed environment
takes effect at once) and from discovery documents already fetched (never fetched here:
rendering a page must not wait on a provider).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tenohira.identity import oidc
from tenohira.identity.registry import register

# Endpoints of a discovery document a resident's browser is sent to.
_BROWSER_ENDPOINTS = ("authorization_endpoint", "signing_authorization_endpoint")


def _origin(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in {"https", "http"} or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def provider_origins() -> list[str]:
    origins: set[str] = set()
    for provider in register.providers():
        client = getattr(provider, "client", None)
        if client is None:
            continue
        issuer = client.config.issuer.rstrip("/")
        origins.add(_origin(issuer))
        metadata = oidc.cached_metadata(issuer)
        for name in _BROWSER_ENDPOINTS:
            origins.add(_origin((metadata or {}).get(name, "")))
    origins.discard("")
    return sorted(origins)


class ProviderFormActionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html") and not getattr(response, "_csp_update", None):
            origins = provider_origins()
            if origins:
                response._csp_update = {"form-action": origins}
        return response
