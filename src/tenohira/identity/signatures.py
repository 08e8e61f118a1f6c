"""Verifying an electronic signature (電子署名) made with the My Number card.

A signature (the dict stored on Draft/Submission.signature) is accepted when all hold:
the RSA signature is over the digest it names (RSASSA-PKCS1-v1_5, SHA-256 pre-hashed, as
the card signs a hash and never the document); the signer certificate chains, through the
certificates sent with it, to a trust anchor in MYNUMBER_CARD_TRUSTED_CA_FILE; every
certificate of that chain was valid when the signature was made and is still within its
validity now; the signer certificate was not revoked before the signature was made (or
within CLOCK_SKEW after it; identity.revocation); and, for a stored submission, the digest recomputed from what is
stored now equals the digest that was signed (so an UPDATE of the answers afterwards is
seen).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from django.conf import settings

from tenohira.identity import revocation

# Reasons, as staff and residents read them.
CHANGED = "署名の後に申請内容が変更されています"
REVOKED = "証明書が失効しています"
OUT_OF_VALIDITY = "証明書の有効期間外です"
UNTRUSTED = "信頼できる認証局の証明書ではありません"
MISMATCH = "署名が一致しません"
REVOCATION_UNKNOWN = "失効情報を確認できません"
MALFORMED = "署名の形式が正しくありません"
NOT_FOR_SIGNING = "署名用の証明書ではありません"
# After a 差戻し the resident corrects the answers without signing again: the signature
# still holds for the first version, and staff are told so rather than "changed".
CORRECTED = "署名は最初の申請（第1版）の内容に対するものです。差戻しの後に申請者が修正した内容（第{version}版）には署名がありません"
# A signing time this far in the future is not believed (the clocks of two servers), and a
# revocation this soon after the signing time may have come before it: refused.
CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass
class SignatureCheck:
    ok: bool
    status: str                      # "verified" | "failed" | "absent"
    reasons: list[str] = field(default_factory=list)
    subject: str = ""
    issuer: str = ""
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    chain: list[str] = field(default_factory=list)   # subjects, signer first, root last
    revocation: str = ""
    digest_matches: bool = False
    signed_at: dt.datetime | None = None
    # Short code of the first problem for the signing flow (errors.FAILURES), "" when ok.
    problem: str = ""


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()


def trust_anchors() -> list[x509.Certificate]:
    path = getattr(settings, "MYNUMBER_CARD_TRUSTED_CA_FILE", "")
    if not path:
        return []
    try:
        with open(path, "rb") as fh:
            return x509.load_pem_x509_certificates(fh.read())
    except (OSError, ValueError):
        return []


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def build_path(leaf: x509.Certificate, intermediates: list[x509.Certificate],
               anchors: list[x509.Certificate]) -> list[x509.Certificate] | None:
    """The path leaf → … → a trust anchor (anchor included), or None. Only the anchors
    are trusted; the certificates sent with the signature are mere candidates."""
    path = [leaf]
    current = leaf
    for _ in range(8):
        for anchor in anchors:
            if anchor.subject == current.issuer and _issued_by(current, anchor):
                if anchor.fingerprint(hashes.SHA256()) != current.fingerprint(hashes.SHA256()):
                    path.append(anchor)
                return path
        nxt = next((c for c in intermediates if c.subject == current.issuer and _is_ca(c) and _issued_by(current, c)
                    and c not in path), None)
        if nxt is None:
            return None
        path.append(nxt)
        current = nxt
    return None


def _parse_time(text) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def check_signature(signature: dict, *, digest: str | None = None, now: dt.datetime | None = None) -> SignatureCheck:
    """Check a signature dict. `digest` is what the signature must be over (the draft's
    or the submission's digest now); None trusts the dict's own digest (then
    digest_matches says nothing)."""
    if not signature:
        return SignatureCheck(ok=False, status="absent")
    now = now or dt.datetime.now(dt.UTC)
    signed_digest = str(signature.get("digest", ""))
    result = SignatureCheck(ok=False, status="failed")
    result.digest_matches = digest is None or (digest == signed_digest)
    reasons: list[str] = []
    problems: list[str] = []

    def fail(reason: str, problem: str = "signature_invalid"):
        if reason not in reasons:
            reasons.append(reason)
            problems.append(problem)

    if not result.digest_matches:
        fail(CHANGED)
    try:
        leaf = x509.load_pem_x509_certificate(str(signature.get("certificate", "")).encode())
        chain = [x509.load_pem_x509_certificate(str(pem).encode()) for pem in signature.get("chain") or []]
        raw = base64.b64decode(str(signature.get("signature", "")), validate=True)
        digest_bytes = bytes.fromhex(signed_digest)
    except (ValueError, TypeError, binascii.Error):
        fail(MALFORMED)
        result.reasons, result.problem = reasons, problems[0]
        return result
    result.subject, result.issuer = _name(leaf.subject), _name(leaf.issuer)
    result.not_before, result.not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    signed_at = _parse_time(signature.get("signed_at")) or now
    if signed_at > now + CLOCK_SKEW:
        signed_at = now
    result.signed_at = signed_at

    if (signature.get("digest_algorithm") not in {None, "SHA-256"}
            or signature.get("signature_algorithm") not in {None, "sha256WithRSAEncryption"}
            or len(digest_bytes) != 32):
        fail(MALFORMED)
    public_key = leaf.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        fail(MALFORMED)
    else:
        try:
            public_key.verify(raw, digest_bytes, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            fail(MISMATCH)
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            fail(NOT_FOR_SIGNING)
    except x509.ExtensionNotFound:
        pass

    path = build_path(leaf, chain, trust_anchors())
    if path is None:
        fail(UNTRUSTED)
        result.chain = [result.subject] + [_name(c.subject) for c in chain]
    else:
        result.chain = [_name(c.subject) for c in path]
        for cert in path:
            if not (cert.not_valid_before_utc <= signed_at <= cert.not_valid_after_utc) or \
                    not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
                fail(OUT_OF_VALIDITY)
        if len(path) > 1:
            state = revocation.check(leaf, path[1])
            result.revocation = state.how
            if state.status == "revoked":
                if state.revoked_at is None or state.revoked_at <= signed_at + CLOCK_SKEW:
                    fail(REVOKED, "revoked")
                else:
                    result.revocation = f"{state.how}（署名の後、{state.revoked_at:%Y-%m-%d}に失効）"
            elif state.status == "unknown":
                fail(REVOCATION_UNKNOWN, "revocation_unknown")
    result.reasons = reasons
    result.ok = not reasons
    result.status = "verified" if result.ok else "failed"
    result.problem = problems[0] if problems else ""
    return result


def verify_submission(submission) -> SignatureCheck:
    """The signature of a stored submission against what is stored now (staff's
    「電子署名: 検証済み」). A submission without a signature is "absent"."""
    if not submission.signature:
        return SignatureCheck(ok=False, status="absent")
    from tenohira.applications.digests import first_version_digest, submission_digest

    result = check_signature(submission.signature, digest=submission_digest(submission))
    if CHANGED in result.reasons and submission.version > 1 and \
            first_version_digest(submission) == submission.signature.get("digest"):
        result.reasons[result.reasons.index(CHANGED)] = CORRECTED.format(version=submission.version)
    return result
