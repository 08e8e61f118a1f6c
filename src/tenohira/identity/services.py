"""Every write of the identity app: accounts at sign-in, sign-out, e-mail codes, failures.

Audit records name the provider, the account and a failure's short code; never a token,
a code, a name or an address (the audit log is kept longer than the data it describes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from tenohira.audit.services import client_ip, record
from tenohira.core import outbox, ratelimit, residents
from tenohira.identity.errors import IdentityFailure
from tenohira.identity.models import Account, EmailChallenge

EMAIL_PROVIDER = "email"


def _display_name(identity: dict) -> str:
    claims = identity.get("claims") or {}
    name = claims.get("corporation") or claims.get("name") or ""
    return str(name)[:200]


def complete_sign_in(request, identity: dict) -> Account:
    """A provider vouched for this identity: find or create the account (by provider and
    pairwise subject), put the identity in the session and audit the sign-in."""
    now = timezone.now()
    with transaction.atomic():
        account, _ = Account.objects.select_for_update().get_or_create(
            provider=identity["provider"], subject=identity["subject"],
            defaults={"kind": identity.get("kind") or Account.Kind.INDIVIDUAL},
        )
        account.display_name = _display_name(identity) or account.display_name
        account.last_signed_in_at = now
        fields = ["display_name", "last_signed_in_at"]
        if identity.get("email") and identity["provider"] == EMAIL_PROVIDER:
            account.email, account.email_verified_at = identity["email"], now
            fields += ["email", "email_verified_at"]
        account.save(update_fields=fields)
        full = {**identity, "account_id": account.pk, "signed_in_at": now.isoformat()}
        record("identity.sign_in", target=f"account:{account.pk}", request=request,
               detail={"provider": identity["provider"], "level": identity.get("level", "")})
    residents.sign_in(request, full)
    return account


def record_failure(request, provider: str, failure: IdentityFailure, *, action: str = "identity.sign_in_failed",
                   target: str = "") -> None:
    record(action, target=target, request=request,
           detail={"provider": provider[:50], "reason": failure.code, "note": failure.detail})


def sign_out(request) -> None:
    identity = residents.current(request)
    if identity:
        record("identity.sign_out", target=f"account:{identity.get('account_id')}", request=request,
               detail={"provider": identity.get("provider", "")})
    residents.sign_out(request, reason="asked")


# --- e-mail codes ---


class EmailCodeError(Exception):
    """reason: "limit" (too many requests), "wrong", "expired", "attempts", "unknown"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _code_hash(challenge_token_hash: str, code: str) -> str:
    # Keyed with the site's secret: a copy of the database alone cannot try the million codes.
    return salted_hmac("tenohira.identity.email-code", f"{challenge_token_hash}:{code}", algorithm="sha256").hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalise_email(address: str) -> str:
    address = (address or "").strip()
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}" if local else address


def send_email_code(request, email: str, *, purpose: str, link_for, account: Account | None = None) -> EmailChallenge:
    """Send a 6-digit code and a link (both single use) to `email`. Raises
    EmailCodeError("limit") when this address or this client asked too often."""
    email = normalise_email(email)
    hour = dt.timedelta(hours=1)
    per_address = int(getattr(settings, "IDENTITY_EMAIL_LIMIT_PER_HOUR", 10))
    if not ratelimit.hit(f"identity-email:{_sha256(email.lower())}", limit=per_address, window=hour) or \
            not ratelimit.hit(f"identity-email-ip:{client_ip(request)}", limit=per_address * 3, window=hour):
        raise EmailCodeError("limit")
    code = f"{secrets.randbelow(1_000_000):06d}"
    token = secrets.token_urlsafe(32)
    minutes = int(getattr(settings, "IDENTITY_EMAIL_CODE_MINUTES", 15))
    with transaction.atomic():
        token_hash = _sha256(token)
        challenge = EmailChallenge.objects.create(
            purpose=purpose, email=email, code_hash=_code_hash(token_hash, code), token_hash=token_hash,
            account=account, expires_at=timezone.now() + dt.timedelta(minutes=minutes),
        )
        outbox.enqueue(
            kind="identity_code", to=email,
            subject=f"【{settings.MUNICIPALITY_NAME}】確認コード {code}",
            body="\n".join([
                "メールアドレスの確認のため、次の確認コードを画面に入力してください。",
                "",
                f"確認コード: {code}",
                "",
                "または、次のリンクを開いてください（どちらか一方で結構です）。",
                link_for(token),
                "",
                f"確認コードとリンクは{minutes}分間、1回だけ使えます。",
                "心当たりがない場合は、このメールを破棄してください。",
            ]),
            reference=f"email-challenge:{challenge.pk}",
        )
        record("identity.email_code_sent", target=f"email-challenge:{challenge.pk}", request=request,
               detail={"purpose": purpose})
    return challenge


def _usable(challenge: EmailChallenge | None) -> EmailChallenge:
    if challenge is None:
        raise EmailCodeError("unknown")
    if challenge.used_at is not None or challenge.expires_at <= timezone.now():
        raise EmailCodeError("expired")
    if challenge.attempts >= int(getattr(settings, "IDENTITY_EMAIL_CODE_ATTEMPTS", 5)):
        raise EmailCodeError("attempts")
    return challenge


def check_email_code(challenge_id: int, code: str, *, purpose: str) -> EmailChallenge:
    """Use the code: the challenge (now spent), or EmailCodeError. Each wrong code counts;
    after IDENTITY_EMAIL_CODE_ATTEMPTS the code is dead and a new one must be asked for."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())[:6]
    with transaction.atomic():
        challenge = _usable(EmailChallenge.objects.select_for_update()
                            .filter(pk=challenge_id, purpose=purpose).first())
        right = len(code) == 6 and constant_time_compare(challenge.code_hash, _code_hash(challenge.token_hash, code))
        if right:
            challenge.used_at = timezone.now()
            challenge.save(update_fields=["used_at"])
        else:
            # Counted inside the transaction and raised after it: an exception inside
            # would roll the count back and leave unlimited guesses.
            challenge.attempts += 1
            challenge.save(update_fields=["attempts"])
    if not right:
        raise EmailCodeError("wrong")
    return challenge


def check_email_link(token: str, *, purpose: str) -> EmailChallenge:
    """Use the link's token: the challenge (now spent), or EmailCodeError."""
    if not token or len(token) > 100:
        raise EmailCodeError("unknown")
    with transaction.atomic():
        challenge = _usable(EmailChallenge.objects.select_for_update()
                            .filter(token_hash=_sha256(token), purpose=purpose).first())
        challenge.used_at = timezone.now()
        challenge.save(update_fields=["used_at"])
        return challenge


def email_identity(challenge: EmailChallenge) -> dict:
    """The identity an e-mail proof gives: the address, and nothing about the person."""
    now = timezone.now().isoformat()
    return {
        "provider": EMAIL_PROVIDER, "provider_label": "メールアドレス", "kind": "individual",
        "subject": challenge.email.lower(), "issuer": "", "level": residents.EMAIL, "auth_time": now,
        "claims": {}, "email": challenge.email, "id_token_sha256": "",
    }


def record_signature(request, draft, signature: dict) -> None:
    record("identity.signed", target=f"draft:{draft.pk}", request=request,
           detail={"provider": signature.get("provider", ""), "digest": signature.get("digest", "")})
