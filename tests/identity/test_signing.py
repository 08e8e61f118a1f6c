"""電子署名 through the demo provider's signing transaction, and its verification.

The digest of the draft goes to the provider, the resident confirms with the signing
password, the signature comes back and is verified at once (signature, chain to the demo
CA's root, validity, the CRL, the signer being the signed-in resident) before it is kept
on the draft. A revoked certificate is refused with what to do."""

from __future__ import annotations

import base64
import copy

import pytest
from django.urls import reverse

from tenohira.audit.models import AuditRecord
from tenohira.core import residents
from tenohira.forms.services import publish
from tenohira.identity import revocation, signatures
from tenohira.identity.models import UsedNonce  # noqa: F401  (the identity app's tables exist)

pytestmark = pytest.mark.django_db

SCHEMA = {
    "title": "署名のテスト",
    "intro": "電子署名のテストです。",
    "you_need": [],
    "minutes": 3,
    "steps": [{"key": "about", "title": "申請する方", "fields": [
        {"key": "full_name", "type": "text", "label": "氏名", "required": False, "max_length": 40},
    ]}],
}


@pytest.fixture
def resident_index():
    """The provider lives for the whole module, so a test that revokes a certificate
    names its own resident (parametrize resident_index); the others sign as the first."""
    return 0


@pytest.fixture
def signed_in_draft(resident_index, browser, driver, card):
    """A signed-in resident's draft in this browser (the identity kept on it)."""
    from tenohira.applications import services
    from tenohira.applications.models import Draft
    from tenohira.catalog.models import Department, Procedure, Section

    resident = card.residents()[resident_index]
    driver.sign_in(browser, resident=resident["id"])
    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    procedure = Procedure.objects.create(code="SIG", section=section, name="署名のテスト")
    version, _ = publish(procedure, SCHEMA)
    draft, owner = services.start_draft(version)
    identity = {k: v for k, v in browser.session[residents.SESSION_KEY].items() if k != "last_seen"}
    Draft.objects.filter(pk=draft.pk).update(identity=identity)
    browser.cookies["tnh_draft"] = owner
    draft.refresh_from_db()
    return draft, resident


def start_signing(browser, draft):
    response = browser.post(f"/apply/{draft.public_id}/card-signature/")
    assert response.status_code == 302, response.content.decode()[:400]
    return response["Location"]


def test_signing_keeps_a_verified_signature_on_the_draft(browser, driver, card, signed_in_draft):
    from tenohira.applications.digests import draft_digest

    draft, _resident = signed_in_draft
    url = start_signing(browser, draft)
    assert url.startswith(f"{card.url}/sign/authorize")
    back = driver.sign_at_provider(url)
    response = browser.get(driver.local(back))
    assert response.status_code == 302
    assert response["Location"] == reverse("applications:check", args=[draft.public_id])
    draft.refresh_from_db()
    signature = draft.signature
    assert signature["digest"] == draft_digest(draft)
    assert signature["subject"] == draft.identity["subject"]
    assert signature["digest_algorithm"] == "SHA-256"
    check = signatures.check_signature(signature, digest=draft_digest(draft))
    assert check.ok, check.reasons
    assert check.status == "verified"
    assert check.revocation.startswith("CRL（") and "/ca/crl.der" in check.revocation
    assert len(check.chain) == 3  # signer, intermediate, root
    record = AuditRecord.objects.filter(action="identity.signed").get()
    assert record.target == f"draft:{draft.pk}"


@pytest.mark.parametrize("resident_index", [2])
def test_a_revoked_certificate_is_refused_at_signing(browser, driver, card, signed_in_draft):
    draft, resident = signed_in_draft
    card.revoke(resident["id"])
    back = driver.sign_at_provider(start_signing(browser, draft))
    response = browser.get(driver.local(back))
    text = response.content.decode()
    assert response.status_code == 400
    assert "署名用電子証明書が失効しています" in text
    assert f'href="{reverse("applications:check", args=[draft.public_id])}"' in text
    draft.refresh_from_db()
    assert draft.signature == {}
    record = AuditRecord.objects.filter(action="identity.sign_failed").order_by("-id").first()
    assert record.detail["reason"] == "revoked"


def test_cancelling_the_signature_goes_back_to_the_check_page(browser, driver, signed_in_draft):
    draft, _ = signed_in_draft
    back = driver.sign_at_provider(start_signing(browser, draft), cancel=True)
    response = browser.get(driver.local(back))
    assert response.status_code == 200
    assert "「やめる」が選ばれました" in response.content.decode()
    draft.refresh_from_db()
    assert draft.signature == {}


def test_only_the_drafts_browser_and_person_may_sign(browser, driver, card, signed_in_draft):
    from django.test import Client

    draft, _ = signed_in_draft
    stranger = Client(HTTP_HOST="localhost")
    assert stranger.post(f"/apply/{draft.public_id}/card-signature/").status_code == 404
    # Signed in as someone else in the draft's browser: sent to sign in again.
    browser.post("/identity/sign-out/")
    driver.sign_in(browser, resident=card.residents()[1]["id"])
    response = browser.post(f"/apply/{draft.public_id}/card-signature/")
    assert response.status_code == 302
    assert response["Location"].startswith("/identity/sign-in/")


def test_a_signing_callback_without_its_state_is_refused(browser, signed_in_draft):
    response = browser.get("/identity/sign/callback/", {"code": "x", "state": "forged"})
    assert response.status_code == 400


# --- verification ---


@pytest.fixture
def signature(browser, driver, signed_in_draft):
    from tenohira.applications.digests import draft_digest

    draft, _ = signed_in_draft
    browser.get(driver.local(driver.sign_at_provider(start_signing(browser, draft))))
    draft.refresh_from_db()
    return draft.signature, draft_digest(draft)


def test_changed_content_fails_verification(signature):
    sig, digest = signature
    check = signatures.check_signature(sig, digest="0" * 64)
    assert not check.ok
    assert check.reasons == [signatures.CHANGED]
    assert not check.digest_matches


def test_a_tampered_signature_fails(signature):
    sig, digest = signature
    bad = copy.deepcopy(sig)
    raw = bytearray(base64.b64decode(bad["signature"]))
    raw[10] ^= 1
    bad["signature"] = base64.b64encode(bytes(raw)).decode()
    assert signatures.check_signature(bad, digest=digest).reasons == [signatures.MISMATCH]
    # A signature over another digest, presented as over this one.
    other = copy.deepcopy(sig)
    other["digest"] = "1" * 64
    assert signatures.MISMATCH in signatures.check_signature(other, digest="1" * 64).reasons


def test_an_untrusted_ca_fails(signature, settings, tmp_path):
    from cryptography import x509

    sig, digest = signature
    leaf = x509.load_pem_x509_certificate(sig["certificate"].encode())
    other = tmp_path / "other.pem"
    other.write_text(sig["certificate"])  # a leaf is no CA: nothing chains to it
    settings.MYNUMBER_CARD_TRUSTED_CA_FILE = str(other)
    check = signatures.check_signature(sig, digest=digest)
    assert signatures.UNTRUSTED in check.reasons
    assert check.subject == leaf.subject.rfc4514_string()
    settings.MYNUMBER_CARD_TRUSTED_CA_FILE = ""
    assert signatures.UNTRUSTED in signatures.check_signature(sig, digest=digest).reasons


def test_revocation_checking_is_pluggable(signature, settings):
    sig, digest = signature
    settings.MYNUMBER_CARD_REVOCATION = "none"
    check = signatures.check_signature(sig, digest=digest)
    assert check.ok
    assert check.revocation == "確認していません（設定なし）"


def test_an_unreachable_crl_is_not_taken_as_good(signature, settings):
    import socket

    sig, digest = signature
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.MYNUMBER_CARD_CRL_URL = f"http://127.0.0.1:{port}/crl.der"
    revocation.forget_cached()
    check = signatures.check_signature(sig, digest=digest)
    assert check.reasons == [signatures.REVOCATION_UNKNOWN]


@pytest.mark.parametrize("resident_index", [3])
def test_a_certificate_revoked_after_signing_still_verifies_what_was_signed_before(signature, card):
    import datetime as dt

    sig, digest = signature
    later = copy.deepcopy(sig)
    later["signed_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    card.revoke(card.residents()[3]["id"])
    revocation.forget_cached()
    check = signatures.check_signature(later, digest=digest)
    assert check.ok, check.reasons
    assert "署名の後" in check.revocation
    # Revoked a moment after the signing time: the clocks cannot tell which came first, refused.
    assert signatures.REVOKED in signatures.check_signature(sig, digest=digest).reasons


def test_a_submission_without_signature_is_absent():
    from types import SimpleNamespace

    check = signatures.verify_submission(SimpleNamespace(signature={}))
    assert check.status == "absent"
    assert not check.ok
