"""本人確認 on the resident's pages: what a procedure requires (catalog.models.Identity),
whether the signed-in identity gives it, and whether the draft still needs the resident's
電子署名.

Decided here once, for the pages (which explain) and for services.submit_as_owner (which
refuses), so a direct POST meets the same rules as a button.
"""

from __future__ import annotations

from tenohira.core import residents
from tenohira.forms.conditions import Scope, holds

# What the check page says about the signature, and a refused submission says too.
SIGN_PASSWORD_GUIDANCE = "署名用電子証明書のパスワード（英数字6〜16文字）が必要です。"  # noqa: S105 (guidance text)
SIGNIN_PIN_GUIDANCE = "利用者証明用電子証明書の暗証番号（数字4桁）が必要です。"
CHANGED_AFTER_SIGNING = "署名の後に内容が変わりました。もう一度署名してください。"
SIGNATURE_MISSING = "送信する前に、マイナンバーカードで申請内容に電子署名してください。"

CARD_LEVELS = {residents.CARD_SIGNIN, residents.CARD_SIGNATURE}


def required_level(procedure) -> str:
    return getattr(procedure, "identity", "") or residents.NONE


def identity_problem(draft_identity: dict | None, identity: dict | None, required: str) -> str:
    """"" when `identity` may go on with the draft; "missing" when it does not meet the
    level (not signed in, signed out when idle, a weaker sign-in); "other" when it is
    another person than the one who started the draft."""
    if not residents.needs_identity(required):
        return ""
    if not residents.satisfies(identity, required):
        return "missing"
    if not same_person(draft_identity, identity):
        return "other"
    return ""


def same_person(draft_identity: dict | None, identity: dict | None) -> bool:
    """A pairwise subject means something only with its provider: both must match the
    identity the draft was started with (a draft without one matches anyone)."""
    if not draft_identity or not draft_identity.get("subject"):
        return True
    return bool(identity) and (
        identity.get("subject") == draft_identity.get("subject")
        and identity.get("provider") == draft_identity.get("provider")
    )


def signature_needed(schema, required: str, answers: dict) -> bool:
    """The form's `signature` option decides for a card procedure; without it, a
    card_signature procedure always needs one."""
    if required not in CARD_LEVELS:
        return False
    option = schema.signature
    if option is None:
        return required == residents.CARD_SIGNATURE
    return holds(option.required_if, Scope(answers))


def signature_state(draft, schema, required: str, answers: dict) -> str:
    """"" (none needed), "missing", "changed" (signed, then the answers or files changed,
    or signed by someone else) or "signed"."""
    if not signature_needed(schema, required, answers):
        return ""
    signature = draft.signature or {}
    if not signature.get("digest"):
        return "missing"
    from tenohira.applications.digests import draft_digest

    signer = signature.get("subject")
    started_by = (draft.identity or {}).get("subject")
    if signer and started_by and signer != started_by:
        return "missing"
    return "signed" if signature["digest"] == draft_digest(draft) else "changed"
