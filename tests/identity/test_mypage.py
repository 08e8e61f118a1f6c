"""マイページ: only for a signed-in resident, scoped strictly to their account; the links
made by the applications' signals; idle sign-out; 続きから入力, 修正する, the receipt PDF and
取下げ from マイページ; another account's application never shown, by list or by URL.

A resident is signed in by writing the identity dict (core.residents) into the test
client's session, as the sign-in views do after a provider's callback."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from tenohira.applications import services, signals
from tenohira.applications.models import CorrectionRequest, Submission
from tenohira.audit.models import AuditRecord
from tenohira.backoffice.services import record_event
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.core import residents
from tenohira.core.models import OutboxMessage
from tenohira.forms.services import publish
from tenohira.identity.models import Account, AccountApplication

SCHEMA = {
    "title": "マイページテスト申請",
    "email_field": "email",
    "steps": [
        {"key": "about", "title": "申請する方について", "fields": [
            {"key": "full_name", "type": "text", "label": "氏名", "required": True},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
        ]},
        {"key": "more", "title": "内容", "fields": [
            {"key": "reason", "type": "text", "label": "理由", "required": True},
        ]},
    ],
}


@pytest.fixture
def form(db):
    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    procedure = Procedure.objects.create(code="MYP", section=section, name="マイページ確認の手続き", processing_days=7)
    version, _ = publish(procedure, SCHEMA)
    return version


def account(subject: str) -> Account:
    return Account.objects.create(provider="mynumber_card", subject=subject, display_name="")


def identity_of(acct: Account, **extra) -> dict:
    return {
        "account_id": acct.pk, "provider": "mynumber_card", "provider_label": "マイナンバーカード",
        "kind": "individual", "subject": acct.subject, "issuer": "http://127.0.0.1:1", "level": "card_signin",
        "auth_time": timezone.now().isoformat(), "claims": {"name": "髙橋 﨑子"}, "email": "",
        "id_token_sha256": "0" * 64, "signed_in_at": timezone.now().isoformat(), **extra,
    }


def signed_in(acct: Account, *, last_seen: float | None = None) -> Client:
    client = Client(HTTP_HOST="localhost")
    session = client.session
    session[residents.SESSION_KEY] = {**identity_of(acct), "last_seen": last_seen or time.time()}
    session.save()
    return client


def make_draft(form, acct: Account | None, *, complete: bool = True, email="hanako@example.jp"):
    # Started as the resident's start page does it: the identity kept on the draft (and
    # copied onto its submission) and announced to マイページ by applications.signals.
    draft, _secret = services.start_draft(form, identity=identity_of(acct) if acct else None)
    schema = form.parsed()
    services.save_step(draft, schema.step("about"), {"full_name": ["山田 花子"], "email": [email]}, {}, [])
    if complete:
        services.save_step(draft, schema.step("more"), {"reason": ["転居のため"]}, {}, [])
    return draft


def make_submission(form, acct: Account | None, **kwargs) -> Submission:
    draft = make_draft(form, acct, **kwargs)
    submission, _secret = services.submit(draft)
    signals.submitted.send(sender=None, submission=submission)
    return submission


# --- receivers -------------------------------------------------------------------------------


def test_signals_link_drafts_and_submissions_to_the_signed_in_account(form):
    alice = account("alice")
    submission = make_submission(form, alice)
    link = AccountApplication.objects.get(account=alice)
    assert link.draft_id == submission.draft_id and link.submission_id == submission.pk
    assert link.how == AccountApplication.How.SIGNED_IN
    # Announced twice (a retry): still one link.
    signals.draft_started.send(sender=None, draft=submission.draft, identity=identity_of(alice))
    signals.submitted.send(sender=None, submission=submission)
    assert AccountApplication.objects.filter(account=alice).count() == 1


def test_anonymous_drafts_are_linked_to_nobody(form):
    make_submission(form, None)
    assert not AccountApplication.objects.exists()


def test_a_submission_continued_while_signed_in_is_linked_by_its_identity(form):
    alice = account("alice")
    draft = make_draft(form, None)
    submission, _ = services.submit(draft)
    Submission.objects.filter(pk=submission.pk).update(identity=identity_of(alice))
    submission.refresh_from_db()
    signals.submitted.send(sender=None, submission=submission)
    assert AccountApplication.objects.get(account=alice).submission == submission


# --- sign-in, idle, scoping ------------------------------------------------------------------


def test_mypage_asks_to_sign_in_first(form):
    response = Client(HTTP_HOST="localhost").get("/mypage/")
    assert response.status_code == 302
    assert response["Location"].endswith("/identity/sign-in/?next=%2Fmypage%2F")
    assert "no-store" in response["Cache-Control"]


def test_an_idle_session_is_signed_out_and_says_so(form, settings):
    settings.RESIDENT_IDLE_MINUTES = 30
    client = signed_in(account("alice"), last_seen=time.time() - 31 * 60)
    response = client.get("/mypage/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "一定時間操作がなかったため、ログアウトしました" in page
    assert "next=%2Fmypage%2F" in page
    assert residents.SESSION_KEY not in client.session
    # Next time it is a plain redirect to the sign-in page.
    assert client.get("/mypage/").status_code == 302


def test_mypage_lists_only_the_accounts_own_applications(form):
    alice, bob = account("alice"), account("bob")
    mine = make_submission(form, alice)
    theirs = make_submission(form, bob, email="bob@example.jp")
    draft = make_draft(form, alice, complete=False)
    make_draft(form, bob, complete=False)
    response = signed_in(alice).get("/mypage/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert mine.receipt_number in page and theirs.receipt_number not in page
    assert "マイページ確認の手続き" in page and "続きから入力" in page
    assert f"/mypage/drafts/{draft.public_id}/continue/" in page
    assert page.count("/continue/") == 1  # bob's draft is not offered
    assert "令和" in page  # the date in the Japanese calendar
    assert "受け付けました" in page  # status and next step in plain words
    assert 'action="/identity/sign-out/"' in page
    record = AuditRecord.objects.filter(action="mypage.view").latest("pk")
    assert record.detail == {"account": alice.pk, "submissions": 1, "drafts": 1}
    assert "hanako" not in str(record.detail) and "山田" not in str(record.detail)


def test_another_accounts_application_is_refused_by_direct_url(form):
    alice, bob = account("alice"), account("bob")
    theirs = make_submission(form, bob)
    draft = make_draft(form, bob, complete=False)
    client = signed_in(alice)
    number = theirs.receipt_number
    for url in (f"/mypage/applications/{number}/", f"/mypage/applications/{number}/receipt.pdf",
                f"/mypage/applications/{number}/withdraw/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/mypage/applications/{number}/withdraw/", {"action": "withdraw"}).status_code == 404
    assert client.post(f"/mypage/applications/{number}/correction/").status_code == 404
    assert client.post(f"/mypage/drafts/{draft.public_id}/continue/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Submission.Status.RECEIVED


def test_application_page_and_receipt_pdf(form):
    alice = account("alice")
    mine = make_submission(form, alice)
    client = signed_in(alice)
    page = client.get(f"/mypage/applications/{mine.receipt_number}/").content.decode()
    assert "これまでの経過" in page and "申請を受け付けました" in page
    pdf = client.get(f"/mypage/applications/{mine.receipt_number}/receipt.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and "no-store" in pdf["Cache-Control"]
    assert AuditRecord.objects.filter(action="mypage.receipt_pdf", target=mine.receipt_number).exists()


# --- 取下げ, 続きから入力, 修正する -------------------------------------------------------------------


def test_withdraw_from_mypage_asks_first_then_withdraws_once(form):
    alice = account("alice")
    mine = make_submission(form, alice)
    client = signed_in(alice)
    url = f"/mypage/applications/{mine.receipt_number}/withdraw/"
    confirm = client.get(url)
    assert confirm.status_code == 200 and "本当に取り下げますか" in confirm.content.decode()
    before = OutboxMessage.objects.count()
    done = client.post(url, {"action": "withdraw", "comment": "不要になりました"})
    assert done.status_code == 200 and "申請を取り下げました" in done.content.decode()
    mine.refresh_from_db()
    assert mine.status == Submission.Status.WITHDRAWN
    event = mine.events.latest("at")
    assert event.actor_label == "申請者" and event.comment == "不要になりました"
    (sent,) = OutboxMessage.objects.filter(kind="submission_withdrawn")
    assert "取り下げ" in sent.subject and sent.to == "hanako@example.jp"
    # A second press changes nothing and sends nothing.
    again = client.post(url, {"action": "withdraw"})
    assert again.status_code == 200 and mine.events.count() == 2
    assert OutboxMessage.objects.count() == before + 1


def test_withdraw_is_refused_in_a_state_that_does_not_allow_it(form):
    alice = account("alice")
    mine = make_submission(form, alice)
    record_event(mine, Submission.Status.COMPLETED, actor=None, actor_label="市民課")
    response = signed_in(alice).post(f"/mypage/applications/{mine.receipt_number}/withdraw/", {"action": "withdraw"})
    assert response.status_code == 409
    assert "取り下げられません" in response.content.decode()
    mine.refresh_from_db()
    assert mine.status == Submission.Status.COMPLETED


def test_continue_a_draft_in_another_browser(form):
    alice = account("alice")
    draft = make_draft(form, alice, complete=False)
    client = signed_in(alice)  # a browser without the draft's cookie
    assert client.get(f"/apply/{draft.public_id}/more/").status_code == 403
    response = client.post(f"/mypage/drafts/{draft.public_id}/continue/")
    assert response.status_code == 302 and response["Location"] == f"/apply/{draft.public_id}/more/"
    step = client.get(response["Location"])
    assert step.status_code == 200 and "理由" in step.content.decode()
    # The browser that started it is not cut off: the original owner secret is untouched.
    draft.refresh_from_db()
    assert draft.owner_secret_hash and draft.resume_token_hash


def test_continue_a_submitted_draft_is_not_offered(form):
    alice = account("alice")
    submission = make_submission(form, alice)
    response = signed_in(alice).post(f"/mypage/drafts/{submission.draft.public_id}/continue/")
    assert response.status_code == 404


def test_a_correction_request_opens_from_mypage(form):
    alice = account("alice")
    mine = make_submission(form, alice)
    staff = get_user_model().objects.create_user("tanto", password="x-Passw0rd-unused")
    CorrectionRequest.objects.create(
        submission=mine, requested_by=staff, requested_at=timezone.now(), message="理由を詳しく書いてください",
        fields=[{"path": "reason", "label": "理由", "note": ""}], token_hash="0" * 64,
        expires_at=timezone.now() + timezone.timedelta(days=14),
    )
    record_event(mine, Submission.Status.RETURNED, actor=staff, actor_label="市民課", comment="理由を詳しく")
    client = signed_in(alice)
    page = client.get("/mypage/").content.decode()
    assert "修正をお願いしている申請" in page and "修正する" in page
    response = client.post(f"/mypage/applications/{mine.receipt_number}/correction/")
    assert response.status_code == 302
    assert re.fullmatch(r"/corrections/[\w-]+/", response["Location"])
    opened = client.get(response["Location"])
    assert opened.status_code == 200 and "理由" in opened.content.decode()


def test_an_application_made_while_signed_in_appears_on_mypage(form):
    """Through the resident's own pages: the applications announce the draft and the
    submission (applications.signals), and マイページ lists it."""
    alice = account("alice")
    client = signed_in(alice)
    started = client.post("/procedures/MYP/apply/")
    assert started.status_code == 302
    public_id = re.search(r"/apply/([0-9a-f-]{36})/", started["Location"]).group(1)
    assert AccountApplication.objects.get(account=alice).draft.public_id.hex == public_id.replace("-", "")
    assert "続きから入力" in client.get("/mypage/").content.decode()
    for step, data in (("about", {"full_name": "山田 花子", "email": "hanako@example.jp"}),
                       ("more", {"reason": "転居のため"})):
        assert client.post(f"/apply/{public_id}/{step}/", {"action": "continue", **data}).status_code == 302
    assert client.post(f"/apply/{public_id}/check/").status_code == 302
    link = AccountApplication.objects.get(account=alice)
    assert link.submission is not None
    page = client.get("/mypage/").content.decode()
    assert link.submission.receipt_number in page and "続きから入力" not in page
