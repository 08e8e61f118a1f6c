"""E-mail sign-in by a one-time code or link, and which providers the settings offer."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from tenohira.core import residents
from tenohira.identity.models import Account, EmailChallenge
from tenohira.identity.registry import register

pytestmark = pytest.mark.django_db


def send_code(browser, capture, address="hanako@example.jp", next_path="/apply/x/"):
    with capture(execute=True):
        response = browser.post("/identity/email/", {"email": address, "next": next_path})
    assert response.status_code == 302, response.content.decode()[:400]
    message = mail.outbox[-1]
    code = re.search(r"確認コード: (\d{6})", message.body).group(1)
    link = re.search(r"http://localhost(/identity/email/link/\S+/)", message.body).group(1)
    return code, link


def test_sign_in_by_code(browser, django_capture_on_commit_callbacks):
    code, _link = send_code(browser, django_capture_on_commit_callbacks)
    challenge = EmailChallenge.objects.get()
    assert code not in challenge.code_hash and len(challenge.code_hash) == 64
    response = browser.post("/identity/email/code/", {"code": code})
    assert response.status_code == 302
    assert response["Location"] == "/apply/x/"
    identity = browser.session[residents.SESSION_KEY]
    assert identity["level"] == residents.EMAIL
    assert identity["email"] == "hanako@example.jp"
    account = Account.objects.get(provider="email")
    assert account.email_verified_at is not None
    # Used once.
    other = type(browser)(HTTP_HOST="localhost")
    session = other.session
    session["tnh_identity_email"] = {"challenge": challenge.pk, "next": "/"}
    session.save()
    assert other.post("/identity/email/code/", {"code": code}).status_code == 400


def test_sign_in_by_link_needs_a_press(browser, django_capture_on_commit_callbacks):
    _code, link = send_code(browser, django_capture_on_commit_callbacks)
    assert browser.get(link).status_code == 200
    assert residents.SESSION_KEY not in browser.session  # opening (a mail scanner) is not enough
    response = browser.post(link)
    assert response.status_code == 302
    assert browser.session[residents.SESSION_KEY]["email"] == "hanako@example.jp"
    assert browser.post(link).status_code == 400


def test_wrong_codes_are_limited(browser, settings, django_capture_on_commit_callbacks):
    settings.IDENTITY_EMAIL_CODE_ATTEMPTS = 3
    code, _ = send_code(browser, django_capture_on_commit_callbacks)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(3):
        response = browser.post("/identity/email/code/", {"code": wrong})
        assert response.status_code == 400
        assert "確認コードが違います" in response.content.decode()
    response = browser.post("/identity/email/code/", {"code": code})
    assert response.status_code == 400
    assert "何度も間違えた" in response.content.decode()
    assert residents.SESSION_KEY not in browser.session


def test_sending_is_rate_limited(browser, settings, django_capture_on_commit_callbacks):
    settings.IDENTITY_EMAIL_LIMIT_PER_HOUR = 2
    send_code(browser, django_capture_on_commit_callbacks)
    send_code(browser, django_capture_on_commit_callbacks)
    response = browser.post("/identity/email/", {"email": "hanako@example.jp"})
    assert response.status_code == 400
    assert "1時間ほどたってから" in response.content.decode()


def test_an_invalid_address_says_how_to_write_it(browser):
    response = browser.post("/identity/email/", {"email": "not an address"})
    assert response.status_code == 400
    assert "例: taro@example.jp" in response.content.decode()


def test_only_the_email_offered_goes_straight_to_it(browser, settings):
    settings.MYNUMBER_CARD_ISSUER = ""
    settings.GBIZID_ISSUER = ""
    settings.IDENTITY_OIDC_PROVIDERS = []
    response = browser.get("/identity/sign-in/", {"level": "email", "next": "/apply/y/"})
    assert response.status_code == 302
    assert response["Location"].startswith("/identity/email/?next=%2Fapply%2Fy%2F")


# --- the registry ---


def names(level):
    return [p.info.name for p in register.offering(level)]


def test_providers_are_offered_by_settings_alone(settings, tmp_path):
    settings.MYNUMBER_CARD_ISSUER = "https://card.example"
    settings.MYNUMBER_CARD_CLIENT_ID = "city"
    settings.MYNUMBER_CARD_PRIVATE_KEY_FILE = str(tmp_path / "key.pem")
    settings.GBIZID_ISSUER = "https://gbiz.example"
    settings.GBIZID_CLIENT_ID = "city"
    settings.GBIZID_CLIENT_SECRET = "s"  # noqa: S105
    settings.IDENTITY_OIDC_PROVIDERS = [{"name": "kenmin", "label": "県民ID", "issuer": "https://ken.example/",
                                         "client_id": "c", "client_secret": "s", "level": "email"}]
    assert names("card_signin") == ["mynumber_card"]
    assert names("card_signature") == ["mynumber_card"]
    assert names("business") == ["gbizid"]
    assert names("email") == ["mynumber_card", "gbizid", "kenmin", "email"]
    kenmin = register.get("kenmin")
    assert kenmin.config.issuer == "https://ken.example"
    assert kenmin.config.auth_method == "client_secret_basic"
    settings.GBIZID_CLIENT_SECRET = ""
    assert register.get("gbizid") is None  # half-configured: not offered


@pytest.mark.parametrize("entry", [
    {"name": "mynumber_card", "issuer": "https://x", "client_id": "c", "client_secret": "s"},
    {"name": "Bad Name", "issuer": "https://x", "client_id": "c", "client_secret": "s"},
    {"name": "x", "issuer": "https://x", "client_id": "c", "client_secret": "s", "level": "card_signin"},
    {"name": "x", "issuer": "https://x", "client_id": "c", "client_secret": "s", "token_auth": "none"},
])
def test_a_wrong_generic_provider_entry_is_a_configuration_error(settings, entry):
    settings.IDENTITY_OIDC_PROVIDERS = [entry]
    with pytest.raises(ImproperlyConfigured):
        register.providers()


def test_the_card_button_says_when_it_is_the_standin(settings, tmp_path):
    settings.MYNUMBER_CARD_ISSUER = "https://card.example"
    settings.MYNUMBER_CARD_CLIENT_ID = "city"
    settings.MYNUMBER_CARD_PRIVATE_KEY_FILE = str(tmp_path / "key.pem")
    settings.MYNUMBER_CARD_STANDIN = False
    assert "デモ" not in str(register.get("mynumber_card").info.label)
    settings.MYNUMBER_CARD_STANDIN = True
    assert "デモ用の代替サービス" in str(register.get("mynumber_card").info.label)
