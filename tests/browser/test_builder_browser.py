"""フォーム作成 in a real Chromium at 390×844: a section administrator builds a 3-page form
with a condition and a computed fee from the browser, previews it at phone size, publishes
it, and the resident form at /procedures/<code>/apply/ then works with the condition.
Enter pressed in text inputs on the way must never remove anything.
"""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

STAFF_PASSWORD = "kuyakusho-Passw0rd-2026"  # noqa: S105 (test accounts only)


def totp_code(user) -> str:
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def clerk(settings, live_server):
    """A section administrator (所属管理者) of the section that issues certificates, whose
    procedure SHO has no form yet."""
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import Role, StaffRole
    from tenohira.catalog.models import Department, Procedure, Section

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = live_server.url
    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    Procedure.objects.create(code="SHO", section=section, name="証明書の郵送請求")
    user = get_user_model().objects.create_user("kanri", password=STAFF_PASSWORD, last_name="市民", first_name="管理")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=user, role=Role.SECTION_ADMIN, section=section)
    return user


def sign_in(page: Page, base: str, user) -> None:
    page.goto(f"{base}/staff/login/")
    page.get_by_label("ユーザー名", exact=True).fill(user.username)
    page.get_by_label("パスワード", exact=True).fill(STAFF_PASSWORD)
    page.get_by_label("確認コード（6桁）", exact=True).fill(totp_code(user))
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{base}/staff/**")


def working_copy():
    from tenohira.forms.models import FormDefinition

    return FormDefinition.objects.get(procedure__code="SHO").working_schema


def field_keys() -> list[str]:
    return [f["key"] for s in working_copy()["steps"] for f in s["fields"]]


def add_field(page: Page, step: str, label: str, type_label: str, *, enter: bool = False) -> None:
    page.locator(f"#f-type-{step}").select_option(label=type_label)
    page.locator(f"#f-label-{step}").fill(label)
    before = len(field_keys())
    if enter:  # Enter in the label: the hidden default (追加) is the form's first button
        page.locator(f"#f-label-{step}").press("Enter")
    else:
        page.locator(f"#step-{step}").get_by_role("button", name="項目を追加", exact=True).click()
    page.wait_for_load_state("load")
    expect(page.locator(".staff-messages")).to_contain_text(f"項目「{label}」を追加しました")
    assert len(field_keys()) == before + 1


def open_field(page: Page, base: str, key: str) -> None:
    page.goto(f"{base}/staff/forms/SHO/fields/{key}/")


def test_clerk_builds_previews_and_publishes_a_form_residents_can_use(live_server, clerk, phone: Page):
    base = live_server.url
    page = phone
    sign_in(page, base, clerk)
    page.goto(f"{base}/staff/forms/")
    expect(page.locator("[data-state=SHO]")).to_have_text("なし")
    page.locator("form:has(input[name=procedure][value=SHO])").get_by_role("button", name="新しいフォーム").click()
    page.wait_for_url(f"{base}/staff/forms/SHO/")

    # Page 1: a yes/no (added with Enter in the label) and a number.
    add_field(page, "step1", "郵送を希望しますか", "はい・いいえ", enter=True)
    add_field(page, "step1", "通数", "数値")
    page.locator("#f-step-title").fill("送付先")
    page.locator("#f-step-title").press("Enter")
    page.wait_for_load_state("load")
    page.locator("#f-step-title").fill("手数料")
    page.get_by_role("button", name="ページを追加").click()
    page.wait_for_load_state("load")
    steps = [s["key"] for s in working_copy()["steps"]]
    assert len(steps) == 3
    add_field(page, steps[1], "送付先の住所", "1行の文字")
    add_field(page, steps[2], "手数料", "計算した金額（手数料 など）")
    yesno, copies, address, fee = field_keys()

    # The first page's title: Enter in it saves (never removes the page).
    page.goto(f"{base}/staff/forms/SHO/steps/step1/")
    page.locator("#f-title").fill("請求の内容")
    page.locator("#f-title").press("Enter")
    page.wait_for_url(f"{base}/staff/forms/SHO/#step-step1")
    assert working_copy()["steps"][0]["title"] == "請求の内容" and len(working_copy()["steps"]) == 3

    # 通数: required, at least 1; Enter in the minimum saves.
    open_field(page, base, copies)
    page.locator("#f-required").check()
    page.locator("#f-min").fill("1")
    page.locator("#f-unit").fill("通")
    page.locator("#f-min").press("Enter")
    page.wait_for_load_state("load")
    stored = next(f for f in working_copy()["steps"][0]["fields"] if f["key"] == copies)
    assert stored["required"] is True and stored["min"] == 1

    # 郵送を希望しますか: required.
    open_field(page, base, yesno)
    page.locator("#f-required").check()
    page.get_by_role("button", name="保存", exact=True).click()
    page.wait_for_load_state("load")

    # Page 2 only when 郵送 is はい: the field picked, then its answers (shown by the script).
    page.goto(f"{base}/staff/forms/SHO/steps/{steps[1]}/")
    page.locator("#f-show_source").select_option(label="郵送を希望しますか")
    page.get_by_label("はい", exact=True).check()
    page.get_by_role("button", name="保存", exact=True).click()
    page.wait_for_load_state("load")
    assert working_copy()["steps"][1]["show_if"] == {"field": yesno, "equals": True}

    # The fee: 通数 × 300 yen.
    open_field(page, base, fee)
    page.locator("select[name=term_kind]").first.select_option(value="field")
    page.locator("select[name=term_field]").first.select_option(value=copies)
    page.locator("input[name=term_amount]").first.fill("300")
    page.locator("input[name=term_amount]").first.press("Enter")
    page.wait_for_load_state("load")
    fee_field = working_copy()["steps"][2]["fields"][0]
    assert fee_field["expression"] == {"mul": [{"field": copies}, 300]} and fee_field["format"] == "yen"

    # Inline label editing: click the label, type, Enter (saves through the script).
    page.goto(f"{base}/staff/forms/SHO/")
    page.locator(f"[data-label={address}]").click()
    inline = page.locator(".builder-inline-input")
    inline.fill("送付先の住所・宛名")
    inline.press("Enter")
    expect(page.locator(f"[data-label={address}]")).to_have_text("送付先の住所・宛名")
    page.wait_for_timeout(300)
    page.reload()
    expect(page.locator(f"[data-label={address}]")).to_have_text("送付先の住所・宛名")
    assert field_keys() == [yesno, copies, address, fee]  # nothing removed on the way
    expect(page.locator(".builder-problems")).to_have_count(0)

    # Preview at phone size, inside the editor: conditions applied, the fee computed.
    preview = page.frame_locator(".builder-preview__frame")
    preview.get_by_role("button", name="入力を消して始める").click()
    preview.get_by_role("link", name="申請を始める（入力を残したまま）").click()
    preview.get_by_label("はい", exact=True).check()
    preview.get_by_label("通数").fill("2")
    preview.get_by_label("通数").press("Enter")
    expect(preview.locator("h1")).to_have_text("送付先")
    preview.get_by_label("送付先の住所・宛名").fill("郡山市朝日1-23-7")
    preview.get_by_role("button", name="次へ進む").last.click()
    expect(preview.locator("h1")).to_have_text("手数料")
    expect(preview.locator("output")).to_have_text("600円")
    preview.get_by_role("button", name="次へ進む").last.click()
    expect(preview.locator("h1")).to_have_text("入力内容の確認")  # the same heading as the resident's check page
    expect(preview.get_by_text("プレビューのため、送信はできません。")).to_be_visible()
    frame_width = page.locator(".builder-preview__frame").evaluate("el => el.getBoundingClientRect().width")
    assert frame_width <= 390

    from tenohira.applications.models import Draft

    assert Draft.objects.count() == 0  # the preview stored nothing as a draft

    # Publish: the difference is shown first, then version 1.
    page.get_by_role("link", name="公開する").click()
    expect(page.locator(".builder-diff")).to_contain_text("新しいフォーム「証明書の郵送請求」（3ページ、4項目）を初めて公開します。")
    page.get_by_role("button", name="第1版として公開する").click()
    expect(page.locator(".staff-messages")).to_contain_text("第1版を公開しました")

    # The resident: いいえ skips the 送付先 page; はい shows it.
    resident = page.context.browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP")
    try:
        form = resident.new_page()
        form.goto(f"{base}/procedures/SHO/apply/")
        form.get_by_role("button", name="申請を始める").click()
        form.get_by_label("いいえ", exact=True).check()
        form.get_by_label("通数").fill("3")
        form.get_by_role("button", name="次へ進む").last.click()
        expect(form.locator("h1")).to_have_text("手数料")
        expect(form.locator("output")).to_have_text("900円")
        form.get_by_role("link", name="戻る").click()
        form.get_by_label("はい", exact=True).check()
        form.get_by_role("button", name="次へ進む").last.click()
        expect(form.locator("h1")).to_have_text("送付先")
        form.get_by_label("送付先の住所・宛名").fill("郡山市朝日1-23-7")
        form.get_by_role("button", name="次へ進む").last.click()
        form.get_by_role("button", name="次へ進む").last.click()
        expect(form.locator("main")).to_contain_text("郡山市朝日1-23-7")
        form.get_by_role("button", name="送信する").click()
        expect(form.locator("main")).to_contain_text("受付番号")
    finally:
        resident.close()
