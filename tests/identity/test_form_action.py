"""The sign-in and 署名 buttons post here and are redirected to the provider: the CSP
form-action of every page must name the configured providers (browsers check redirects
after a form's POST against it), and only them."""

import pytest


@pytest.mark.django_db
def test_pages_allow_forms_to_lead_to_the_configured_providers_only(client, settings):
    settings.MYNUMBER_CARD_ISSUER = "https://auth.example.go.jp"
    settings.MYNUMBER_CARD_CLIENT_ID = "RP0001"
    settings.MYNUMBER_CARD_PRIVATE_KEY_FILE = "/nonexistent/key.pem"
    settings.IDENTITY_OIDC_PROVIDERS = []
    policy = client.get("/identity/sign-in/?next=/&level=card_signin")["Content-Security-Policy"]
    form_action = next(part for part in policy.split(";") if part.strip().startswith("form-action"))
    assert "'self'" in form_action and "https://auth.example.go.jp" in form_action
    assert "*" not in form_action


@pytest.mark.django_db
def test_without_providers_forms_post_to_the_site_only(client, settings):
    settings.MYNUMBER_CARD_ISSUER = ""
    settings.GBIZID_ISSUER = ""
    settings.IDENTITY_OIDC_PROVIDERS = []
    policy = client.get("/")["Content-Security-Policy"]
    form_action = next(part for part in policy.split(";") if part.strip().startswith("form-action"))
    assert form_action.split() == ["form-action", "'self'"]
