"""`tenohira identity purge`: what is kept how long."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tenohira.applications.models import Draft
from tenohira.identity.models import Account, AccountApplication, EmailChallenge, UsedNonce

pytestmark = pytest.mark.django_db


def test_purge_removes_expired_codes_nonces_and_dormant_accounts_with_nothing_left(settings):
    settings.IDENTITY_ACCOUNT_DORMANT_DAYS = 365
    now = timezone.now()
    old = now - dt.timedelta(days=400)
    EmailChallenge.objects.create(purpose="sign_in", email="a@example.jp", code_hash="x", token_hash="t1",
                                  expires_at=now - dt.timedelta(days=2))
    fresh = EmailChallenge.objects.create(purpose="sign_in", email="b@example.jp", code_hash="x", token_hash="t2",
                                          expires_at=now + dt.timedelta(minutes=10))
    UsedNonce.objects.create(provider="mynumber_card", nonce_hash="n1", expires_at=now - dt.timedelta(minutes=1))
    live_nonce = UsedNonce.objects.create(provider="mynumber_card", nonce_hash="n2", expires_at=now + dt.timedelta(minutes=5))
    Account.objects.create(provider="mynumber_card", subject="s1", last_signed_in_at=old)
    active = Account.objects.create(provider="mynumber_card", subject="s2", last_signed_in_at=now)
    with_applications = Account.objects.create(provider="mynumber_card", subject="s3", last_signed_in_at=old)
    AccountApplication.objects.create(account=with_applications, draft=None)

    out = StringIO()
    call_command("identity", "purge", stdout=out)
    assert "メール確認コード 1 件、使用済みノンス 1 件、休眠した利用者 1 件を削除の対象です" in out.getvalue()
    assert Account.objects.count() == 3  # a dry run

    call_command("identity", "purge", "--apply", stdout=StringIO())
    assert list(EmailChallenge.objects.all()) == [fresh]
    assert list(UsedNonce.objects.all()) == [live_nonce]
    assert set(Account.objects.all()) == {active, with_applications}
    assert Draft.objects.count() == 0
