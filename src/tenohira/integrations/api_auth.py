"""Credentials of the business systems that use the pull API (連携API).

Two ways in, both ending in a bearer token on each call:

- an API key (`tnh_…`), made once by an administrator and shown once;
- OAuth2 client credentials (RFC 6749 §4.4): the system posts its client_id and secret to
  /api/v1/integration/token and gets a token valid for INTEGRATION_TOKEN_SECONDS.

Only SHA-256 hashes are stored. The secrets are 256-bit random values, so a plain hash is
enough (no password stretching: nobody can guess such a value, and a slow hash would cost
every API call). The first characters of an API key are kept so an administrator can tell
which key a system uses without seeing it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from tenohira.integrations.models import IntegrationClient, IntegrationToken

SCOPES = {
    "submissions:read": "申請の一覧・内容・添付ファイルの取得",
    "submissions:ack": "取込済の登録",
    "status:write": "申請の状態の更新と申請者へのお知らせ",
}
API_KEY_PREFIX = "tnh_"
ACCESS_TOKEN_PREFIX = "tnhat_"  # noqa: S105 (a prefix, not a secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_lifetime() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "INTEGRATION_TOKEN_SECONDS", 3600))


@dataclass
class NewClient:
    """What is shown once after creating a client (never stored in clear)."""

    client: IntegrationClient
    api_key: str
    client_secret: str


@transaction.atomic
def new_client_id() -> str:
    return "tnhc_" + secrets.token_hex(12)


def rotate_credentials(client: IntegrationClient) -> tuple[str, str]:
    """Give `client` a new API key and client secret (returned once: only their hashes are
    kept) and end its access tokens: the old key, secret and tokens stop working at once."""
    api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    client_secret = secrets.token_urlsafe(32)
    client.api_key_prefix, client.api_key_hash = api_key[:12], digest(api_key)
    client.client_secret_hash = digest(client_secret)
    client.save(update_fields=["api_key_prefix", "api_key_hash", "client_secret_hash"])
    client.tokens.all().delete()
    return api_key, client_secret


def create_client(*, name: str, sections, scopes: list[str], created_by=None) -> NewClient:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"権限 {', '.join(unknown)} はありません。使える権限: {', '.join(SCOPES)}")
    if not sections:
        raise ValueError("読み書きできる所属を1つ以上指定してください。")
    client = IntegrationClient.objects.create(
        name=name, scopes=sorted(set(scopes)), client_id=new_client_id(), created_by=created_by,
    )
    client.sections.set(sections)
    api_key, client_secret = rotate_credentials(client)
    return NewClient(client, api_key, client_secret)


@transaction.atomic
def issue_token(client_id: str, client_secret: str) -> tuple[IntegrationClient, str, IntegrationToken] | None:
    """The client-credentials grant: a new access token, or None for a wrong id or secret."""
    client = IntegrationClient.objects.filter(client_id=client_id, is_active=True).first()
    if client is None or not client.client_secret_hash or not secrets.compare_digest(
        client.client_secret_hash, digest(client_secret)
    ):
        return None
    now = timezone.now()
    # Expired tokens of this client go now, so the table holds only live ones.
    client.tokens.filter(expires_at__lt=now).delete()
    token = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = IntegrationToken.objects.create(client=client, token_hash=digest(token), expires_at=now + token_lifetime())
    return client, token, row


class IntegrationAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <API key or access token>`; request.auth is the client."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header:
            return None
        if header[0].decode("latin-1").lower() != "bearer" or len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization ヘッダーは「Bearer <APIキーまたはアクセストークン>」の形で送ってください。")
        try:
            presented = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("APIキーまたはアクセストークンが正しくありません。") from None
        hashed = digest(presented)
        client = None
        if presented.startswith(ACCESS_TOKEN_PREFIX):
            row = IntegrationToken.objects.select_related("client").filter(token_hash=hashed).first()
            if row is not None and row.expires_at <= timezone.now():
                raise exceptions.AuthenticationFailed(
                    "アクセストークンの有効期限が切れています。/api/v1/integration/token で新しいトークンを取得してください。"
                )
            client = row.client if row else None
        elif presented.startswith(API_KEY_PREFIX):
            client = IntegrationClient.objects.filter(api_key_hash=hashed).first()
        if client is None or not client.is_active:
            raise exceptions.AuthenticationFailed("APIキーまたはアクセストークンが正しくありません。管理者に確認してください。")
        return (None, client)

    def authenticate_header(self, request):
        # A 401 (not 403) for a missing or wrong credential, as RFC 6750 asks.
        return 'Bearer realm="tenohira-integration"'


class IntegrationAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenohira.integrations.api_auth.IntegrationAuthentication"
    name = "integrationBearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http", "scheme": "bearer",
            "description": "APIキー（tnh_…）、または /api/v1/integration/token で取得したアクセストークン",
        }
