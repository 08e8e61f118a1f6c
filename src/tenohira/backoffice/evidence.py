"""本人確認 and 電子署名 as staff read them on an application's page.

The identity recorded on a submission (core.residents' dict, copied from the draft) is
shown as received: the four basic items exactly as the provider sent them (外字 intact, with
a note when the record lists characters other systems may not hold), the provider, the
assurance level and the authentication time in Japan time. The pairwise subject and the
ID token hash are shortened: enough to compare two records, not worth copying.

The signature is verified each time the page is shown (identity.signatures), against the
answers and attachments stored now: an answer changed in the database after signing makes
it fail, and the page says why.
"""

from __future__ import annotations

import datetime as dt

from tenohira.catalog.models import Identity
from tenohira.core.fiscal import local
from tenohira.core.wareki import WarekiError, format_wareki

GENDERS = {"male": "男性", "female": "女性", "other": "その他", "1": "男性", "2": "女性", "3": "その他"}


def shorten(value: str, head: int = 8, tail: int = 4) -> str:
    value = str(value or "")
    return value if len(value) <= head + tail + 1 else f"{value[:head]}…{value[-tail:]}"


def _prefix(value: str, length: int = 16) -> str:
    value = str(value or "")
    return f"{value[:length]}…" if len(value) > length else value


def _moment(text) -> str:
    try:
        moment = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return str(text or "")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return f"{local(moment):%Y-%m-%d %H:%M}（日本時間）"


def _birthdate(text) -> str:
    try:
        day = dt.date.fromisoformat(str(text))
        return f"{text}（{format_wareki(day)}）"
    except (ValueError, WarekiError):
        return str(text or "")


def _level(level: str) -> str:
    try:
        return str(Identity(level).label)
    except ValueError:
        return str(level or "")


def identity_box(identity: dict) -> dict | None:
    """What the 「本人確認」 box shows, or None for a submission made without sign-in."""
    if not identity:
        return None
    claims = identity.get("claims") or {}
    gender = str(claims.get("gender") or "")
    items = [
        ("氏名", str(claims.get("name") or "")),
        ("住所", str(claims.get("address") or "")),
        ("生年月日", _birthdate(claims.get("birthdate")) if claims.get("birthdate") else ""),
        ("性別", f"{gender}（{GENDERS[gender]}）" if gender in GENDERS else gender),
    ]
    return {
        "provider": identity.get("provider_label") or identity.get("provider") or "",
        "level": _level(identity.get("level", "")),
        "auth_time": _moment(identity.get("auth_time")) if identity.get("auth_time") else "",
        "items": [{"label": label, "value": value} for label, value in items if value],
        "email": identity.get("email") or "",
        "gaiji": [str(char) for char in identity.get("gaiji") or []],
        "subject": shorten(identity.get("subject", "")),
        "issuer": identity.get("issuer") or "",
        "id_token": _prefix(identity.get("id_token_sha256", "")),
    }


def signature_box(submission) -> dict | None:
    """The 「電子署名」 box: None without a signature, else the verification's outcome."""
    if not submission.signature:
        return None
    from tenohira.identity.signatures import verify_submission

    check = verify_submission(submission)
    return {
        "ok": check.ok,
        "status": check.status,
        "reasons": list(check.reasons),
        "subject": check.subject,
        "issuer": check.issuer,
        "not_before": _moment(check.not_before.isoformat()) if check.not_before else "",
        "not_after": _moment(check.not_after.isoformat()) if check.not_after else "",
        "signed_at": _moment(check.signed_at.isoformat()) if check.signed_at else "",
        "chain": list(check.chain),
        "revocation": check.revocation,
        "digest": _prefix(submission.signature.get("digest", "")),
    }
