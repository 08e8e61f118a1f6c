"""書かない窓口 for a resident without e-mail, in a real Chromium, end to end.

A handler (担当) signs in with password and TOTP code, starts the demo form 犬の登録 (INU)
at the counter for a walk-in resident, fills it leaving the e-mail empty, chooses
マイナンバーカード as the identity document checked and submits. The receipt PDF carries
the 受付番号 and the 確認コード (read back with pdftotext), the resident follows the
application on the status page with them, nothing is sent by e-mail, and the staff detail
page shows the identity document on the history. Run on a 390×844 phone-sized screen
(a tablet at the counter is no wider) and on a desktop; axe-core checks the check page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

# See tests/browser/conftest.py: the sync Playwright API runs an event loop in this thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

STAFF_PASSWORD = "kuyakusho-Passw0rd-2026"  # noqa: S105 (test accounts only)
DEMO_FORM = Path(__file__).resolve().parents[2] / "src" / "tenohira" / "forms" / "demo" / "INU.json"

SCREENS = {
    "phone-390": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
                  "has_touch": True, "locale": "ja-JP", "timezone_id": "Asia/Tokyo"},
    "desktop-1366": {"viewport": {"width": 1366, "height": 768}, "device_scale_factor": 1,
                     "locale": "ja-JP", "timezone_id": "Asia/Tokyo"},
}

# What the clerk types for the resident, by input id; an input a step does not have is
# skipped, so each step gets its own fields. The e-mail is left empty on purpose.
TYPED = {
    "#f-owner_name__family": "窓口", "#f-owner_name__given": "太郎",
    "#f-owner_name__family_kana": "マドグチ", "#f-owner_name__given_kana": "タロウ",
    "#f-address__postal_code": "963-8601", "#f-address__prefecture": "福島県",
    "#f-address__city": "郡山市", "#f-address__town": "朝日", "#f-address__street": "1-23-7",
    "#f-phone": "024-924-2011", "#f-email": "",
    "#f-dog_name": "ポチ", "#f-breed": "柴犬", "#f-colour": "茶",
    "#f-birth_date": "令和5年4月1日", "#f-rabies_date": "2024-04-10",
}
CHOSEN = ["#f-sex-0", "#f-same_as_owner-0", "#f-consent"]


def make_handler(section):
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import Role, StaffRole

    user = get_user_model().objects.create_user("madoguchi", password=STAFF_PASSWORD, last_name="窓口",
                                                first_name="担当")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=user, role=Role.HANDLER, section=section)
    return user


def totp_code(user) -> str:
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def handler(settings, live_server):
    """A handler of the section that registers dogs, with the demo form INU published."""
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms.services import publish

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = live_server.url
    department = Department.objects.create(name="保健福祉部")
    section = Section.objects.create(department=department, name="生活衛生課")
    procedure = Procedure.objects.create(code="INU", section=section, name="犬の登録", processing_days=7)
    publish(procedure, json.loads(DEMO_FORM.read_text(encoding="utf-8")))
    return make_handler(section)


def sign_in(page: Page, base: str, user) -> None:
    page.goto(f"{base}/staff/login/")
    page.get_by_label("ユーザー名", exact=True).fill(user.username)
    page.get_by_label("パスワード", exact=True).fill(STAFF_PASSWORD)
    page.get_by_label("確認コード（6桁）", exact=True).fill(totp_code(user))
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{base}/staff/")


def fill_the_form(page: Page) -> str:
    """Every step of the form as the clerk fills it, until the check page; returns the
    e-mail field's label as shown."""
    email_label = ""
    for _ in range(12):
        if page.url.endswith("/check/"):
            return email_label
        if page.locator("#f-email").count():
            email_label = page.locator("label[for=f-email]").inner_text().strip()
        for selector, value in TYPED.items():
            if page.locator(selector).count():
                page.locator(selector).fill(value)
        for selector in CHOSEN:
            if page.locator(selector).count():
                page.locator(selector).check()
        page.get_by_role("button", name="次へ進む").click()
        page.wait_for_load_state("load")
        errors = page.locator(".error-summary")
        assert not errors.count(), f"{page.url}: {errors.inner_text()}"
    pytest.fail(f"the check page was not reached: {page.url}")


def assert_fits(page: Page, where: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{where} is {overflow}px wider than the screen"


def assert_accessible(page: Page, where: str) -> None:
    violations = Axe().run(page).response["violations"]
    assert not violations, f"axe-core on {where}: " + "; ".join(
        f"{v['id']} at {[n['target'] for n in v['nodes']]}" for v in violations
    )


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_counter_entry_without_email_prints_the_status_code_and_records_the_identity_document(
    live_server, handler, chromium, mailoutbox, tmp_path, screen
):
    from tenohira.applications.models import Submission
    from tenohira.core.models import OutboxMessage

    assert shutil.which("pdftotext"), "pdftotext is required: apt-get install poppler-utils"
    base = live_server.url
    context = chromium.new_context(**SCREENS[screen])
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, base, handler)

        page.goto(f"{base}/staff/counter/")
        page.get_by_role("button", name=re.compile(r"^犬の登録\s*の入力を始める$")).click()
        page.wait_for_url(re.compile(r"/staff/counter/[0-9a-f-]{36}/\w+/$"))
        assert fill_the_form(page) == "メールアドレス"  # offered, and not marked 必須

        expect(page.locator("main")).to_contain_text("ポチ")
        expect(page.locator("main")).to_contain_text("受付票（確認コードつき）を必ずお渡しください")
        # Submitting without choosing the document is refused with the reason, nothing stored.
        page.get_by_role("button", name="窓口で受け付ける").click()
        page.wait_for_load_state("load")
        expect(page.locator(".error-summary")).to_contain_text("確認した本人確認書類を選んでください")
        assert not Submission.objects.exists()
        assert_fits(page, "the check page")
        assert_accessible(page, "the counter check page with an error")

        page.get_by_label("マイナンバーカード", exact=True).check()
        page.get_by_role("button", name="窓口で受け付ける").click()
        page.wait_for_url(re.compile(r"/staff/counter/receipt/[\w-]+/$"))
        number = page.locator(".receipt-number").inner_text().strip()
        secret = page.locator(".secret").inner_text().strip()
        assert re.fullmatch(r"\d{4}-INU-\d{6}", number), number
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", secret), secret
        expect(page.locator("main")).to_contain_text("メールでのお知らせはありません")
        assert_fits(page, "the receipt page")

        # The receipt PDF, as the clerk's browser gets it, carries the number and the code.
        href = page.get_by_role("link", name="受付票（PDF）を開く").get_attribute("href")
        pdf = context.request.get(f"{base}{href}")
        assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
        target = tmp_path / "receipt.pdf"
        target.write_bytes(pdf.body())
        text = subprocess.run(["pdftotext", "-layout", str(target), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert number in text and secret in text and "確認コード" in text, text

        # The resident follows it without e-mail: the status page, with the printed pair.
        resident = context.new_page()
        resident.goto(f"{base}/status/")
        resident.locator("#f-receipt").fill(number)
        resident.locator("#f-secret").fill(secret)
        resident.get_by_role("button", name="確認する", exact=True).click()
        resident.wait_for_load_state("load")
        expect(resident.locator("main")).to_contain_text("受付")
        expect(resident.locator("main")).to_contain_text("犬の登録")
        resident.close()

        # The staff detail page and its history show the document checked.
        page.goto(f"{base}/staff/submissions/{number}/")
        expect(page.locator(".identity-document")).to_have_text("マイナンバーカード")
        history = page.locator("section[aria-labelledby=history-title]")
        expect(history).to_contain_text("本人確認: マイナンバーカード（確認した職員: 窓口 担当）")

        submission = Submission.objects.get(receipt_number=number)
        assert submission.email == "" and submission.channel == "counter"
        assert submission.identity_check.document == "mynumber_card"
        assert not OutboxMessage.objects.exists() and not mailoutbox
    finally:
        context.close()
