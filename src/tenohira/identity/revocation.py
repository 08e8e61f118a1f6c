"""Is a signing certificate revoked? Pluggable, like the providers.

"crl" (default) reads the certificate revocation list that the issuing CA publishes (the
address named in the certificate's CRL distribution point, or MYNUMBER_CARD_CRL_URL),
checks the CRL's own signature by the issuer, and looks the serial number up. "none"
checks nothing and says so on every verification (for a test set-up only).

For real My Number cards, revocation information for 署名用電子証明書 is given by J-LIS
(地方公共団体情報システム機構) only to a registered 署名検証者 (a municipality registers
with J-LIS, or uses a 署名検証者 service through a 署名検証者 agreement): register a checker
here that asks that service (OCSP or its CRL) and set MYNUMBER_CARD_REVOCATION to its name.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

import requests
from cryptography import x509
from django.conf import settings

# A CRL changes at most a few times a day; fetching it once per signature would let any
# burst of signatures hammer the CA. A revocation is visible within this time.
CRL_CACHE_SECONDS = 300
MAX_CRL_BYTES = 20 * 1024 * 1024

_checkers: dict[str, object] = {}
_crl_cache: dict[str, tuple[float, x509.CertificateRevocationList]] = {}
_lock = threading.Lock()


@dataclass
class Revocation:
    status: str            # "good" | "revoked" | "unknown" | "unchecked"
    how: str               # 「CRL（<url>）で確認」 or 「確認していません（設定なし）」
    revoked_at: dt.datetime | None = None
    note: str = ""         # a short technical reason when unknown (for the audit)


def register(name: str):
    def wrap(checker):
        _checkers[name] = checker
        return checker
    return wrap


def check(certificate: x509.Certificate, issuer: x509.Certificate) -> Revocation:
    name = getattr(settings, "MYNUMBER_CARD_REVOCATION", "crl") or "crl"
    checker = _checkers.get(name)
    if checker is None:
        return Revocation("unknown", f"確認できません（失効確認の方式「{name}」がありません）", note="no checker")
    return checker(certificate, issuer)


@register("none")
def _none(certificate, issuer) -> Revocation:
    return Revocation("unchecked", "確認していません（設定なし）")


def crl_url_of(certificate: x509.Certificate) -> str:
    configured = getattr(settings, "MYNUMBER_CARD_CRL_URL", "")
    if configured:
        return configured
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return ""
    for point in points:
        for name in point.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(("http://", "https://")):
                return name.value
    return ""


def forget_cached() -> None:
    with _lock:
        _crl_cache.clear()


def _download(url: str) -> bytes:
    timeout = float(getattr(settings, "IDENTITY_HTTP_TIMEOUT", 5))
    with requests.get(url, timeout=timeout, stream=True, allow_redirects=False) as response:
        response.raise_for_status()
        body = response.raw.read(MAX_CRL_BYTES + 1, decode_content=True)
    if len(body) > MAX_CRL_BYTES:
        raise ValueError("CRL too large")
    return body


def _crl(url: str, issuer: x509.Certificate) -> x509.CertificateRevocationList:
    now = time.monotonic()
    with _lock:
        hit = _crl_cache.get(url)
    if hit and now - hit[0] < CRL_CACHE_SECONDS:
        return hit[1]
    body = _download(url)
    crl = x509.load_der_x509_crl(body) if not body.lstrip().startswith(b"-----") else x509.load_pem_x509_crl(body)
    # Only the certificate's own issuer may say it is (not) revoked.
    if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):
        raise ValueError("CRL not signed by the issuer")
    if crl.next_update_utc is not None and crl.next_update_utc < dt.datetime.now(dt.UTC):
        raise ValueError("CRL out of date")
    with _lock:
        _crl_cache[url] = (now, crl)
    return crl


@register("crl")
def _by_crl(certificate: x509.Certificate, issuer: x509.Certificate) -> Revocation:
    url = crl_url_of(certificate)
    if not url:
        return Revocation("unknown", "確認できません（証明書に失効リストの場所がありません）", note="no CRL URL")
    how = f"CRL（{url}）で確認"
    try:
        crl = _crl(url, issuer)
    except (requests.RequestException, OSError, ValueError) as exc:
        return Revocation("unknown", how, note=type(exc).__name__)
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is None:
        return Revocation("good", how)
    return Revocation("revoked", how, revoked_at=entry.revocation_date_utc)
