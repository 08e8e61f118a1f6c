"""The staff application page: the 「本人確認」 box (provider, level, authentication time in
Japan time, the four items as received with 外字 intact, shortened subject and token hash)
and 「電子署名」: 検証済み with certificate, validity, chain and how revocation was checked,
or 検証できません with every reason, e.g. after the stored answers are changed in the
database. Signatures here are real: a throwaway CA made with `cryptography`, its CRL
served to the revocation check in place of the download."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.x509.oid import NameOID

from tenohira.applications.digests import submission_digest
from tenohira.applications.models import Submission
from tenohira.audit.models import AuditRecord
from tenohira.identity import revocation

CRL_URL = "http://ca.invalid/crl.der"
SUBJECT = "pairwise-subject-0123456789abcdef0123456789"
TOKEN_HASH = "ab" * 32


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"), x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class ThrowawayCA:
    """A root CA and one signer certificate, with a CRL that may revoke the signer."""

    def __init__(self, name: str = "Test Root CA"):
        now = dt.datetime.now(dt.UTC)
        self.key = _key()
        self.cert = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.signer_key = _key()
        self.signer = (
            x509.CertificateBuilder().subject_name(_name("髙橋 﨑子 署名用")).issuer_name(self.cert.subject)
            .public_key(self.signer_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ), critical=True)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(CRL_URL)], relative_name=None, reasons=None, crl_issuer=None,
            )]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.revoked_at: dt.datetime | None = None

    def pem(self, cert) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def crl(self) -> bytes:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
            .last_update(now - dt.timedelta(minutes=1)).next_update(now + dt.timedelta(days=1))
        )
        if self.revoked_at is not None:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(self.signer.serial_number)
                .revocation_date(self.revoked_at).build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def sign(self, digest_hex: str, signed_at: dt.datetime | None = None) -> dict:
        raw = self.signer_key.sign(bytes.fromhex(digest_hex), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        return {
            "provider": "mynumber_card", "digest": digest_hex, "digest_algorithm": "SHA-256",
            "signature_algorithm": "sha256WithRSAEncryption", "signature": base64.b64encode(raw).decode(),
            "certificate": self.pem(self.signer), "chain": [], "subject": SUBJECT,
            "signed_at": (signed_at or dt.datetime.now(dt.UTC)).isoformat(),
        }


@pytest.fixture
def ca(settings, tmp_path, monkeypatch):
    authority = ThrowawayCA()
    anchors = tmp_path / "root.pem"
    anchors.write_text(authority.pem(authority.cert))
    settings.MYNUMBER_CARD_TRUSTED_CA_FILE = str(anchors)
    settings.MYNUMBER_CARD_REVOCATION = "crl"
    settings.MYNUMBER_CARD_CRL_URL = ""
    revocation.forget_cached()
    monkeypatch.setattr(revocation, "_download", lambda url: authority.crl() if url == CRL_URL else b"")
    yield authority
    revocation.forget_cached()


def card_identity() -> dict:
    return {
        "account_id": 1, "provider": "mynumber_card", "provider_label": "マイナンバーカード", "kind": "individual",
        "subject": SUBJECT, "issuer": "http://127.0.0.1:9", "level": "card_signin",
        "auth_time": "2026-12-01T23:30:00+00:00",
        "claims": {"name": "髙橋 﨑子", "address": "東京都千代田区霞が関一丁目1番1号 𠮷野ハイツ1001号室",
                   "birthdate": "1985-04-01", "gender": "female"},
        "email": "", "id_token_sha256": TOKEN_HASH, "signed_in_at": "2026-12-01T23:30:05+00:00",
        "gaiji": ["髙", "﨑", "𠮷"],
    }


def signed_submission(make_submission, ca) -> Submission:
    submission = make_submission()
    Submission.objects.filter(pk=submission.pk).update(
        identity=card_identity(), signature=ca.sign(submission_digest(submission))
    )
    submission.refresh_from_db()
    return submission


def detail(client, submission) -> str:
    response = client.get(f"/staff/submissions/{submission.receipt_number}/")
    assert response.status_code == 200
    return response.content.decode()


def test_identity_evidence_is_shown_as_received(staff, staff_client, make_submission, ca):
    submission = signed_submission(make_submission, ca)
    page = detail(staff_client(staff.handler), submission)
    assert "本人確認" in page and "マイナンバーカード" in page
    assert "マイナンバーカードでログイン" in page  # the level's label
    assert "2026-12-02 08:30（日本時間）" in page  # auth_time in Asia/Tokyo
    assert "髙橋 﨑子" in page and "𠮷野ハイツ1001号室" in page  # 外字 intact
    assert "1985-04-01（昭和60年4月1日）" in page and "female（女性）" in page
    assert "外字を含みます（髙、﨑、𠮷）" in page
    assert SUBJECT not in page and "pairwise…6789" in page
    assert TOKEN_HASH not in page and TOKEN_HASH[:16] in page
    record = AuditRecord.objects.filter(action="submission_view").latest("pk")
    assert record.detail["identity"] is True and record.detail["signature"] == "verified"


def test_a_valid_signature_is_verified_and_an_update_of_the_answers_breaks_it(
    staff, staff_client, make_submission, ca
):
    submission = signed_submission(make_submission, ca)
    client = staff_client(staff.handler)
    page = detail(client, submission)
    assert "検証済み" in page and "検証できません" not in page
    assert "CN=髙橋 﨑子 署名用" in page and "CN=Test Root CA" in page  # subject, issuer, chain
    assert f"CRL（{CRL_URL}）で確認" in page
    assert "有効期間" in page

    answers = {**submission.answers, "reason": "書き換えた理由"}
    Submission.objects.filter(pk=submission.pk).update(answers=answers)
    page = detail(client, submission)
    assert "検証できません" in page and "検証済み" not in page
    assert "署名の後に申請内容が変更されています" in page
    assert AuditRecord.objects.filter(action="submission_view").latest("pk").detail["signature"] == "failed"


def test_after_a_correction_staff_are_told_the_signature_covers_the_first_version(
    staff, staff_client, make_submission, ca
):
    from tenohira.applications.models import SubmissionVersion

    submission = signed_submission(make_submission, ca)
    SubmissionVersion.objects.get_or_create(submission=submission, number=1, defaults={
        "answers": submission.answers, "created_at": submission.submitted_at})
    corrected = {**submission.answers, "copies": 2}
    SubmissionVersion.objects.create(submission=submission, number=2, answers=corrected,
                                     created_at=submission.submitted_at)
    Submission.objects.filter(pk=submission.pk).update(answers=corrected, version=2)
    page = detail(staff_client(staff.handler), submission)
    assert "検証できません" in page
    assert "署名は最初の申請（第1版）の内容に対するものです。差戻しの後に申請者が修正した内容（第2版）には署名がありません" in page
    # The first version itself changed behind everyone's back: plainly "changed" again.
    SubmissionVersion.objects.filter(submission=submission, number=1).update(answers={**submission.answers, "copies": 7})
    page = detail(staff_client(staff.handler), submission)
    assert "署名の後に申請内容が変更されています" in page and "署名は最初の申請" not in page


def test_a_revoked_certificate_fails_with_its_reason(staff, staff_client, make_submission, ca):
    ca.revoked_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    submission = make_submission()
    signature = ca.sign(submission_digest(submission))
    Submission.objects.filter(pk=submission.pk).update(identity=card_identity(), signature=signature)
    page = detail(staff_client(staff.handler), submission)
    assert "検証できません" in page and "証明書が失効しています" in page


def test_every_reason_is_listed(staff, staff_client, make_submission, ca, settings, tmp_path):
    submission = signed_submission(make_submission, ca)
    other = ThrowawayCA("Another CA")
    anchors = tmp_path / "other.pem"
    anchors.write_text(other.pem(other.cert))
    settings.MYNUMBER_CARD_TRUSTED_CA_FILE = str(anchors)
    Submission.objects.filter(pk=submission.pk).update(answers={**submission.answers, "copies": 9})
    page = detail(staff_client(staff.handler), submission)
    assert "信頼できる認証局の証明書ではありません" in page
    assert "署名の後に申請内容が変更されています" in page


def test_an_application_without_sign_in_shows_no_boxes(staff, staff_client, make_submission):
    submission = make_submission()
    page = detail(staff_client(staff.handler), submission)
    assert 'id="evidence-title"' not in page and 'id="signature-title"' not in page
    record = AuditRecord.objects.filter(action="submission_view").latest("pk")
    assert "identity" not in record.detail
