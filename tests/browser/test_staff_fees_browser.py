"""Staff pages for fees in a real browser at phone size, each checked with axe-core: the
fee panel on an application, asking for payment after review, a 減免 asked by one person
and decided by another, and the accountant's page. Enter in the reduction form's amount
only checks the input (a hidden default button comes first)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_payment_browser import _apply, fee_procedure  # noqa: F401
from tests.browser.test_survey_acceptance import STAFF_PASSWORD, sign_in
from tests.support.a11y import assert_accessible

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _staff(username: str, roles: list[tuple[str, str | None]]):
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import StaffRole
    from tenohira.catalog.models import Section

    user = get_user_model().objects.create_user(username, password=STAFF_PASSWORD, last_name=username, first_name="職員")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    for role, section in roles:
        StaffRole.objects.create(user=user, role=role, section=Section.objects.get(name=section) if section else None)
    return user


def test_fees_for_staff_and_the_accountant(chromium, live_server, fee_procedure, settings):  # noqa: F811
    from tenohira.payments.models import Assessment, Reduction
    from tests.browser.conftest import PHONE

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = live_server.url
    fee_procedure("after_review")
    base = live_server.url

    resident = chromium.new_context(**PHONE)
    page: Page = resident.new_page()
    _apply(page, base)
    page.get_by_role("button", name="送信する").click()
    expect(page.get_by_role("heading", name="申請を受け付けました")).to_be_visible()
    resident.close()
    assessment = Assessment.objects.select_related("submission").get()
    receipt = assessment.submission.receipt_number

    tanto = _staff("tanto", [("handler", "市民課")])
    kanri = _staff("kanri", [("section_admin", "市民課")])
    kaikei = _staff("kaikei", [("accountant", None)])

    for user, check in ((tanto, "handler"), (kanri, "approver"), (kaikei, "accountant")):
        context = chromium.new_context(**PHONE)
        context.set_default_timeout(15_000)
        staff_page = context.new_page()
        sign_in(staff_page, base, user)
        if check == "handler":
            staff_page.goto(f"{base}/staff/submissions/{receipt}/")
            expect(staff_page.get_by_role("heading", name="手数料")).to_be_visible()
            assert_accessible(staff_page, "the fee panel of an application")
            staff_page.get_by_role("button", name="支払いを依頼する（600円）").click()
            staff_page.wait_for_load_state("load")
            assessment.refresh_from_db()
            assert assessment.state == "awaiting_payment"
            staff_page.get_by_role("link", name="減免を申請").click()
            expect(staff_page.get_by_role("heading", name="減免を申請する")).to_be_visible()
            assert_accessible(staff_page, "the reduction form")
            staff_page.fill("#f-amount", "300")
            staff_page.press("#f-amount", "Enter")  # checks only: nothing is asked yet
            staff_page.wait_for_load_state("load")
            assert not Reduction.objects.exists()
            staff_page.fill("#f-reason", "生活保護の受給世帯のため")
            staff_page.get_by_role("button", name="減免を申請する").click()
            staff_page.wait_for_load_state("load")
            assert Reduction.objects.get().state == "pending"
        elif check == "approver":
            staff_page.goto(f"{base}/staff/payments/")
            expect(staff_page.get_by_text(receipt).first).to_be_visible()
            assert_accessible(staff_page, "the approvals list")
            staff_page.goto(f"{base}/staff/submissions/{receipt}/")
            staff_page.get_by_role("button", name="減免を承認").click()
            staff_page.wait_for_load_state("load")
            assert Reduction.objects.get().state == "approved"
            assessment.refresh_from_db()
            assert assessment.amount_due == 300
        else:
            staff_page.goto(f"{base}/staff/accounting/")
            expect(staff_page.get_by_role("heading", name="会計（消込・収納データ・日計表）")).to_be_visible()
            assert_accessible(staff_page, "the accountant's page")
        # Nothing pushes the page past the phone's width (wide tables scroll in their region).
        wide = staff_page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)
            .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
        assert staff_page.evaluate("document.documentElement.scrollWidth") <= 390, wide
        context.close()
