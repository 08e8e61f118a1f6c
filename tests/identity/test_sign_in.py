"""Sign-in with the card through the demo provider running as its own process, and every
failure of issue item 7: each gets a Japanese page saying what to do, a way back, and an
audit record without any token or personal data."""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from tenohira.audit.models import AuditRecord
from tenohira.core import residents
from tenohira.identity.models import Account, UsedNonce

pytestmark = pytest.mark.django_db


def identity_of(browser) -> dict | None:
    return browser.session.get(residents.SESSION_KEY)


def last_audit(action: str) -> AuditRecord:
    record = AuditRecord.objects.filter(action=action).order_by("-id").first()
    assert record is not None, f"no audit record {action}"
    return record


def test_sign_in_with_the_card_puts_the_four_items_in_the_session_and_returns(browser, driver, card):
    resident = card.residents()[0]
    response = driver.sign_in(browser, next_path="/apply/somewhere/", resident=resident["id"])
    assert response.status_code == 302
    assert response["Location"] == "/apply/somewhere/"
    identity = identity_of(browser)
    assert identity["provider"] == "mynumber_card"
    assert identity["level"] == residents.CARD_SIGNIN
    assert identity["issuer"] == card.issuer
    # 外字 as received, never replaced.
    assert identity["claims"]["name"] == resident["name"]
    assert identity["claims"]["address"] == resident["address"]
    assert identity["claims"]["birthdate"] == resident["birthdate"]
    assert identity["claims"]["gender"] == resident["gender"]
    assert len(identity["id_token_sha256"]) == 64
    account = Account.objects.get(provider="mynumber_card", subject=identity["subject"])
    assert identity["account_id"] == account.pk
    assert account.display_name == resident["name"]
    record = last_audit("identity.sign_in")
    assert record.target == f"account:{account.pk}"
    assert record.detail == {"provider": "mynumber_card", "level": "card_signin"}
    # A second sign-in is the same account (the pairwise subject is stable).
    driver.sign_in(browser, resident=resident["id"])
    assert Account.objects.filter(provider="mynumber_card").count() == 1


def test_the_chooser_offers_only_providers_meeting_the_level_and_says_which_is_the_standin(browser, card, settings):
    page = browser.get("/identity/sign-in/", {"level": "card_signin", "next": "/x/"})
    text = page.content.decode()
    assert page.status_code == 200
    assert "マイナンバーカードでログイン（デモ用の代替サービス）" in text
    assert "メールアドレスでログイン" not in text
    assert "no-store" in page["Cache-Control"]
    page = browser.get("/identity/sign-in/", {"level": "email", "next": "/x/"})
    assert "メールアドレスでログイン" in page.content.decode()
    assert "マイナンバーカードでログイン" in page.content.decode()  # the card proves more than an address


def test_next_must_be_a_local_path(browser, driver):
    for outside in ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]:
        back = driver.at_provider(driver.start(browser, next_path=outside))
        response = browser.get(driver.local(back))
        assert response.status_code == 302
        assert response["Location"] == "/"


def test_sign_out_forgets_the_identity(browser, driver):
    driver.sign_in(browser)
    assert identity_of(browser)
    response = browser.post("/identity/sign-out/")
    assert response.status_code == 200
    assert "ログアウトしました" in response.content.decode()
    assert identity_of(browser) is None
    assert last_audit("identity.sign_out")


def test_idle_resident_is_signed_out(browser, driver, settings):
    driver.sign_in(browser)
    session = browser.session
    identity = session[residents.SESSION_KEY]
    identity["last_seen"] = time.time() - settings.RESIDENT_IDLE_MINUTES * 60 - 5
    session[residents.SESSION_KEY] = identity
    session.save()
    page = browser.get("/identity/sign-in/", {"level": "card_signin"})
    assert "一定時間操作がなかったため" in page.content.decode()
    assert identity_of(browser) is None


# --- failures (issue item 7) ---


def assert_failure_page(response, status: int, words: str, back: str = "/"):
    text = response.content.decode()
    assert response.status_code == status, text[:400]
    assert words in text, AuditRecord.objects.order_by("-id").first().detail
    assert f'href="{back}"' in text
    assert "入力中の申請は、そのまま残っています" in text


def assert_audited_failure(reason: str):
    record = last_audit("identity.sign_in_failed")
    assert record.detail["reason"] == reason
    assert record.detail["provider"] == "mynumber_card"


def test_wrong_state_is_refused(browser, driver):
    back = driver.at_provider(driver.start(browser, next_path="/apply/a/"))
    query = parse_qs(urlsplit(back).query)
    response = browser.get("/identity/callback/mynumber_card/", {"code": query["code"][0], "state": "forged"})
    assert_failure_page(response, 400, "もう一度ログインしてください")
    assert_audited_failure("state")
    assert identity_of(browser) is None


def test_missing_state_is_refused(browser, driver):
    back = driver.at_provider(driver.start(browser))
    query = parse_qs(urlsplit(back).query)
    response = browser.get("/identity/callback/mynumber_card/", {"code": query["code"][0]})
    assert_failure_page(response, 400, "もう一度ログインしてください")
    assert_audited_failure("state")


def test_a_callback_used_twice_is_refused_the_second_time(browser, driver):
    back = driver.at_provider(driver.start(browser))
    assert browser.get(driver.local(back)).status_code == 302
    browser.post("/identity/sign-out/")
    again = browser.get(driver.local(back))
    assert_failure_page(again, 400, "もう一度ログインしてください")


@pytest.mark.parametrize(("fault", "reason", "words"), [
    ("replay_id_token", "replay", "同じログイン情報が二度使われました"),
    ("expired_id_token", "expired", "期限が過ぎていました"),
    ("bad_signature", "bad_signature", "署名を確認できませんでした"),
    ("wrong_issuer", "wrong_issuer", "想定していない認証サービス"),
    ("wrong_audience", "wrong_audience", "この市のサービスあてではない"),
])
def test_a_bad_id_token_is_refused_with_what_to_do(browser, driver, card, fault, reason, words):
    # A first sign-in, so that the provider has an earlier token to replay.
    driver.sign_in(browser)
    browser.post("/identity/sign-out/")
    back = driver.at_provider(driver.start(browser, next_path="/apply/b/"))
    card.fault(fault)
    response = browser.get(driver.local(back))
    assert_failure_page(response, 400, words, back="/apply/b/")
    assert_audited_failure(reason)
    assert identity_of(browser) is None


def test_the_same_id_token_is_never_accepted_twice(card, driver, browser):
    """The nonce of an accepted token is remembered (UsedNonce), across workers."""
    from tenohira.identity.errors import IdentityFailure
    from tenohira.identity.oidc import remember_nonce

    driver.sign_in(browser)
    assert UsedNonce.objects.filter(provider="mynumber_card").count() == 1
    used = UsedNonce.objects.get()
    with pytest.raises(IdentityFailure) as caught:
        # The same nonce again, as a replayed token that still carried it would.
        remember_nonce("mynumber_card", "x", time.time())
        remember_nonce("mynumber_card", "x", time.time())
    assert caught.value.code == "replay"
    assert used.expires_at > used.expires_at.__class__.now(used.expires_at.tzinfo)


def test_the_resident_pressing_cancel_at_the_provider(browser, driver):
    back = driver.at_provider(driver.start(browser, next_path="/apply/c/"), cancel=True)
    assert "error=access_denied" in back
    response = browser.get(driver.local(back))
    assert_failure_page(response, 200, "「やめる」が選ばれました", back="/apply/c/")
    assert_audited_failure("cancelled")


def test_provider_answering_503(browser, driver, card):
    back = driver.at_provider(driver.start(browser, next_path="/apply/d/"))
    card.fault("unavailable")
    response = browser.get(driver.local(back))
    assert_failure_page(response, 503, "時間をおいてもう一度お試しください", back="/apply/d/")
    assert_audited_failure("unavailable")


def test_provider_refusing_connections(browser, settings, card):
    from tenohira.identity.oidc import forget_cached

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.MYNUMBER_CARD_ISSUER = f"http://127.0.0.1:{port}"
    forget_cached()
    response = browser.post("/identity/sign-in/mynumber_card/start/", {"next": "/apply/e/"})
    assert_failure_page(response, 503, "認証サービスが応答しませんでした", back="/apply/e/")
    assert_audited_failure("unavailable")


def test_provider_not_answering_is_given_up_after_the_timeout(browser, settings, card):
    from tenohira.identity.oidc import forget_cached

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    held = []
    stop = threading.Event()

    def accept_and_say_nothing():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_say_nothing, daemon=True)
    thread.start()
    try:
        settings.MYNUMBER_CARD_ISSUER = f"http://127.0.0.1:{listener.getsockname()[1]}"
        settings.IDENTITY_HTTP_TIMEOUT = 0.5
        forget_cached()
        began = time.monotonic()
        response = browser.post("/identity/sign-in/mynumber_card/start/", {"next": "/apply/f/"})
        took = time.monotonic() - began
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert_failure_page(response, 503, "認証サービスが応答しませんでした", back="/apply/f/")
    assert took < 3
    record = last_audit("identity.sign_in_failed")
    assert record.detail == {"provider": "mynumber_card", "reason": "unavailable", "note": "timeout"}


def test_no_token_or_personal_data_in_audit_or_logs(browser, driver, card, caplog):
    resident = card.residents()[1]
    with caplog.at_level("DEBUG"):
        back = driver.at_provider(driver.start(browser), resident=resident["id"])
        browser.get(driver.local(back))
        identity = identity_of(browser)
        browser.post("/identity/sign-out/")
        card.fault("bad_signature")
        back = driver.at_provider(driver.start(browser), resident=resident["id"])
        browser.get(driver.local(back))
    code = parse_qs(urlsplit(back).query)["code"][0]
    audit = json.dumps([[r.action, r.target, r.detail] for r in AuditRecord.objects.all()], ensure_ascii=False)
    logs = caplog.text
    for secret in [code, identity["subject"], resident["name"], resident["address"], resident["birthdate"],
                   identity["id_token_sha256"]]:
        assert secret not in audit
        assert secret not in logs
