"""GビズID, the government's business ID (法人・個人事業主), through OpenID Connect.

A client registered with GビズID authenticates with its client secret (client_secret_basic).
The identity is a business one (level "business"): the person acting for the company.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from tenohira.core import residents
from tenohira.identity.oidc import CLIENT_SECRET_BASIC, ClientConfig, OIDCProvider
from tenohira.identity.registry import ProviderInfo, register

NAME = "gbizid"


@register.register(NAME)
def build() -> OIDCProvider:
    info = ProviderInfo(name=NAME, label=_("GビズIDでログイン（法人・個人事業主）"), kind="business",
                        levels=(residents.BUSINESS,))
    return OIDCProvider(info, ClientConfig(
        name=NAME,
        issuer=getattr(settings, "GBIZID_ISSUER", ""),
        client_id=getattr(settings, "GBIZID_CLIENT_ID", ""),
        client_secret=getattr(settings, "GBIZID_CLIENT_SECRET", ""),
        auth_method=CLIENT_SECRET_BASIC,
        scopes=["openid", "profile", "email"],
        # GビズID names the account holder and the corporation separately.
        claims={"name": "name", "corporation": "corp_name", "corporate_number": "corporate_number",
                "address": "address", "email": "email"},
    ))
