"""以前の申請を追加する: a one-time code proves the e-mail address used on earlier
applications; then every submission made with it and not in another account's マイページ
is added. Wrong code, expired code, the attempt limit, the sending limit, and nothing
revealed about the address before the code is proven."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.test import Client
from django.utils import timezone

from tenohira.applications import services
from tenohira.audit.models import AuditRecord
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.core import residents
from tenohira.core.models import OutboxMessage
from tenohira.forms.services import publish
from tenohira.identity.models import Account, AccountApplication, EmailChallenge

SCHEMA = {
    "title": "追加テスト申請",
    "email_field": "email",
    "steps": [{"key": "about", "title": "申請する方", "fields": [
        {"key": "full_name", "type": "text", "label": "氏名", "required": True},
        {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
    ]}],
}


@pytest.fixture
def form(db):
    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    procedure = Procedure.objects.create(code="LNK", section=section, name="追加確認の手続き")
    version, _ = publish(procedure, SCHEMA)
    return version


def submit_anonymously(form, email: str):
    draft, _ = services.start_draft(form)
    services.save_step(draft, form.parsed().step("about"), {"full_name": ["山田 花子"], "email": [email]}, {}, [])
    submission, _ = services.submit(draft)
    return submission


def signed_in(subject: str) -> tuple[Account, Client]:
    account = Account.objects.create(provider="mynumber_card", subject=subject)
    client = Client(HTTP_HOST="localhost")
    session = client.session
    session[residents.SESSION_KEY] = {
        "account_id": account.pk, "provider": "mynumber_card", "provider_label": "マイナンバーカード",
        "kind": "individual", "subject": subject, "level": "card_signin", "claims": {}, "last_seen": time.time(),
    }
    session.save()
    return account, client


def ask_code(client: Client, email: str):
    response = client.post("/mypage/add/", {"email": email})
    assert response.status_code == 302 and response["Location"] == "/mypage/add/code/", response.status_code
    message = OutboxMessage.objects.filter(kind="mypage_link_code").latest("pk")
    return re.search(r"確認コード: (\d{6})", message.body).group(1), message


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_the_right_code_adds_every_earlier_application_with_that_address(form):
    first = submit_anonymously(form, "Hanako@Example.jp")
    second = submit_anonymously(form, "hanako@example.jp")
    submit_anonymously(form, "someone@example.jp")
    account, client = signed_in("alice")
    code, message = ask_code(client, "ｈａｎａｋｏ@example.jp")  # full width, as an IME types it
    assert message.to == "hanako@example.jp"
    assert "15分" in message.body
    response = client.post("/mypage/add/code/", {"code": code})
    assert response.status_code == 302 and response["Location"] == "/mypage/"
    linked = set(AccountApplication.objects.filter(account=account).values_list("submission_id", "how"))
    assert linked == {(first.pk, "email_proof"), (second.pk, "email_proof")}
    page = client.get("/mypage/").content.decode()
    assert "2件の申請をマイページに追加しました" in page
    assert first.receipt_number in page and second.receipt_number in page
    account.refresh_from_db()
    assert account.email == "hanako@example.jp" and account.email_verified_at is not None
    # Only hashes are kept, and the audit records say what happened, not to whom.
    challenge = EmailChallenge.objects.get()
    assert code not in challenge.code_hash and challenge.used_at is not None
    for record in AuditRecord.objects.filter(action__startswith="mypage.link"):
        assert "hanako" not in str(record.detail).lower()
    # The code works once.
    assert client.post("/mypage/add/code/", {"code": code}).status_code == 302
    assert client.get("/mypage/add/code/")["Location"] == "/mypage/add/"


def test_applications_in_another_accounts_mypage_are_not_taken(form):
    submission = submit_anonymously(form, "hanako@example.jp")
    bob, bob_client = signed_in("bob")
    code, _ = ask_code(bob_client, "hanako@example.jp")
    bob_client.post("/mypage/add/code/", {"code": code})
    alice, client = signed_in("alice")
    code, _ = ask_code(client, "hanako@example.jp")
    client.post("/mypage/add/code/", {"code": code})
    assert AccountApplication.objects.get(submission=submission).account == bob
    assert "追加できる申請はありませんでした" in client.get("/mypage/").content.decode()


def test_an_unknown_address_gets_the_same_page_and_an_e_mail(form):
    submit_anonymously(form, "hanako@example.jp")
    _account, client = signed_in("alice")
    known = client.post("/mypage/add/", {"email": "hanako@example.jp"})
    unknown = client.post("/mypage/add/", {"email": "nobody@example.jp"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert OutboxMessage.objects.filter(kind="mypage_link_code").count() == 2
    page_known = client.get("/mypage/add/code/").content.decode()
    assert "nobody@example.jp" not in page_known and "hanako" not in page_known


def test_a_wrong_code_counts_and_five_end_the_challenge(form):
    submission = submit_anonymously(form, "hanako@example.jp")
    account, client = signed_in("alice")
    code, _ = ask_code(client, "hanako@example.jp")
    first = client.post("/mypage/add/code/", {"code": wrong(code)})
    assert first.status_code == 400 and "あと4回" in first.content.decode()
    for _ in range(3):
        assert client.post("/mypage/add/code/", {"code": wrong(code)}).status_code == 400
    fifth = client.post("/mypage/add/code/", {"code": wrong(code)})
    assert fifth.status_code == 400 and "上限に達しました" in fifth.content.decode()
    # Even the right code is refused now; nothing was linked.
    assert client.post("/mypage/add/code/", {"code": code}).status_code == 302  # back to the address page
    from tenohira.identity import mypage

    challenge = EmailChallenge.objects.get()
    assert mypage.confirm_link(account, challenge.pk, code).status == "exhausted"
    assert not AccountApplication.objects.filter(submission=submission).exists()


def test_an_expired_code_is_refused(form):
    submission = submit_anonymously(form, "hanako@example.jp")
    _account, client = signed_in("alice")
    code, _ = ask_code(client, "hanako@example.jp")
    EmailChallenge.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.post("/mypage/add/code/", {"code": code})
    assert response.status_code == 400 and "有効期限が切れました" in response.content.decode()
    assert not AccountApplication.objects.filter(submission=submission).exists()


def test_another_accounts_challenge_cannot_be_used(form):
    submit_anonymously(form, "hanako@example.jp")
    _bob, bob_client = signed_in("bob")
    code, _ = ask_code(bob_client, "hanako@example.jp")
    challenge = EmailChallenge.objects.get()
    alice, client = signed_in("alice")
    session = client.session
    session["tnh_mypage_link"] = challenge.pk
    session.save()
    assert client.post("/mypage/add/code/", {"code": code}).status_code == 400
    assert not AccountApplication.objects.filter(account=alice).exists()


def test_sending_codes_is_limited(form, settings):
    settings.MYPAGE_LINK_LIMIT_PER_HOUR = 3
    _account, client = signed_in("alice")
    for index in range(3):
        assert client.post("/mypage/add/", {"email": f"a{index}@example.jp"}).status_code == 302
    refused = client.post("/mypage/add/", {"email": "a9@example.jp"})
    assert refused.status_code == 429 and "1時間ほど待って" in refused.content.decode()
    assert OutboxMessage.objects.filter(kind="mypage_link_code").count() == 3


def test_a_malformed_address_says_how_to_write_it(form):
    _account, client = signed_in("alice")
    response = client.post("/mypage/add/", {"email": "hanako@"})
    assert response.status_code == 400 and "name@example.jp" in response.content.decode()
    assert not OutboxMessage.objects.filter(kind="mypage_link_code").exists()
