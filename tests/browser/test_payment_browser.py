"""Paying a fee on a phone (390×844), in a real Chromium, against the demo payment service.

The demo payment service is a real separate process speaking Stripe's API
(tests/support/payment_service.py); Tenohira's card provider (payments.contrib.stripe_card)
talks to it over HTTP and it sends signed webhooks to pytest-django's live server. A
small form with a computed fee (2 copies × ¥300) is published for a procedure whose fee is
paid by card.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.support.a11y import assert_accessible
from tests.support.payment_service import (  # noqa: F401
    CARD_DECLINED,
    CARD_OK,
    payment_service,
    payment_service_process,
)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCHEMA = {
    "title": "住民票の写しの交付申請",
    "email_field": "email",
    "steps": [
        {"key": "about", "title": "申請する方について", "fields": [
            {"key": "full_name", "type": "name", "label": "氏名", "required": True},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
            {"key": "wants_copy", "type": "yesno", "label": "写しが必要ですか", "required": True},
        ]},
        {"key": "copy", "title": "写し", "show_if": {"field": "wants_copy", "equals": True}, "fields": [
            {"key": "copies", "type": "number", "label": "通数", "min": 1, "max": 10, "required": True},
            {"key": "fee", "type": "computed", "label": "手数料", "format": "yen",
             "expression": {"mul": [{"field": "copies"}, 300]}},
        ]},
    ],
}


@pytest.fixture
def fee_procedure(db):
    def make(timing="at_submission"):
        from tenohira.catalog.models import Department, Procedure, Section
        from tenohira.forms.services import publish
        from tenohira.payments.models import FeeItem, FeeSetting

        department, _ = Department.objects.get_or_create(name="市民部")
        section, _ = Section.objects.get_or_create(department=department, name="市民課")
        procedure = Procedure.objects.create(code="FEE", section=section, name="住民票の写しの交付申請")
        publish(procedure, SCHEMA)
        item = FeeItem.objects.create(code="1401", name="住民票等交付手数料")
        FeeSetting.objects.create(procedure=procedure, timing=timing, fee_item=item, providers=["stripe_card"])
        return procedure
    return make


@pytest.fixture
def card(payment_service, live_server):  # noqa: F811
    payment_service.control(webhook_url=f"{live_server.url}/api/v1/payments/webhooks/stripe_card")
    return payment_service


def _apply(page: Page, base: str) -> None:
    page.goto(f"{base}/procedures/FEE/apply/")
    page.get_by_role("button", name="申請を始める").click()
    page.fill('[name="full_name__family"]', "山田")
    page.fill('[name="full_name__given"]', "花子")
    page.fill('[name="full_name__family_kana"]', "ヤマダ")
    page.fill('[name="full_name__given_kana"]', "ハナコ")
    page.fill('[name="email"]', "hanako@example.jp")
    page.check('input[name="wants_copy"][value="yes"]', force=True)
    page.locator('.button[name="action"][value="continue"]').click()
    page.fill('[name="copies"]', "2")
    page.locator('.button[name="action"][value="continue"]').click()
    expect(page.locator("h1")).to_contain_text("確認")


def _assessment():
    from tenohira.payments.models import Assessment

    return Assessment.objects.select_related("submission").get()


def _pay_by_card(page: Page, number: str) -> None:
    page.get_by_role("button", name="クレジットカードで支払う").click()
    expect(page.get_by_text("デモ用の決済サービス").first).to_be_visible()
    page.fill("#card_number", number)
    page.get_by_role("button", name="600円を支払う").click()


def _wait_for(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_pay_at_submission(phone, live_server, card, fee_procedure):
    fee_procedure()
    _apply(phone, live_server.url)
    expect(phone.get_by_text("手数料 600円は、送信の後にこの画面からお支払いいただきます（クレジットカード）。")).to_be_visible()
    assert_accessible(phone, "the check page with the fee notice")
    phone.get_by_role("button", name="送信する").click()
    expect(phone.get_by_role("heading", name="申請を受け付けました")).to_be_visible()
    expect(phone.get_by_text("手数料 600円（住民票等交付手数料）")).to_be_visible()
    assert_accessible(phone, "the done page with the fee panel")
    phone.get_by_role("link", name="お支払いへ進む").click()
    expect(phone.get_by_role("heading", name="手数料のお支払い")).to_be_visible()
    assert_accessible(phone, "the pay page")
    _pay_by_card(phone, CARD_OK)
    expect(phone.get_by_role("heading", name="お支払いが済みました")).to_be_visible()
    assert_accessible(phone, "the page after paying")
    assessment = _assessment()
    assert assessment.state == "paid"
    with phone.expect_download() as download:
        phone.get_by_role("link", name="領収書（PDF）をダウンロード").click()
    assert download.value.suggested_filename == f"ryoshusho-{assessment.number}.pdf"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390


def test_payment_requested_after_review_and_paid(phone, live_server, card, fee_procedure, django_user_model):
    from tenohira.payments.services import open_assessment_request

    fee_procedure(timing="after_review")
    _apply(phone, live_server.url)
    expect(phone.get_by_text("手数料 600円は、審査の後にお支払いのご案内をお送りします（クレジットカード）。")).to_be_visible()
    phone.get_by_role("button", name="送信する").click()
    expect(phone.get_by_text("審査の後に、お支払いのご案内をメールでお送りします。")).to_be_visible()
    assessment = _assessment()
    assert assessment.state == "assessed"
    clerk = django_user_model.objects.create_user("clerk", password="x")
    open_assessment_request(assessment, user=clerk)
    message = next(m for m in mail.outbox if "お支払いのお願い" in m.subject)
    link = next(line for line in message.body.splitlines() if "/pay/" in line)
    phone.goto(live_server.url + link[link.index("/pay/"):])
    expect(phone.get_by_text("お支払いの期限")).to_be_visible()
    _pay_by_card(phone, CARD_OK)
    expect(phone.get_by_role("heading", name="お支払いが済みました")).to_be_visible()
    assert _assessment().state == "paid"


def test_declined_card_then_paid_on_retry(phone, live_server, card, fee_procedure):
    fee_procedure()
    _apply(phone, live_server.url)
    phone.get_by_role("button", name="送信する").click()
    phone.get_by_role("link", name="お支払いへ進む").click()
    card.control(decline_next=True)
    _pay_by_card(phone, CARD_DECLINED)
    expect(phone.get_by_text("カードが使えませんでした").first).to_be_visible()
    phone.get_by_role("link", name="支払わずに申請したサイトに戻る").click()
    expect(phone.get_by_role("heading", name="手数料のお支払い")).to_be_visible()
    assert _assessment().state == "awaiting_payment"
    _pay_by_card(phone, CARD_OK)
    expect(phone.get_by_role("heading", name="お支払いが済みました")).to_be_visible()
    assessment = _assessment()
    assert assessment.state == "paid"
    states = sorted(assessment.payments.values_list("state", flat=True))
    assert states == ["cancelled", "captured"]  # the first session was closed before the second opened


def test_browser_closed_after_paying_the_webhook_settles_it(chromium, live_server, card, fee_procedure):
    from tests.browser.conftest import PHONE

    fee_procedure()
    context = chromium.new_context(**PHONE)
    page = context.new_page()
    _apply(page, live_server.url)
    page.get_by_role("button", name="送信する").click()
    page.get_by_role("link", name="お支払いへ進む").click()
    card.control(no_redirect=True, webhook_twice=True)
    _pay_by_card(page, CARD_OK)
    context.close()  # the resident never comes back
    assert _wait_for(lambda: _assessment().state == "paid"), card.deliveries()
    assessment = _assessment()
    assert assessment.payments.get().state == "captured"
    assert assessment.payments.get().events.filter(to_state="captured").count() == 1


def test_browser_closed_without_a_webhook_polling_settles_it(chromium, live_server, payment_service,  # noqa: F811
                                                             fee_procedure):
    from tenohira.payments.services import poll_open_payments
    from tests.browser.conftest import PHONE

    fee_procedure()
    payment_service.control(no_redirect=True, webhook_url="")  # no webhook reaches the site
    context = chromium.new_context(**PHONE)
    page = context.new_page()
    _apply(page, live_server.url)
    page.get_by_role("button", name="送信する").click()
    page.get_by_role("link", name="お支払いへ進む").click()
    _pay_by_card(page, CARD_OK)
    expect(page.get_by_text("デモ用の決済サービス").first).to_be_visible()
    context.close()
    assert _assessment().state == "awaiting_payment"
    assert poll_open_payments(now=timezone.now() + dt.timedelta(minutes=2)) == 1
    assert _assessment().state == "paid"
