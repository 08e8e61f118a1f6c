"""A signed-in resident for tests of the application pages, without a provider.

The identity goes into the test client's session the way core.residents.sign_in puts it
there after a real sign-in (tests/identity covers the providers themselves).
"""

from __future__ import annotations

import time

CARD_CLAIMS = {
    "name": "髙橋 𠮷郎",
    "address": "福島県郡山市朝日一丁目二十三番七号 サンプル第二コーポラス朝日 三〇五号室",
    "birthdate": "1985-04-12",
    "gender": "male",
}


def card_identity(subject: str = "pairwise-subject-1", *, level: str = "card_signin", claims: dict | None = None,
                  provider: str = "mynumber_card", label: str = "マイナンバーカード") -> dict:
    """An identity dict as core.residents documents it (fictional person)."""
    return {
        "account_id": None, "provider": provider, "provider_label": label, "kind": "individual",
        "subject": subject, "issuer": "http://127.0.0.1:1", "level": level,
        "auth_time": "2026-12-02T01:00:00+00:00", "claims": dict(CARD_CLAIMS if claims is None else claims),
        "email": "", "id_token_sha256": "0" * 64, "signed_in_at": f"2026-12-02T01:00:00+00:00#{subject}",
    }


def sign_in(client, identity: dict) -> None:
    """Make the test client's session hold `identity` (a fresh last_seen)."""
    from tenohira.core.residents import SESSION_KEY

    session = client.session
    session[SESSION_KEY] = {**identity, "last_seen": time.time()}
    session.save()


def sign_out(client) -> None:
    from tenohira.core.residents import SESSION_KEY

    session = client.session
    session.pop(SESSION_KEY, None)
    session.save()
