"""An OpenID Connect relying party: discovery, the authorization code flow with PKCE
(S256), `state` and `nonce`, client authentication (private_key_jwt or a client secret)
and the ID token checks, done with joserfc and authlib rather than by hand.

Every call to the provider is bounded by IDENTITY_HTTP_TIMEOUT; a provider that does not
answer becomes IdentityFailure("unavailable"), never a hanging request or a 500.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tenohira.identity.errors import IdentityFailure
from tenohira.identity.models import UsedNonce
from tenohira.identity.registry import Provider, ProviderInfo

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# How we prove to a provider that we are the client it registered (token_endpoint_auth_method).
PRIVATE_KEY_JWT, CLIENT_SECRET_BASIC, CLIENT_SECRET_POST = "private_key_jwt", "client_secret_basic", "client_secret_post"  # noqa: S105
# Discovery documents and key sets change rarely; a key set is fetched again at once when a
# token names a key we do not know (the provider rotated its keys).
METADATA_SECONDS = 600
# Clocks of two servers differ a little.
LEEWAY_SECONDS = 60
# Provider answers are small JSON documents; anything larger is refused unread.
MAX_RESPONSE_BYTES = 1024 * 1024
ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "PS256"]

_cache: dict[tuple[str, str], tuple[float, object]] = {}
_keys: dict[str, tuple[int, RSAKey]] = {}  # client key file → (mtime, parsed key)
_cache_lock = threading.Lock()


def timeout() -> float:
    return float(getattr(settings, "IDENTITY_HTTP_TIMEOUT", 5))


def _cached(key: tuple[str, str], load, *, refresh: bool = False):
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit and not refresh and now - hit[0] < METADATA_SECONDS:
        return hit[1]
    value = load()
    with _cache_lock:
        _cache[key] = (now, value)
    return value


def cached_metadata(issuer: str) -> dict | None:
    """The discovery document of `issuer` if one was fetched and is still fresh; never fetches."""
    with _cache_lock:
        hit = _cache.get(("metadata", issuer.rstrip("/")))
    if hit and time.monotonic() - hit[0] < METADATA_SECONDS and isinstance(hit[1], dict):
        return hit[1]
    return None


def forget_cached() -> None:
    """Drop cached discovery documents and keys (tests; a provider's move)."""
    with _cache_lock:
        _cache.clear()
        _keys.clear()


def http_json(method: str, url: str, **kwargs) -> dict:
    """One bounded request to a provider, answered with a JSON object."""
    try:
        response = requests.request(method, url, timeout=timeout(), stream=True, allow_redirects=False, **kwargs)
        body = response.raw.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
    except requests.Timeout as exc:
        raise IdentityFailure("unavailable", "timeout") from exc
    except (requests.ConnectionError, OSError) as exc:
        raise IdentityFailure("unavailable", "connection failed") from exc
    except requests.RequestException as exc:
        raise IdentityFailure("unavailable", type(exc).__name__) from exc
    if response.status_code >= 500:
        raise IdentityFailure("unavailable", f"HTTP {response.status_code}")
    if len(body) > MAX_RESPONSE_BYTES:
        raise IdentityFailure("provider_error", "response too large")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise IdentityFailure("provider_error", f"HTTP {response.status_code}, not JSON") from exc
    if not isinstance(data, dict):
        raise IdentityFailure("provider_error", "not a JSON object")
    if response.status_code >= 400:
        # The provider's error code (e.g. invalid_grant) is safe to keep; its description may not be.
        raise IdentityFailure("provider_error", f"HTTP {response.status_code} {str(data.get('error', ''))[:40]}")
    return data


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ClientConfig:
    """What we registered at one provider."""

    name: str
    issuer: str
    client_id: str
    auth_method: str = PRIVATE_KEY_JWT  # or client_secret_basic / client_secret_post
    client_secret: str = ""
    private_key_file: str = ""
    scopes: list[str] = field(default_factory=lambda: ["openid"])
    # Our claim name -> the provider's (e.g. {"name": "name", "email": "email"}).
    claims: dict[str, str] = field(default_factory=dict)

    def is_complete(self) -> bool:
        if not (self.issuer and self.client_id):
            return False
        if self.auth_method == PRIVATE_KEY_JWT:
            return bool(self.private_key_file)
        return bool(self.client_secret)


class OIDCClient:
    def __init__(self, config: ClientConfig):
        self.config = config

    # --- provider metadata ---

    def metadata(self) -> dict:
        issuer = self.config.issuer.rstrip("/")

        def load():
            data = http_json("GET", f"{issuer}/.well-known/openid-configuration")
            # The document must be about the issuer we were configured with (OpenID
            # Connect Discovery 4.3): otherwise anyone able to answer there could vouch
            # for any token.
            if data.get("issuer", "").rstrip("/") != issuer:
                raise IdentityFailure("wrong_issuer", "discovery issuer differs")
            return data

        return _cached(("metadata", issuer), load)

    def endpoint(self, name: str) -> str:
        url = self.metadata().get(name)
        if not url or urlsplit(url).scheme not in {"https", "http"}:
            raise IdentityFailure("provider_error", f"no {name}")
        return url

    def key_set(self, *, refresh: bool = False) -> KeySet:
        uri = self.endpoint("jwks_uri")
        return _cached(("jwks", uri), lambda: KeySet.import_key_set(http_json("GET", uri)), refresh=refresh)

    # --- client authentication ---

    def _private_key(self) -> RSAKey:
        # Parsing the PEM is most of a sign-in's CPU (bench/identity_bench.py): keep the
        # parsed key while the file is unchanged (a replaced key file is read again).
        path = self.config.private_key_file
        stamp = os.stat(path).st_mtime_ns
        with _cache_lock:
            hit = _keys.get(path)
        if hit and hit[0] == stamp:
            return hit[1]
        with open(path, "rb") as fh:
            key = RSAKey.import_key(fh.read())
        with _cache_lock:
            _keys[path] = (stamp, key)
        return key

    def client_auth(self, endpoint_url: str) -> dict:
        """Keyword arguments for requests that authenticate us at `endpoint_url`."""
        cfg = self.config
        if cfg.auth_method == PRIVATE_KEY_JWT:
            key = self._private_key()
            now = int(time.time())
            assertion = jwt.encode(
                {"alg": "RS256", "kid": key.thumbprint()},
                {"iss": cfg.client_id, "sub": cfg.client_id, "aud": endpoint_url,
                 "iat": now, "exp": now + 60, "jti": new_secret()},
                key,
            )
            return {"data": {"client_id": cfg.client_id, "client_assertion_type": CLIENT_ASSERTION_TYPE,
                             "client_assertion": assertion}}
        if cfg.auth_method == CLIENT_SECRET_POST:
            return {"data": {"client_id": cfg.client_id, "client_secret": cfg.client_secret}}
        return {"data": {}, "auth": (cfg.client_id, cfg.client_secret)}

    def post_authenticated(self, endpoint_url: str, data: dict) -> dict:
        auth = self.client_auth(endpoint_url)
        return http_json("POST", endpoint_url, data={**auth.pop("data"), **data},
                         headers={"Accept": "application/json"}, **auth)

    # --- the authorization code flow ---

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str,
                          extra: dict | None = None) -> str:
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(code_verifier),
            "code_challenge_method": "S256",
            **(extra or {}),
        }
        base = self.endpoint("authorization_endpoint")
        return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"

    def exchange(self, *, code: str, redirect_uri: str, code_verifier: str) -> dict:
        return self.post_authenticated(self.endpoint("token_endpoint"), {
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        })

    def validate_id_token(self, id_token: str, *, nonce: str) -> dict:
        """The ID token's claims once its signature, issuer, audience, times and nonce
        check out (OpenID Connect Core 3.1.3.7); otherwise IdentityFailure."""
        if not isinstance(id_token, str) or not id_token:
            raise IdentityFailure("invalid_token", "no id_token")
        try:
            token = jwt.decode(id_token, self.key_set(), algorithms=ID_TOKEN_ALGORITHMS)
        except (jose_errors.MissingKeyError, jose_errors.InvalidKeyIdError, ValueError) as exc:
            # An unknown key id: perhaps keys were rotated since we cached them.
            try:
                token = jwt.decode(id_token, self.key_set(refresh=True), algorithms=ID_TOKEN_ALGORITHMS)
            except jose_errors.BadSignatureError as exc2:
                raise IdentityFailure("bad_signature", "signature") from exc2
            except jose_errors.JoseError as exc2:
                raise IdentityFailure("bad_signature", type(exc2).__name__) from exc
        except jose_errors.BadSignatureError as exc:
            raise IdentityFailure("bad_signature", "signature") from exc
        except jose_errors.JoseError as exc:
            raise IdentityFailure("invalid_token", type(exc).__name__) from exc
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": self.config.issuer.rstrip("/")},
            aud={"essential": True, "value": self.config.client_id},
            exp={"essential": True}, iat={"essential": True}, sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except jose_errors.ExpiredTokenError as exc:
            raise IdentityFailure("expired", "exp") from exc
        except jose_errors.ClaimError as exc:
            # Which claim failed tells the resident (and the audit) what happened: a nonce
            # other than the one this sign-in sent is a token from another sign-in (replay).
            raise IdentityFailure(_CLAIM_FAILURES.get(exc.claim, "invalid_token"), f"claim {exc.claim}") from exc
        # A token issued for several audiences must name us as the party it was given to.
        if isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1 and claims.get("azp") != self.config.client_id:
            raise IdentityFailure("wrong_audience", "azp")
        if claims["iat"] > time.time() + LEEWAY_SECONDS:
            raise IdentityFailure("expired", "iat in the future")
        return claims

    def userinfo(self, access_token: str) -> dict:
        url = self.metadata().get("userinfo_endpoint")
        if not url or not access_token:
            return {}
        return http_json("GET", url, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})


def remember_nonce(provider: str, nonce: str, expires_at_epoch: float) -> None:
    """Record an accepted token's nonce; the same token shown again (by this or any other
    worker) is refused. Rows are kept until the token would have expired anyway."""
    expires = dt.datetime.fromtimestamp(max(expires_at_epoch, time.time()) + LEEWAY_SECONDS, tz=dt.UTC)
    try:
        with transaction.atomic():
            UsedNonce.objects.create(provider=provider, nonce_hash=sha256_hex(nonce), expires_at=expires)
    except IntegrityError as exc:
        raise IdentityFailure("replay", "nonce used before") from exc
    # Now and then, forget nonces whose tokens have expired.
    if secrets.randbelow(50) == 0:
        UsedNonce.objects.filter(expires_at__lt=timezone.now()).delete()


class OIDCProvider(Provider):
    """A provider reached through OpenID Connect; subclasses give the settings."""

    level: str = "email"
    kind: str = "individual"

    def __init__(self, info: ProviderInfo, config: ClientConfig):
        self.info = info
        self.config = config
        self.client = OIDCClient(config)

    def is_configured(self) -> bool:
        return self.config.is_complete()

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
        return self.client.authorization_url(redirect_uri=redirect_uri, state=state, nonce=nonce,
                                             code_verifier=code_verifier)

    def finish(self, *, params, redirect_uri: str, nonce: str, code_verifier: str) -> dict:
        """Exchange the code and check the ID token; the identity (without account)."""
        error = params.get("error")
        if error == "access_denied":
            raise IdentityFailure("cancelled", "access_denied")
        if error:
            raise IdentityFailure("provider_error", str(error)[:40])
        # RFC 9207: a provider that names itself in the response must be the one we asked
        # (a mix-up attack sends another provider's code to this callback).
        returned_issuer = params.get("iss")
        if returned_issuer and returned_issuer != self.client.metadata().get("issuer"):
            raise IdentityFailure("wrong_issuer", "iss parameter")
        code = params.get("code")
        if not code:
            raise IdentityFailure("provider_error", "no code")
        tokens = self.client.exchange(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        id_token = tokens.get("id_token")
        claims = self.client.validate_id_token(id_token, nonce=nonce)
        remember_nonce(self.info.name, nonce, float(claims.get("exp") or 0))
        received = {k: v for k, v in claims.items() if k not in _TOKEN_CLAIMS}
        info = self.client.userinfo(tokens.get("access_token", "")) if self.wants_userinfo() else {}
        if info:
            if info.get("sub") != claims["sub"]:
                # OpenID Connect Core 5.3.2: user info about someone else is discarded.
                raise IdentityFailure("invalid_token", "userinfo sub differs")
            received.update(info)
        return self.identity_from(claims, received, id_token)

    def wants_userinfo(self) -> bool:
        return any(scope != "openid" for scope in self.config.scopes)

    def map_claims(self, received: dict) -> dict:
        mapping = self.config.claims or {"name": "name", "address": "address", "birthdate": "birthdate",
                                         "gender": "gender", "email": "email"}
        out = {}
        for ours, theirs in mapping.items():
            value = received.get(theirs)
            if isinstance(value, dict) and ours == "address":
                # OpenID Connect's address claim is an object; its formatted form is what a person reads.
                value = value.get("formatted") or " ".join(str(v) for v in value.values() if v)
            if value not in (None, ""):
                out[ours] = value if isinstance(value, str | int | float | bool) else str(value)
        return out

    def identity_from(self, claims: dict, received: dict, id_token: str) -> dict:
        mapped = self.map_claims(received)
        email = mapped.pop("email", "") if isinstance(mapped.get("email"), str) else ""
        if received.get("email_verified") is False or str(received.get("email_verified")).lower() == "false":
            email = ""  # an address the provider itself has not verified proves nothing
        auth_time = claims.get("auth_time") or claims.get("iat")
        return {
            "provider": self.info.name,
            "provider_label": str(self.info.label),
            "kind": self.info.kind,
            "subject": str(claims["sub"]),
            "issuer": str(claims["iss"]),
            "level": self.info.levels[0],
            "auth_time": dt.datetime.fromtimestamp(int(auth_time), tz=dt.UTC).isoformat(),
            "claims": mapped,
            "email": email,
            "id_token_sha256": sha256_hex(id_token),
        }


_CLAIM_FAILURES = {"iss": "wrong_issuer", "aud": "wrong_audience", "exp": "expired", "iat": "expired",
                   "nbf": "expired", "nonce": "replay"}
_TOKEN_CLAIMS = {"iss", "aud", "exp", "iat", "nbf", "nonce", "auth_time", "amr", "acr", "azp", "at_hash",
                 "c_hash", "sid", "jti", "sub"}
