"""住民票の写し等の交付請求 on a phone (390×844) with the My Number card, end to end in a
real browser: the demo identity provider runs as its own process; the resident signs in
with the card at the stand-in, finds the four items filled in, signs the request at the
stand-in and submits; staff see 「電子署名: 検証済み」, and once the stored answers are
changed behind the application's back, the same page says the signature no longer holds."""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from tenohira.platform.demo import DEMO_FORMS
from tests.browser.test_backoffice_browser import make_user
from tests.browser.test_backoffice_browser import sign_in as staff_sign_in
from tests.support.idp import DEMO_PIN, DEMO_SIGNING_PASSWORD, start_identity_provider

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

RECEIPT_NUMBER = re.compile(r"^\d{4}-HJC-\d{6}$")


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    provider = start_identity_provider(tmp_path_factory)
    yield provider
    provider.stop()


@pytest.fixture
def city(settings, live_server, idp, tmp_path):
    """市民課 with its handler, the demo's 住民票 form, and the stand-in as the card's provider."""
    from tenohira.backoffice.models import Role
    from tenohira.catalog.models import Department, Identity, Procedure, Section
    from tenohira.forms.services import publish
    from tenohira.identity import oidc, revocation

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = live_server.url
    key_pem, client_id = idp.make_client([f"{live_server.url}/identity/callback/mynumber_card/",
                                          f"{live_server.url}/identity/sign/callback/"])
    key_file = tmp_path / "client-key.pem"
    key_file.write_text(key_pem)
    settings.MYNUMBER_CARD_ISSUER = idp.issuer
    settings.MYNUMBER_CARD_CLIENT_ID = client_id
    settings.MYNUMBER_CARD_PRIVATE_KEY_FILE = str(key_file)
    settings.MYNUMBER_CARD_TRUSTED_CA_FILE = str(idp.root_pem)
    settings.MYNUMBER_CARD_REVOCATION = "crl"
    settings.MYNUMBER_CARD_STANDIN = True
    oidc.forget_cached()
    revocation.forget_cached()

    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    procedure = Procedure.objects.create(code="HJC", section=section, name="住民票の写し等の交付請求",
                                         processing_days=5, identity=Identity.CARD_SIGNIN)
    publish(procedure, json.loads((DEMO_FORMS / "HJC.json").read_text(encoding="utf-8")))
    yield make_user("shimin", "市民", "担当", Role.HANDLER, section)
    oidc.forget_cached()
    revocation.forget_cached()


def next_step(page: Page, url_end: str) -> None:
    page.get_by_role("button", name="次へ進む").click()
    page.wait_for_url(f"**/{url_end}")


def test_a_resident_signs_in_and_signs_with_the_card_and_staff_see_the_signature_verified(
    city, idp, live_server, phone, chromium
):
    from tenohira.applications.models import Submission

    page, base = phone, live_server.url
    page.goto(f"{base}/procedures/HJC/apply/")
    expect(page.get_by_role("heading", level=1)).to_have_text("住民票の写し等の交付請求")
    page.get_by_role("link", name="マイナンバーカードでログインして申請を始める").click()
    # A chooser with the card's button (the only way in for this procedure).
    page.wait_for_url("**/identity/sign-in/**")
    page.get_by_role("button", name=re.compile("マイナンバーカード")).click()
    page.wait_for_url(re.compile(re.escape(idp.url) + r"/auth\?"))
    expect(page.locator("body")).to_contain_text("これはデモ用の代替サービスです。本物のデジタル認証アプリではありません。")
    page.get_by_label("髙橋 𠮷郎").check()
    page.get_by_label("利用者証明用電子証明書の暗証番号（数字4桁）").fill(DEMO_PIN)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{base}/procedures/HJC/apply/")
    page.get_by_role("button", name="申請を始める").click()
    page.wait_for_url(re.compile(r"/apply/[0-9a-f-]{36}/certificate/$"))

    page.get_by_label("住民票の写し（世帯全員）").check()
    page.locator("#f-copies").fill("1")
    next_step(page, "contents/")
    next_step(page, "use/")
    page.locator('input[name="purpose"]').first.check()
    next_step(page, "applicant/")
    # The four items from the card, 外字 intact.
    expect(page.locator("#f-applicant_name__family")).to_have_value("髙橋")
    expect(page.locator("#f-applicant_name__given")).to_have_value("𠮷郎")
    expect(page.locator("main")).to_contain_text("「髙」「𠮷」")  # 外字 kept and reported
    # The card holds no furigana: the resident adds it.
    page.locator("#f-applicant_name__family_kana").fill("タカハシ")
    page.locator("#f-applicant_name__given_kana").fill("キチロウ")
    next_step(page, "contact/")
    assert "サンプル第二コーポラス朝日" in " ".join(
        page.locator("input[id^='f-address']").evaluate_all("inputs => inputs.map(i => i.value)"))
    page.locator("#f-phone").fill("090-1234-5678")
    page.locator("#f-email").fill("kichiro@example.jp")
    next_step(page, "receive/")
    page.locator('input[name="delivery"][value="mail"]').check()
    next_step(page, "check/")

    # Postal delivery needs the card's signature before sending.
    page.get_by_role("button", name=re.compile("署名")).first.click()
    page.wait_for_url(re.compile(re.escape(idp.url) + r"/sign/authorize\?"))
    expect(page.locator("body")).to_contain_text("髙橋 𠮷郎")
    page.get_by_label("署名用電子証明書のパスワード（英数字6〜16文字）").fill(DEMO_SIGNING_PASSWORD)
    page.get_by_role("button", name="署名する").click()
    page.wait_for_url("**/check/")
    consent = page.get_by_role("checkbox")
    if consent.count():
        consent.first.check()
    page.get_by_role("button", name=re.compile("送信する")).click()
    page.wait_for_url("**/done/")
    number = page.locator(".receipt-number").inner_text().strip()
    assert RECEIPT_NUMBER.match(number), number

    submission = Submission.objects.get(receipt_number=number)
    assert submission.signature["provider"] == "mynumber_card"
    assert submission.identity["claims"]["name"] == "髙橋 𠮷郎"

    context = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="ja-JP", timezone_id="Asia/Tokyo")
    staff = context.new_page()
    try:
        staff_sign_in(staff, base, city)
        staff.goto(f"{base}/staff/submissions/{number}/")
        expect(staff.locator("#signature-title")).to_have_text(re.compile(r"電子署名:\s*検証済み"))
        expect(staff.locator("main")).to_contain_text("髙橋 𠮷郎")

        # Someone changes the stored answers behind the application's back.
        answers = json.loads(json.dumps(submission.answers))
        answers["copies"] = 9 if answers.get("copies") != 9 else 8
        Submission.objects.filter(pk=submission.pk).update(answers=answers)
        staff.reload()
        expect(staff.locator("#signature-title")).to_have_text(re.compile(r"電子署名:\s*検証できません"))
        expect(staff.locator("main")).to_contain_text("署名の後に申請内容が変更されています")
    finally:
        context.close()
