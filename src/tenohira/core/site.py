"""The address residents reach this site at, for links that leave it: e-mails, printed
receipts, QR codes.

An explicit SITE_URL wins: it is the only right answer behind a proxy that rewrites the
host, and when staff (who trigger some e-mails to residents) reach the site under another
name than residents do. Without it, the address is the one the current request came to —
a host Django has already checked against ALLOWED_HOSTS — so a server started on another
port or name never sends links to an address it does not serve. Services compose e-mails
without a request in hand; the middleware below keeps the current request's origin in a
context variable for them, which is safe under threads and async alike.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

from django.conf import settings
from django.core.exceptions import DisallowedHost

_origin: ContextVar[str | None] = ContextVar("tenohira_site_origin", default=None)

# Outside any request and without SITE_URL (a command, a test calling a service) there is
# no address to be sure of; localhost is at least never a stranger's server.
FALLBACK = "http://localhost"


def public_url(path: str = "") -> str:
    """The public address of `path` (which starts with "/"), for residents."""
    return _base(settings.SITE_URL) + path


def staff_url(path: str = "") -> str:
    """The address of a staff page as staff terminals reach it (STAFF_SITE_URL)."""
    return _base(settings.STAFF_SITE_URL or settings.SITE_URL) + path


def _base(configured: str) -> str:
    return (configured or _origin.get() or FALLBACK).rstrip("/")


@contextlib.contextmanager
def serving(origin: str):
    """Make `origin` ("http://host:port") the site's address inside the block, e.g. for a
    command that knows where it is about to serve."""
    token = _origin.set(origin.rstrip("/"))
    try:
        yield
    finally:
        _origin.reset(token)


class RequestOriginMiddleware:
    """Records each request's scheme and host as the site's address while it runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            origin = f"{request.scheme}://{request.get_host()}"
        except DisallowedHost:
            # CommonMiddleware answers 400; nothing from this host may reach an e-mail.
            return self.get_response(request)
        with serving(origin):
            return self.get_response(request)
