"""「保存して後で続ける」 on a phone: the e-mailed link opens the draft again and again, in
the same browser and in a fresh one; a browser without the link is offered a new e-mail
to the address already given, instead of a cookie error."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SRC = Path(__file__).resolve().parents[2] / "src" / "tenohira"
EMAIL = "hanako.yamada@example.jp"


@pytest.fixture
def hkc():
    from tenohira.catalog.models import Procedure
    from tenohira.catalog.services import import_catalog
    from tenohira.forms.services import publish

    import_catalog(SRC / "catalog" / "demo" / "sample_city.csv")
    schema = json.loads((SRC / "forms" / "demo" / "HKC.json").read_text(encoding="utf-8"))
    return publish(Procedure.objects.get(code="HKC"), schema)[0]


def resume_link(mailbox, index: int = -1) -> str:
    match = re.search(r"https?://\S+/resume/[^/\s]+/", mailbox[index].body)
    assert match, mailbox[index].body
    return match.group(0)


def test_a_resume_link_works_twice_and_in_a_fresh_browser(live_server, hkc, phone, chromium, mailoutbox):
    page = phone
    page.goto(f"{live_server.url}/procedures/HKC/apply/")
    page.get_by_role("button", name="申請を始める").click()
    page.wait_for_url("**/guardian/")
    draft_url = page.url.rsplit("/", 2)[0]
    for part, value in (("family", "山田"), ("given", "花子"), ("family_kana", "ヤマダ"), ("given_kana", "ハナコ")):
        page.locator(f"#f-guardian_name__{part}").fill(value)
    page.locator("#f-relationship-1").check()
    page.get_by_role("button", name="次へ進む").click()
    page.wait_for_url("**/contact/")
    page.locator("#f-address__postal_code").fill("963-8601")
    page.locator("#f-phone").fill("090-1234-5678")
    page.locator("#f-email").fill(EMAIL)
    page.get_by_role("button", name="保存して後で続ける").click()
    page.wait_for_url("**/save/")
    # The address given in the form is already there.
    expect(page.locator("#f-email")).to_have_value(EMAIL)
    expect(page.locator(".status-link a")).to_have_attribute("href", "/status/")
    page.get_by_role("button", name="リンクを送る").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("リンクを送りました")
    link = resume_link(mailoutbox)

    # Twice in the same browser: both times the draft opens where the resident stopped.
    for _time in range(2):
        page.goto(link)
        page.wait_for_url("**/contact/")
        expect(page.locator("#f-email")).to_have_value(EMAIL)
        expect(page.locator("#f-phone")).to_have_value("090-1234-5678")

    # A fresh browser (the mail app's own, another phone): the same link works.
    other = chromium.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP", timezone_id="Asia/Tokyo")
    try:
        fresh = other.new_page()
        fresh.goto(link)
        fresh.wait_for_url("**/contact/")
        expect(fresh.locator("#f-address__postal_code")).to_have_value("963-8601")
        fresh.goto(f"{draft_url}/guardian/")
        expect(fresh.locator("#f-guardian_name__given")).to_have_value("花子")
    finally:
        other.close()

    # The first browser still goes on after the other one opened the link.
    page.goto(f"{draft_url}/guardian/")
    expect(page.locator("#f-guardian_name__family")).to_have_value("山田")

    # A browser without the link: no cookie error, a new e-mail to the same address.
    stranger_context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP")
    try:
        stranger = stranger_context.new_page()
        stranger.goto(f"{draft_url}/contact/")
        expect(stranger.get_by_role("heading", level=1)).to_have_text("このブラウザでは、この申請を開けません")
        expect(stranger.locator("main")).not_to_contain_text(EMAIL)
        expect(stranger.locator("main")).to_contain_text("h" + "*" * 12 + "@example.jp")  # hanako.yamada, masked
        stranger.get_by_role("button", name="リンクをメールで受け取る").click()
        expect(stranger.get_by_role("heading", level=1)).to_have_text("リンクを送りました")
    finally:
        stranger_context.close()
    assert len(mailoutbox) == 2 and mailoutbox[1].to == [EMAIL]
    assert resume_link(mailoutbox, 1) == link  # the same link: nobody is cut off
