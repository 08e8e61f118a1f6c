"""Fixtures of the identity tests: the demo identity provider as a real process.

The stand-in (tenohira.standins.identity_provider) runs once per test module on a port of
its own choosing; each test registers a fresh client for our callback addresses and points
the settings at it. Our side is driven with Django's test client (HTTP_HOST "localhost"),
the provider's pages with `requests`, posting its forms as a browser would.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client

from tests.support.idp import DEMO_PIN, DEMO_SIGNING_PASSWORD, start_identity_provider

HOST = "localhost"
SITE = f"http://{HOST}"
CALLBACK = f"{SITE}/identity/callback/mynumber_card/"
SIGN_CALLBACK = f"{SITE}/identity/sign/callback/"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    provider = start_identity_provider(tmp_path_factory)
    yield provider
    provider.stop()


@pytest.fixture
def card(settings, idp, tmp_path):
    """Settings for the card's provider = the stand-in, with a client of our own."""
    from tenohira.identity import oidc, revocation

    key_pem, client_id = idp.make_client([CALLBACK, SIGN_CALLBACK])
    key_file = tmp_path / "client-key.pem"
    key_file.write_text(key_pem)
    settings.MYNUMBER_CARD_ISSUER = idp.issuer
    settings.MYNUMBER_CARD_CLIENT_ID = client_id
    settings.MYNUMBER_CARD_PRIVATE_KEY_FILE = str(key_file)
    settings.MYNUMBER_CARD_TRUSTED_CA_FILE = str(idp.root_pem)
    settings.MYNUMBER_CARD_REVOCATION = "crl"
    settings.MYNUMBER_CARD_STANDIN = True
    settings.IDENTITY_HTTP_TIMEOUT = 5
    oidc.forget_cached()
    revocation.forget_cached()
    idp.fault(None)
    yield idp
    idp.fault(None)
    oidc.forget_cached()
    revocation.forget_cached()


@pytest.fixture
def browser():
    return Client(HTTP_HOST=HOST)


class Driver:
    """Walks the flows: our start, the provider's page, back to our callback."""

    def __init__(self, idp):
        self.idp = idp

    @staticmethod
    def local(url: str) -> str:
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def start(self, browser: Client, next_path: str = "/", level: str = "card_signin") -> str:
        response = browser.post("/identity/sign-in/mynumber_card/start/", {"next": next_path, "level": level})
        assert response.status_code == 302, response.content.decode()[:500]
        assert response["Location"].startswith(self.idp.url)
        return response["Location"]

    def at_provider(self, authorize_url: str, *, resident: str | None = None, cancel: bool = False) -> str:
        """The resident picks themself and types the PIN (or presses やめる): where the
        provider sends the browser back to."""
        with requests.Session() as session:
            page = session.get(authorize_url, timeout=10)
            assert page.status_code == 200, page.text[:500]
            form = {"action": "cancel"} if cancel else {"resident": resident or self.first_resident(), "pin": DEMO_PIN}
            answer = session.post(authorize_url, data=form, allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 303), answer.text[:500]
        return answer.headers["Location"]

    def sign_at_provider(self, authorize_url: str, *, cancel: bool = False) -> str:
        with requests.Session() as session:
            page = session.get(authorize_url, timeout=10)
            assert page.status_code == 200, page.text[:500]
            form = {"action": "cancel"} if cancel else {"password": DEMO_SIGNING_PASSWORD}
            answer = session.post(authorize_url, data=form, allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 303), answer.text[:500]
        return answer.headers["Location"]

    def first_resident(self) -> str:
        return self.idp.residents()[0]["id"]

    def sign_in(self, browser: Client, next_path: str = "/", resident: str | None = None):
        back = self.at_provider(self.start(browser, next_path), resident=resident)
        return browser.get(self.local(back))


@pytest.fixture
def driver(card):
    return Driver(card)
