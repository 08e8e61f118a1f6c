"""The signed-in resident (or business), as the rest of the site sees them.

Identity providers (tenohira.identity) put a verified identity here after sign-in; the
application pages (tenohira.applications) read it to enforce a procedure's assurance and
to prefill the four basic items. It lives in core so that both can use it without the
lower app importing the higher one.

The identity is kept in the Django session under one key, as a plain dict:

    {"account_id": 12, "provider": "mynumber_card", "provider_label": "マイナンバーカード",
     "kind": "individual" | "business", "subject": "<pairwise subject>", "issuer": "https://…",
     "level": "card_signin", "auth_time": "2026-12-02T10:00:00+00:00",
     "claims": {"name": …, "address": …, "birthdate": …, "gender": …},  # as received
     "email": "", "id_token_sha256": "<hex>", "signed_in_at": "…", "last_seen": <epoch>}

Never a My Number, never a PIN, never the token itself. A session idle for longer than
RESIDENT_IDLE_MINUTES signs the resident out (the draft they were typing is kept).
"""

from __future__ import annotations

import time

from django.conf import settings

SESSION_KEY = "tnh_resident"

# Assurance levels a procedure may require (catalog.models.Identity) and what satisfies
# each: a verified e-mail is satisfied by any sign-in that proved an address or a person;
# a business procedure only by a business identity; the card only by the card.
NONE, EMAIL, BUSINESS, CARD_SIGNIN, CARD_SIGNATURE = "none", "email", "business", "card_signin", "card_signature"
_SATISFIED_BY = {
    NONE: None,
    EMAIL: {EMAIL, BUSINESS, CARD_SIGNIN},
    BUSINESS: {BUSINESS},
    CARD_SIGNIN: {CARD_SIGNIN},
    CARD_SIGNATURE: {CARD_SIGNIN},  # and a verified signature of the submission (checked at submit)
}
# Touch the session at most this often: a page view must not write a session row each time.
_TOUCH_SECONDS = 60


def idle_seconds() -> int:
    return int(getattr(settings, "RESIDENT_IDLE_MINUTES", 30)) * 60


def current(request) -> dict | None:
    """The signed-in identity of this request, or None (also once it has been idle too long)."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    identity = session.get(SESSION_KEY)
    if not identity:
        return None
    now = time.time()
    last_seen = float(identity.get("last_seen") or 0)
    if now - last_seen > idle_seconds():
        sign_out(request, reason="idle")
        request.resident_signed_out_idle = True  # pages may say 「一定時間操作がなかったため…」
        return None
    if now - last_seen > _TOUCH_SECONDS:
        identity["last_seen"] = now
        session[SESSION_KEY] = identity
    return identity


def sign_in(request, identity: dict) -> None:
    """Store a verified identity; a new session key, so a session id planted before the
    sign-in (session fixation) is worthless after it."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = {**identity, "last_seen": time.time()}


def sign_out(request, reason: str = "") -> None:
    """Forget the identity (the rest of the session, e.g. messages, may stay)."""
    if SESSION_KEY in request.session:
        del request.session[SESSION_KEY]
        request.session.cycle_key()


def satisfies(identity: dict | None, required: str) -> bool:
    """Does this identity meet the assurance a procedure requires? (The card signature is
    checked separately, on the submission.)"""
    allowed = _SATISFIED_BY.get(required or NONE, set())
    if allowed is None:
        return True
    return bool(identity) and identity.get("level") in allowed


def needs_identity(required: str) -> bool:
    return (required or NONE) != NONE
