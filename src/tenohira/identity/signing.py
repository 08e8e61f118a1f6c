"""The signing transaction (電子署名) with the card's provider.

We send the SHA-256 digest of what the resident is about to submit; the resident confirms
with the card's 署名用電子証明書 password in the provider's app; we receive the signature
and the certificate, verify them at once (signatures.check_signature, and that the signer
is the resident signed in on the draft) and only then store the signature on the draft.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tenohira.identity import signatures
from tenohira.identity.errors import IdentityFailure
from tenohira.identity.oidc import OIDCProvider, new_secret
from tenohira.identity.registry import register


def signing_provider(identity: dict | None) -> OIDCProvider:
    provider = register.get((identity or {}).get("provider", ""))
    if provider is None or not provider.info.can_sign or not isinstance(provider, OIDCProvider):
        raise IdentityFailure("unknown_provider", "provider cannot sign")
    return provider


def request_signature(provider: OIDCProvider, *, digest: str, redirect_uri: str, subject: str) -> tuple[str, str]:
    """Open a signing request; (authorize_url for the browser, state)."""
    client = provider.client
    state = new_secret()
    answer = client.post_authenticated(client.endpoint("signing_request_endpoint"), {
        "digest": digest, "digest_algorithm": "SHA-256", "redirect_uri": redirect_uri, "state": state,
        "login_hint": subject,
    })
    url = str(answer.get("authorize_url", ""))
    # The browser is sent only to the provider we were configured with.
    issuer = urlsplit(client.config.issuer)
    target = urlsplit(url)
    if (target.scheme, target.netloc) != (issuer.scheme, issuer.netloc):
        raise IdentityFailure("provider_error", "authorize_url elsewhere")
    return url, state


def receive_signature(provider: OIDCProvider, *, params, digest: str, subject: str) -> dict:
    """The provider sent the resident back: fetch and verify the signature. The signature
    dict (contract of Draft.signature), or IdentityFailure."""
    error = params.get("error")
    if error == "access_denied":
        raise IdentityFailure("sign_cancelled", "access_denied")
    if error:
        raise IdentityFailure("provider_error", str(error)[:40])
    if not params.get("code"):
        raise IdentityFailure("provider_error", "no code")
    client = provider.client
    answer = client.post_authenticated(client.endpoint("signing_token_endpoint"), {"code": params["code"]})
    signature = {
        "provider": provider.info.name,
        "digest": digest,
        "digest_algorithm": "SHA-256",
        "signature_algorithm": "sha256WithRSAEncryption",
        "signature": str(answer.get("signature", "")),
        "certificate": str(answer.get("certificate", "")),
        "chain": [str(pem) for pem in answer.get("chain") or []],
        "signed_at": str(answer.get("signed_at", "")),
        "subject": str(answer.get("sub", "")),
    }
    if signature["subject"] != subject:
        raise IdentityFailure("signer_mismatch", "sub differs")
    check = signatures.check_signature(signature, digest=digest)
    if not check.ok:
        raise IdentityFailure(check.problem or "signature_invalid", ",".join(check.reasons)[:200])
    return signature
