"""E-mail: a one-time code (or the link in the same message) proves the address.

The weakest level ("email"): it shows the resident reads mail at that address, not who
they are. The pages are our own (views.email_*); the codes live in EmailChallenge, hashed.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from tenohira.core import residents
from tenohira.identity.registry import Provider, ProviderInfo, register

NAME = "email"


class EmailProvider(Provider):
    start_view = "identity:email"

    def __init__(self):
        self.info = ProviderInfo(name=NAME, label=_("メールアドレスでログイン"), kind="individual",
                                 levels=(residents.EMAIL,),
                                 note=_("入力したメールアドレスに届く6桁の確認コードを入力します。"))

    def is_configured(self) -> bool:
        return bool(getattr(settings, "IDENTITY_EMAIL_SIGN_IN", True))


@register.register(NAME)
def build() -> EmailProvider:
    return EmailProvider()
