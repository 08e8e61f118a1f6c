"""A standard OpenID provider that is not ours connects by settings alone.

The provider is node's oidc-provider (tests/support/oidc_node), a different library in a
different language from the demo stand-in, run as its own process. The only thing that
tells Tenohira about it is IDENTITY_OIDC_PROVIDERS (TENOHIRA_OIDC_PROVIDERS in the
environment): its issuer (the rest is read from its discovery document), a client id and
secret, the scopes, the level and which claims are the name and the e-mail. Our side is
driven with Django's test client; the provider's pages with `requests`, following each
redirect by hand and posting its login and consent forms as a browser would.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from tenohira.catalog.models import Department, Procedure, Section
from tenohira.core import residents
from tests.support.oidc_node import running_node_provider

HOST = "localhost"  # ALLOWED_HOSTS has no "testserver"
NAME = "kenmin"
CALLBACK = f"http://{HOST}/identity/callback/{NAME}/"
CODE = "KMN"

FORM = {
    "title": "犬の登録申請",
    "intro": "犬を飼い始めた方の登録です。",
    "you_need": ["メールアドレス"],
    "minutes": 3,
    "email_field": "email",
    "steps": [{
        "key": "about",
        "title": "申請する方について",
        "fields": [
            {"key": "full_name", "type": "text", "label": "氏名", "required": True, "max_length": 40},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
        ],
    }],
}


@pytest.fixture(scope="module")
def node_provider():
    with running_node_provider([CALLBACK]) as provider:
        yield provider


@pytest.fixture
def kenmin(settings, node_provider):
    """Settings naming the node provider and nothing else (contract: IDENTITY_OIDC_PROVIDERS)."""
    from tenohira.identity.oidc import forget_cached

    settings.MYNUMBER_CARD_ISSUER = ""
    settings.GBIZID_ISSUER = ""
    settings.IDENTITY_OIDC_PROVIDERS = [{
        "name": NAME,
        "label": "けんみんID（テスト）",
        "issuer": node_provider.issuer,
        "client_id": node_provider.client_id,
        "client_secret": node_provider.client_secret,
        "token_auth": "client_secret_basic",
        "scopes": ["openid", "email", "profile"],
        "level": "email",
        "kind": "individual",
        "claims": {"name": "name", "email": "email"},
    }]
    forget_cached()
    yield node_provider
    forget_cached()


@pytest.fixture
def email_procedure(db):
    """A procedure that requires a verified e-mail (or better), with a published form."""
    from tenohira.forms.services import publish

    department, _ = Department.objects.get_or_create(name="テスト部")
    section, _ = Section.objects.get_or_create(department=department, name="テスト課")
    procedure = Procedure.objects.create(code=CODE, section=section, name="犬の登録", identity="email")
    publish(procedure, FORM)
    return procedure


def location(response) -> str:
    assert response.status_code in (302, 303), (response.status_code, _text(response)[:1500])
    return response.headers["Location"]


def _text(response) -> str:
    return response.content.decode() if hasattr(response, "content") else response.text


def form_action(html: str, ending: str) -> str:
    match = re.search(rf'<form[^>]*action="([^"]*/{ending})"', html)
    assert match, html[:2000]
    return match.group(1)


def at_provider(authorize_url: str, provider, *, cancel: bool = False) -> str:
    """Be the resident's browser at the provider: open the authorization URL, sign in,
    allow sharing (or cancel); returns where the provider finally sends the browser."""
    browser = requests.Session()
    url = authorize_url
    for _ in range(12):
        if url.startswith(CALLBACK):
            return url
        response = browser.get(url, allow_redirects=False, timeout=10)
        if response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            continue
        assert response.status_code == 200, (response.status_code, response.text[:1500])
        html = response.text
        if cancel:
            posted = browser.post(urljoin(url, form_action(html, "abort")), allow_redirects=False, timeout=10)
        elif 'name="password"' in html:
            posted = browser.post(urljoin(url, form_action(html, "login")),
                                  data={"username": provider.username, "password": provider.password},
                                  allow_redirects=False, timeout=10)
        else:
            posted = browser.post(urljoin(url, form_action(html, "confirm")), allow_redirects=False, timeout=10)
        assert posted.is_redirect, (posted.status_code, posted.text[:1500])
        url = urljoin(url, posted.headers["Location"])
    raise AssertionError(f"the provider never sent the browser back to {CALLBACK}")


def sign_in_through_kenmin(client: Client, provider, next_path: str, *, cancel: bool = False):
    """Our sign-in page → our start → the provider → our callback; returns the callback's response."""
    sign_in = client.get(reverse("identity:sign_in"), {"next": next_path, "level": "email"})
    start_url = reverse("identity:start", args=[NAME])
    if sign_in.status_code == 200:
        # A chooser page: the provider is offered under the label from the settings.
        html = sign_in.content.decode()
        assert "けんみんID（テスト）" in html
        assert start_url in html
    else:
        # Straight to the only provider offered.
        assert location(sign_in).startswith(start_url)
    started = client.post(start_url, {"next": next_path})
    authorize_url = location(started)
    assert authorize_url.startswith(provider.issuer + "/"), authorize_url
    query = parse_qs(urlsplit(authorize_url).query)
    # The standard flow's safeguards are sent to a generic provider too.
    assert query["client_id"] == [provider.client_id]
    assert query["redirect_uri"] == [CALLBACK]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"][0] and query["nonce"][0]
    assert set(query["scope"][0].split()) == {"openid", "email", "profile"}
    back = at_provider(authorize_url, provider, cancel=cancel)
    parts = urlsplit(back)
    return client.get(parts.path + "?" + parts.query)


@pytest.mark.django_db
def test_sign_in_through_a_provider_known_only_from_settings(kenmin, email_procedure):
    client = Client(HTTP_HOST=HOST)
    next_path = f"/procedures/{CODE}/"
    response = sign_in_through_kenmin(client, kenmin, next_path)
    assert location(response) == next_path

    page = client.get(next_path)
    identity = residents.current(page.wsgi_request)
    assert identity is not None, "not signed in after the callback"
    assert identity["provider"] == NAME
    assert identity["provider_label"] == "けんみんID（テスト）"
    assert identity["kind"] == "individual"
    assert identity["level"] == "email"
    assert identity["issuer"] == kenmin.issuer
    assert identity["subject"]
    # The name exactly as the provider sent it (髙, not 高), and the e-mail.
    assert identity["claims"]["name"] == kenmin.name == "髙橋 花子"
    assert identity["email"] == kenmin.email
    assert re.fullmatch(r"[0-9a-f]{64}", identity["id_token_sha256"])
    assert identity["auth_time"]

    # A procedure that requires a verified e-mail can now be started, and the draft
    # carries the identity it was started under.
    started = client.post(f"/procedures/{CODE}/apply/")
    match = re.search(r"/apply/([0-9a-f-]{36})/", location(started))
    assert match, location(started)
    from tenohira.applications.models import Draft

    draft = Draft.objects.get(public_id=match.group(1))
    assert draft.identity["provider"] == NAME
    assert draft.identity["subject"] == identity["subject"]
    assert draft.identity["claims"]["name"] == "髙橋 花子"


@pytest.mark.django_db
def test_the_same_procedure_is_refused_without_sign_in(kenmin, email_procedure):
    """The control: without signing in, starting goes to sign-in, and no draft is made."""
    from tenohira.applications.models import Draft

    client = Client(HTTP_HOST=HOST)
    response = client.post(f"/procedures/{CODE}/apply/")
    assert response.status_code in (302, 303, 403)
    if response.status_code != 403:
        assert location(response).startswith(reverse("identity:sign_in"))
    assert not Draft.objects.exists()


@pytest.mark.django_db
def test_cancelling_at_the_provider_leaves_the_resident_signed_out(kenmin, email_procedure):
    """The provider's own cancel button answers with error=access_denied, as the standard says."""
    client = Client(HTTP_HOST=HOST)
    response = sign_in_through_kenmin(client, kenmin, f"/procedures/{CODE}/", cancel=True)
    assert response.status_code == 200
    assert "ログインを中止しました" in response.content.decode()
    assert residents.current(response.wsgi_request) is None


@pytest.mark.django_db
def test_a_wrong_client_secret_in_the_settings_is_a_clear_failure(kenmin, email_procedure, settings):
    """A mistyped secret: the provider refuses the code exchange (invalid_client); the
    resident gets a page saying what to do, not a server error, and is not signed in."""
    settings.IDENTITY_OIDC_PROVIDERS = [{**settings.IDENTITY_OIDC_PROVIDERS[0], "client_secret": "not-the-secret"}]
    client = Client(HTTP_HOST=HOST)
    response = sign_in_through_kenmin(client, kenmin, f"/procedures/{CODE}/")
    assert 400 <= response.status_code < 600 and response.status_code != 500, response.status_code
    assert "もう一度" in response.content.decode()
    assert residents.current(response.wsgi_request) is None
