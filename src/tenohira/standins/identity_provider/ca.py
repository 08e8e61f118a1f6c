"""A test certificate authority for the stand-in's signatures, made with `cryptography`.

JPKI (公的個人認証) issues each card a 署名用電子証明書 under J-LIS's CA; a service checks a
signature against that CA and asks whether the certificate is revoked. The stand-in plays
the same shape: a root (the trust anchor a service configures, `root.pem` in the state
directory), an intermediate that issues the residents' signing certificates and the CRL,
and one RSA 2048 certificate per resident whose CRL distribution point names this
stand-in's `/ca/crl.der`.

Everything is kept in the state directory so that a restart keeps the same root (a
service configured with it stays configured) and the same residents' keys. Signing
certificates are issued again when the stand-in's address changes, so their CRL
distribution point always names where the CRL is actually served.
"""

import datetime as dt
import json
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .residents import RESIDENTS, Resident

ROOT_YEARS = 20
INTERMEDIATE_YEARS = 10
SIGNER_YEARS = 5  # a 署名用電子証明書 is valid about five years


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    # Private keys are readable by their owner only, even in a scratch directory.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return key


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenohira Demo Stand-in (not JPKI)"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _ca_certificate(subject: x509.Name, key, issuer: x509.Name, issuer_key, years: int, path_length: int):
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    return builder.sign(issuer_key, hashes.SHA256())


class CertificateAuthority:
    def __init__(self, state_dir: Path, issuer_url: str):
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.crl_url = f"{issuer_url}/ca/crl.der"
        self.root_key = _load_or_create_key(self.dir / "root.key.pem")
        self.root = self._load_or_make("root.pem", lambda: _ca_certificate(
            _name("Tenohira Demo Root CA"), self.root_key, _name("Tenohira Demo Root CA"), self.root_key, ROOT_YEARS, 1))
        self.intermediate_key = _load_or_create_key(self.dir / "intermediate.key.pem")
        self.intermediate = self._load_or_make("intermediate.pem", lambda: _ca_certificate(
            _name("Tenohira Demo Signing CA"), self.intermediate_key, self.root.subject, self.root_key,
            INTERMEDIATE_YEARS, 0))
        self.signer_keys: dict[str, rsa.RSAPrivateKey] = {}
        self.signers: dict[str, x509.Certificate] = {}
        for resident in RESIDENTS:
            self.signer_keys[resident.id] = _load_or_create_key(self.dir / f"signer-{resident.id}.key.pem")
            self.signers[resident.id] = self._signer_certificate(resident)
        self.crl_der = self._make_crl()

    # -- certificates -------------------------------------------------------------------

    def _load_or_make(self, filename: str, make) -> x509.Certificate:
        path = self.dir / filename
        if path.exists():
            return x509.load_pem_x509_certificate(path.read_bytes())
        certificate = make()
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return certificate

    def _signer_certificate(self, resident: Resident) -> x509.Certificate:
        path = self.dir / f"signer-{resident.id}.pem"
        if path.exists():
            certificate = x509.load_pem_x509_certificate(path.read_bytes())
            if self._crl_url_of(certificate) == self.crl_url:
                return certificate
        key = self.signer_keys[resident.id]
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(resident.name)).issuer_name(self.intermediate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365 * SIGNER_YEARS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate_key.public_key()),
                           critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(self.crl_url)], relative_name=None, reasons=None,
                crl_issuer=None)]), critical=False)
            .sign(self.intermediate_key, hashes.SHA256())
        )
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return certificate

    @staticmethod
    def _crl_url_of(certificate: x509.Certificate) -> str | None:
        try:
            points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        except x509.ExtensionNotFound:
            return None
        for point in points:
            for name in point.full_name or []:
                return name.value
        return None

    def pem(self, certificate: x509.Certificate) -> str:
        return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def chain_pems(self) -> list[str]:
        """The signer's issuers, nearest first, root last."""
        return [self.pem(self.intermediate), self.pem(self.root)]

    # -- signing ------------------------------------------------------------------------

    def sign_digest(self, resident_id: str, digest_hex: str) -> bytes:
        """RSASSA-PKCS1-v1_5 over a SHA-256 digest the service computed (the card signs a
        hash, never the document)."""
        return self.signer_keys[resident_id].sign(
            bytes.fromhex(digest_hex), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))

    # -- revocation ---------------------------------------------------------------------

    @property
    def _revoked_path(self) -> Path:
        return self.dir / "revoked.json"

    def _revoked(self) -> dict[str, str]:
        """Serial number (decimal text) -> revocation time (ISO)."""
        if not self._revoked_path.exists():
            return {}
        return json.loads(self._revoked_path.read_text(encoding="utf-8"))

    def revoke(self, resident_id: str) -> None:
        revoked = self._revoked()
        revoked.setdefault(str(self.signers[resident_id].serial_number), _now().isoformat())
        self._revoked_path.write_text(json.dumps(revoked), encoding="utf-8")
        self.crl_der = self._make_crl()

    def _make_crl(self) -> bytes:
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.intermediate.subject)
            .last_update(now - dt.timedelta(minutes=1)).next_update(now + dt.timedelta(days=1))
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate_key.public_key()),
                           critical=False)
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
        )
        for serial, when in self._revoked().items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(int(serial))
                .revocation_date(dt.datetime.fromisoformat(when)).build())
        crl = builder.sign(self.intermediate_key, hashes.SHA256())
        der = crl.public_bytes(serialization.Encoding.DER)
        (self.dir / "crl.der").write_bytes(der)
        return der
