"""The OpenID Connect client's own checks that need no provider process."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tenohira.identity import oidc
from tenohira.identity.errors import IdentityFailure
from tenohira.identity.registry import ProviderInfo


def provider(tmp_path=None, **config) -> oidc.OIDCProvider:
    info = ProviderInfo(name="kenmin", label="けんみんID", kind="individual", levels=("email",))
    cfg = oidc.ClientConfig(name="kenmin", issuer="https://idp.example.jp", client_id="c1",
                            auth_method="client_secret_basic", client_secret="s", **config)
    made = oidc.OIDCProvider(info, cfg)
    made.client.metadata = lambda: {"issuer": "https://idp.example.jp"}
    return made


def test_an_issuer_named_in_the_response_must_be_ours():
    """RFC 9207: a code sent back by another provider (mix-up) is refused before any exchange."""
    with pytest.raises(IdentityFailure) as failure:
        provider().finish(params={"code": "x", "state": "s", "iss": "https://evil.example"},
                          redirect_uri="https://city.example/cb", nonce="n", code_verifier="v")
    assert failure.value.code == "wrong_issuer"


def test_an_unverified_email_is_not_kept():
    claims = {"sub": "abc", "iss": "https://idp.example.jp", "iat": 1_800_000_000}
    received = {"name": "髙橋 花子", "email": "hanako@example.jp", "email_verified": False}
    identity = provider().identity_from(claims, received, "token")
    assert identity["email"] == ""
    assert identity["claims"]["name"] == "髙橋 花子"
    received["email_verified"] = True
    assert provider().identity_from(claims, received, "token")["email"] == "hanako@example.jp"


def test_the_client_key_is_parsed_once_and_again_when_the_file_changes(tmp_path):
    path = tmp_path / "client.pem"

    def write_key():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    write_key()
    client = oidc.OIDCClient(oidc.ClientConfig(name="k", issuer="i", client_id="c", private_key_file=str(path)))
    first = client._private_key()
    assert client._private_key() is first
    import os

    write_key()
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert client._private_key() is not first
