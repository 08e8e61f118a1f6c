"""マイナンバーカード through the Digital Agency's デジタル認証アプリ.

The app offers the card to services as standard OpenID Connect: authorization code with
PKCE S256, `state` and `nonce`, client authentication by private_key_jwt, the scopes
`openid name address birthdate gender` (the four basic items, 基本4情報), and a separate
signing transaction (tenohira.identity.signing) in which we send a SHA-256 digest and get
back the signature with the signing certificate (署名用電子証明書). We never see or keep a
My Number or a PIN: the app talks to the card.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from tenohira.core import residents
from tenohira.identity.oidc import PRIVATE_KEY_JWT, ClientConfig, OIDCProvider
from tenohira.identity.registry import ProviderInfo, register

NAME = "mynumber_card"
SCOPES = ["openid", "name", "address", "birthdate", "gender"]


class MyNumberCard(OIDCProvider):
    pass


@register.register(NAME)
def build() -> MyNumberCard:
    standin = bool(getattr(settings, "MYNUMBER_CARD_STANDIN", False))
    info = ProviderInfo(
        name=NAME,
        label=_("マイナンバーカードでログイン（デモ用の代替サービス）") if standin else _("マイナンバーカードでログイン"),
        kind="individual",
        levels=(residents.CARD_SIGNIN,),
        can_sign=True,
        note=_("これはデモ用の代替サービスです。本物のデジタル認証アプリではありません。") if standin
        else _("スマートフォンのデジタル認証アプリで、カードの利用者証明用パスワード（数字4桁）を入力します。"),
    )
    return MyNumberCard(info, ClientConfig(
        name=NAME,
        issuer=getattr(settings, "MYNUMBER_CARD_ISSUER", ""),
        client_id=getattr(settings, "MYNUMBER_CARD_CLIENT_ID", ""),
        auth_method=PRIVATE_KEY_JWT,
        private_key_file=getattr(settings, "MYNUMBER_CARD_PRIVATE_KEY_FILE", ""),
        scopes=SCOPES,
        claims={"name": "name", "address": "address", "birthdate": "birthdate", "gender": "gender"},
    ))
