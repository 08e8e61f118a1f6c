"""A resident applies for 放課後児童クラブ on a phone, in a real Chromium, end to end.

The demo city's catalog is imported and the demo form HKC.json published through the real
services; pytest-django's live server serves the pages. The resident starts from the
catalog's procedure page, fills every step (two children through the group's add button,
a work certificate photographed as a JPEG, the address filled from the postal code),
checks the answers, submits, sees the 受付番号, downloads the 受付票 PDF and gets the
confirmation e-mail. With JavaScript every page passes axe-core; without JavaScript the
same flow completes (the address is filled by the server, conditional fields are shown
with a hint saying when they apply). The step pages must not scroll sideways at 320 px
nor at 200% zoom.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

# See tests/browser/conftest.py: the sync Playwright API runs an event loop in the test
# thread, and the ORM calls made by fixtures and teardown must still be allowed.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    # Transactional: the live server reads the database from another thread.
    # serialized_rollback restores the rows migrations seed (life events, synonyms).
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SRC = Path(__file__).resolve().parents[2] / "src" / "tenohira"
DEMO_CATALOG = SRC / "catalog" / "demo" / "sample_city.csv"
HKC_FORM = SRC / "forms" / "demo" / "HKC.json"

# A mid-size phone (iPhone 12-15 class).
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "ja-JP",
    "timezone_id": "Asia/Tokyo",
}

RECEIPT_NUMBER = re.compile(r"^(\d{4})-HKC-(\d{6})$")
EMAIL = "hanako.yamada@example.jp"


@dataclass(frozen=True)
class Child:
    family: str
    given: str
    family_kana: str  # typed in hiragana on purpose: the server converts it
    given_kana: str
    birth_date: str
    school: str
    grade: int  # 1..6 (the choice's index + 1)
    club: int  # index of the club choice

    @property
    def name(self) -> str:
        return f"{self.family} {self.given}"


CHILDREN = [
    Child("山田", "陽翔", "やまだ", "はると", "平成28年5月10日", "サンプル市立中央小学校", 3, 0),
    Child("山田", "結菜", "やまだ", "ゆいな", "2018-04-02", "サンプル市立中央小学校", 1, 0),
]
GUARDIAN = ("山田", "花子", "やまだ", "はなこ")
EMPLOYER = "株式会社サンプル商事 駅前店"


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def hkc():
    """The demo catalog, and 放課後児童クラブ入所申請 published for procedure HKC."""
    from tenohira.catalog.models import Procedure
    from tenohira.catalog.services import import_catalog
    from tenohira.forms.services import publish

    import_catalog(DEMO_CATALOG)
    procedure = Procedure.objects.get(code="HKC")
    version, _created = publish(procedure, json.loads(HKC_FORM.read_text(encoding="utf-8")))
    return version


@pytest.fixture
def jpeg() -> bytes:
    """A small but real JPEG photo (what the server sniffs is the content, not the name)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (240, 320), "white")
    draw = ImageDraw.Draw(image)
    for y in range(20, 300, 24):
        draw.line([(20, y), (220, y)], fill="black", width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=70)
    data = buffer.getvalue()
    assert data[:4] == b"\xff\xd8\xff\xe0", data[:4]
    return data


def _context(chromium, **overrides):
    context = chromium.new_context(**{**PHONE, **overrides}, accept_downloads=True)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def phone_page(chromium):
    context = _context(chromium)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_page_without_js(chromium):
    context = _context(chromium, java_script_enabled=False)
    yield context.new_page()
    context.close()


# --- checks ------------------------------------------------------------------------------


def assert_accessible(page: Page, where: str) -> None:
    """axe-core on the page as rendered; any violation fails, listing what and where."""
    violations = Axe().run(page).response["violations"]
    report = [
        f"{v['id']} [{v.get('impact')}] {v['description']} ({v.get('helpUrl', '')})\n"
        + "\n".join(f"    at {n['target']}: {n.get('failureSummary', '')}" for n in v["nodes"])
        for v in violations
    ]
    assert not violations, (
        f"axe-core found {len(violations)} violation(s) on {where} ({page.url}):\n" + "\n".join(report)
    )


def assert_styled(page: Page) -> None:
    """The page finished loading and site.css applies. A click on a submit button starts a
    navigation, and the new document can be queried before its stylesheet has loaded: an
    unstyled page would fail the layout check, or pass axe's contrast check, for the wrong
    reason."""
    page.wait_for_load_state("load")
    header = page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor")
    assert header == "rgb(0, 23, 193)", f"site.css not applied on {page.url} (header background {header})"


def assert_no_horizontal_scroll(page: Page, width: int, where: str) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        # Name the elements that stick out, so a failure says what to fix.
        wide = page.evaluate(
            """(w) => [...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > w + 0.5)
                 .slice(0, 8)
                 .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                      + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().replace(/\\s+/g, '.') : '')
                      + ' right=' + Math.round(e.getBoundingClientRect().right))""",
            width,
        )
        pytest.fail(f"{where} ({page.url}) scrolls sideways at {width} px: scrollWidth={scroll_width}; {wide}")


class Resident:
    """One resident's walk through the form. `script` says whether the page's script
    (forms.js) runs; `axe` whether every page is checked with axe-core (axe needs
    JavaScript in the page, so a context with JavaScript disabled cannot be checked)."""

    def __init__(self, page: Page, base_url: str, *, script: bool, axe: bool, shots: Path | None = None):
        self.page = page
        self.base_url = base_url
        self.js = script
        self.axe = axe
        self.shots = shots
        self.checked: list[str] = []

    def check(self, where: str) -> None:
        assert_styled(self.page)
        if self.axe:
            assert_accessible(self.page, where)
            self.checked.append(where)

    def shot(self, name: str) -> None:
        if self.shots is not None:
            self.page.screenshot(path=self.shots / name, full_page=True)

    def heading(self, text: str) -> None:
        expect(self.page.get_by_role("heading", level=1)).to_have_text(text)

    def fill(self, element_id: str, value: str) -> None:
        self.page.locator(f"#{element_id}").fill(value)

    def choose(self, element_id: str) -> None:
        self.page.locator(f"#{element_id}").check()

    def next(self) -> None:
        self.page.get_by_role("button", name="次へ進む").click()

    # -- the pages, in order --

    def start_from_catalog(self) -> None:
        page = self.page
        page.goto(f"{self.base_url}/procedures/HKC/")
        self.heading("放課後児童クラブ入所申請")
        page.get_by_role("link", name="オンラインで申請する").click()
        page.wait_for_url("**/procedures/HKC/apply/")
        self.heading("放課後児童クラブ入所申請")
        expect(page.get_by_role("heading", level=2, name="用意するもの")).to_be_visible()
        expect(page.get_by_text("入力にかかる時間の目安: 約15分")).to_be_visible()
        self.check("the start page")
        page.get_by_role("button", name="申請を始める").click()
        page.wait_for_url(re.compile(r"/apply/[0-9a-f-]{36}/guardian/$"))
        self.heading("保護者（申請する方）について")
        expect(page.locator(".step-count")).to_have_text("ステップ 1 / 4")
        self.check("step 1 (guardian)")

    def guardian_with_errors_first(self) -> None:
        page = self.page
        # Sent empty: an error summary linking to each field, and the message by the field.
        self.next()
        expect(page).to_have_title(re.compile(r"^エラー: 保護者（申請する方）について"))
        summary = page.locator(".error-summary")
        expect(summary).to_be_visible()
        expect(summary.get_by_role("link", name="保護者の氏名を入力してください。")).to_have_attribute(
            "href", "#f-guardian_name__family"
        )
        expect(summary.get_by_role("link", name="お子さんとの続柄を選んでください。")).to_have_attribute(
            "href", "#f-relationship-0"
        )
        expect(page.locator("#f-guardian_name-error")).to_contain_text("保護者の氏名を入力してください。")
        expect(page.locator("#f-guardian_name")).to_have_attribute("aria-describedby", re.compile(r"\bf-guardian_name-error\b"))
        if self.js:
            expect(summary).to_be_focused()
        self.check("step 1 with errors")
        self.shot("step-errors-390.png")

        # What was typed is kept when another field is wrong.
        self.fill("f-guardian_name__family", GUARDIAN[0])
        self.next()
        expect(page.locator(".error-summary")).to_contain_text("保護者の氏名の名・セイ・メイを入力してください。")
        expect(page.locator("#f-guardian_name__family")).to_have_value(GUARDIAN[0])

        for part, value in zip(("family", "given", "family_kana", "given_kana"), GUARDIAN, strict=True):
            self.fill(f"f-guardian_name__{part}", value)
        self.choose("f-relationship-1")  # 母
        self.next()
        page.wait_for_url("**/contact/")
        self.heading("住所と連絡先")

    def contact(self) -> None:
        page = self.page
        self.check("step 2 (contact)")
        self.fill("f-address__postal_code", "９６３－８６０１")  # full-width, as a phone keyboard may type it
        if self.js:
            page.evaluate("window.samePage = true")
        page.get_by_role("button", name="住所を検索").click()
        # With JavaScript the fields are filled in place; without it the server answers the
        # button with the same page, filled. Either way the resident sees the address.
        expect(page.locator("#f-address__prefecture")).to_have_value("福島県")
        expect(page.locator("#f-address__city")).to_have_value("郡山市")
        expect(page.locator("#f-address__town")).to_have_value(re.compile(r"^朝日"))
        expect(page.locator("#f-address__postal_code")).to_have_value("963-8601")
        if self.js:
            assert page.evaluate("window.samePage === true"), "住所を検索 reloaded the page despite JavaScript"
            expect(page.locator("#f-address__street")).to_be_focused()
        self.fill("f-address__street", "１－２３－７")
        self.fill("f-address__building", "サンプルハイツ101")
        self.fill("f-phone", "090-1234-5678")
        self.fill("f-email", EMAIL)
        self.next()
        page.wait_for_url("**/child/")
        self.heading("入所を希望するお子さん")

    def fill_child(self, index: int, child: Child) -> None:
        prefix = f"f-children-{index}"
        self.fill(f"{prefix}-child_name__family", child.family)
        self.fill(f"{prefix}-child_name__given", child.given)
        self.fill(f"{prefix}-child_name__family_kana", child.family_kana)
        self.fill(f"{prefix}-child_name__given_kana", child.given_kana)
        self.fill(f"{prefix}-birth_date", child.birth_date)
        self.fill(f"{prefix}-school", child.school)
        self.choose(f"{prefix}-grade-{child.grade - 1}")
        self.choose(f"{prefix}-club-{child.club}")
        self.choose(f"{prefix}-period-0")

    def children(self) -> None:
        page = self.page
        self.check("step 3 (children)")
        expect(page.locator(".group__row")).to_have_count(1)
        self.fill_child(0, CHILDREN[0])
        page.get_by_role("button", name="もう1件追加").click()
        expect(page.locator(".group__row")).to_have_count(2)
        expect(page.get_by_role("group", name="お子さん2")).to_be_visible()
        # The first child's answers survived the round trip.
        expect(page.locator("#f-children-0-child_name__given")).to_have_value(CHILDREN[0].given)
        expect(page.locator("#f-children-0-grade-2")).to_be_checked()
        self.check("step 3 with two children")
        self.fill_child(1, CHILDREN[1])
        self.next()
        page.wait_for_url("**/work/")
        self.heading("保護者の就労について")

    def work(self, photo: bytes) -> None:
        page = self.page
        employer = page.locator("#f-employer")
        if self.js:
            # Mirrors the server: the work details apply only once はい is chosen.
            expect(employer).to_be_hidden()
            expect(page.locator("#f-not_working_reason")).to_be_hidden()
        else:
            # Without scripts every conditional field is shown, saying when it applies.
            expect(employer).to_be_visible()
            expect(page.locator("#f-not_working_reason")).to_be_visible()
            expect(page.locator("#f-employer-hint")).to_contain_text("「保護者は就労していますか」で「はい」を選んだ場合に入力してください。")
            expect(page.locator("#f-not_working_reason-hint")).to_contain_text("「いいえ」を選んだ場合")
        self.check("step 4 (work)")
        self.choose("f-working-0")  # はい
        expect(employer).to_be_visible()
        if self.js:
            expect(page.locator("#f-not_working_reason")).to_be_hidden()
        self.check("step 4 with the work details shown")
        employer.fill(EMPLOYER)
        self.fill("f-work_days", "５")
        self.fill("f-work_hours", "月〜金 9:00〜17:00")
        page.locator("#f-work_certificate").set_input_files(
            files=[{"name": "就労証明書.jpg", "mimeType": "image/jpeg", "buffer": photo}]
        )
        self.next()
        page.wait_for_url("**/check/")
        self.heading("入力内容の確認")

    def consent(self) -> None:
        # On the check page, next to 送信: agreed to after reading the answers back.
        self.page.get_by_label("申請内容に誤りがないことを確認し、個人情報の利用目的に同意します").check()

    def check_answers(self) -> None:
        page = self.page
        main = page.locator("main")
        for child in CHILDREN:
            expect(main).to_contain_text(child.name)
        expect(main).to_contain_text("ヤマダ ハルト")  # hiragana became katakana
        expect(main).to_contain_text("ヤマダ ユイナ")
        expect(main).to_contain_text("山田 花子（ヤマダ ハナコ）")
        expect(main).to_contain_text("〒963-8601 福島県郡山市朝日")
        expect(main).to_contain_text("就労証明書就労証明書.jpg")  # the file is named, not just counted
        expect(main).to_contain_text(EMPLOYER)
        expect(main).to_contain_text("2016年5月10日")
        # The change link names its section for screen readers (変更: 入所を希望するお子さん).
        change = page.get_by_role("link", name=re.compile(r"^変更\s*:\s*入所を希望するお子さん$"))
        expect(change).to_have_attribute("href", re.compile(r"/child/\?return=check$"))
        self.check("the check-your-answers page")

    def submit(self) -> tuple[str, str]:
        page = self.page
        page.get_by_role("button", name="同意して送信する").click()
        page.wait_for_url("**/done/")
        self.heading("申請を受け付けました")
        number = page.locator(".receipt-number").inner_text().strip()
        match = RECEIPT_NUMBER.match(number)
        assert match, f"受付番号 {number!r} is not YYYY-HKC-NNNNNN"
        today = dt.datetime.now(ZoneInfo("Asia/Tokyo")).date()
        assert int(match.group(1)) == (today.year if today.month >= 4 else today.year - 1), number
        expect(page.get_by_text("受付番号", exact=True)).to_be_visible()
        secret = page.locator(".secret").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", secret), secret
        expect(page.locator("main")).to_contain_text(f"{EMAIL} に確認のメールを送りました。")
        self.check("the done page")
        self.shot("done-390.png")
        # The page a resident keeps open to copy the numbers must fit the narrowest phone
        # and 200% zoom too (195 CSS px: see LAYOUTS below).
        for width in (320, 195):
            page.set_viewport_size({"width": width, "height": 844})
            assert_no_horizontal_scroll(page, width, f"the done page at {width} px")
            self.shot(f"done-{width}.png")
        page.set_viewport_size(PHONE["viewport"])
        return number, secret

    def receipt_pdf_text(self, number: str) -> str:
        from pypdf import PdfReader

        with self.page.expect_download() as info:
            self.page.get_by_role("link", name="受付票（PDF）をダウンロード").click()
        download = info.value
        assert download.failure() is None, download.failure()
        assert download.suggested_filename == f"receipt-{number}.pdf"
        data = Path(download.path()).read_bytes()
        assert data.startswith(b"%PDF-"), data[:20]
        return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)

    def status(self, number: str, secret: str) -> None:
        page = self.page
        page.goto(f"{self.base_url}/status/")
        self.heading("申請状況の確認")
        self.check("the status form")
        page.get_by_label("受付番号").fill(number)
        page.get_by_label("確認コード").fill(secret.lower().replace("-", ""))  # forgiving input
        page.get_by_role("button", name="確認する").click()
        facts = page.locator("dl.facts")
        expect(facts).to_contain_text(number)
        expect(facts).to_contain_text("放課後児童クラブ入所申請")
        self.check("the status page")


def assert_received(number: str, pdf_text: str, mailbox) -> None:
    from tenohira.applications.models import Attachment, Submission

    # The receipt PDF holds the number and the answers, in Japanese, as extractable text.
    compact = re.sub(r"\s+", "", pdf_text)
    for expected in (number, "放課後児童クラブ入所申請", "受付票", *(c.name for c in CHILDREN),
                     "山田花子", "ヤマダハルト", "ヤマダユイナ", "福島県郡山市朝日", "サンプル市立中央小学校",
                     EMPLOYER, "就労証明書"):
        assert re.sub(r"\s+", "", expected) in compact, f"{expected!r} not in the receipt PDF text:\n{pdf_text}"

    # The confirmation e-mail went out after the commit, with the number but not the
    # answers (the children's names and the employer stay off mail servers).
    mails = [m for m in mailbox if number in m.subject + m.body]
    assert len(mails) == 1, [(m.to, m.subject) for m in mailbox]
    message = mails[0]
    assert message.to == [EMAIL]
    assert f"受付番号: {number}" in message.body
    for answer in (*(child.name for child in CHILDREN), EMPLOYER):
        assert answer not in message.body, message.body

    # Stored once, with the two children and the attachment.
    submission = Submission.objects.get(receipt_number=number)
    assert submission.channel == "online"
    assert [c["child_name"]["given"] for c in submission.answers["children"]] == [c.given for c in CHILDREN]
    assert Attachment.objects.filter(submission=submission, original_name="就労証明書.jpg").count() == 1


# --- tests -------------------------------------------------------------------------------


def test_apply_on_a_phone_with_two_children_and_a_photo(live_server, hkc, phone_page, jpeg, mailoutbox, tmp_path):
    resident = Resident(phone_page, live_server.url, script=True, axe=True, shots=tmp_path)
    resident.start_from_catalog()
    resident.guardian_with_errors_first()
    resident.contact()
    resident.children()
    resident.work(jpeg)
    resident.consent()
    resident.check_answers()
    number, secret = resident.submit()
    assert_received(number, resident.receipt_pdf_text(number), mailoutbox)
    assert secret in mailoutbox[0].body
    resident.status(number, secret)

    # Every page of the flow was checked with axe-core.
    assert len(resident.checked) == 12, resident.checked
    print(f"screenshots in {tmp_path}")


def test_the_same_application_without_javascript(live_server, hkc, phone_page_without_js, jpeg, mailoutbox):
    page = phone_page_without_js
    # JavaScript really is off in this context: an inline script does not run.
    page.set_content("<title>off</title><script>document.title = 'on'</script>")
    assert page.title() == "off"

    resident = Resident(page, live_server.url, script=False, axe=False)
    resident.start_from_catalog()
    resident.guardian_with_errors_first()
    resident.contact()
    resident.children()
    resident.work(jpeg)
    resident.consent()
    resident.check_answers()
    number, secret = resident.submit()
    assert_received(number, resident.receipt_pdf_text(number), mailoutbox)
    resident.status(number, secret)


def test_pages_as_rendered_without_the_script_pass_axe(live_server, hkc, phone_page, jpeg, mailoutbox):
    """What a resident without JavaScript gets (every conditional field shown with its
    hint, the server-side address button) checked with axe-core: the page's own script is
    refused by the browser, while axe can still be injected."""
    page = phone_page
    page.route("**/tenohira/js/forms.js", lambda route: route.abort())
    resident = Resident(page, live_server.url, script=False, axe=True)
    resident.start_from_catalog()
    resident.guardian_with_errors_first()
    resident.contact()
    resident.children()
    resident.work(jpeg)
    resident.consent()
    resident.check_answers()
    number, secret = resident.submit()
    assert_received(number, resident.receipt_pdf_text(number), mailoutbox)
    resident.status(number, secret)
    assert len(resident.checked) == 12, resident.checked


# 200% zoom: browser zoom multiplies every CSS length (px included) by 2, so the layout
# viewport measured in CSS pixels is halved: a 390 px phone at 200% lays the page out in
# 195 CSS px. A 195 px viewport is therefore exactly what the page must fit at 200% (the
# text, the borders, the paddings and the fixed-size inputs all grow together). Setting
# the root font-size to 200% instead would emulate text-only zoom, which leaves px lengths
# unchanged; we check that too, at 320 px (the narrowest phone, where text-only zoom by
# the OS font setting hurts most).
LAYOUTS = [
    pytest.param({"width": 320, "height": 640}, "", id="320px"),
    pytest.param({"width": 195, "height": 422}, "", id="390px-at-200pct-zoom"),
    pytest.param({"width": 320, "height": 640}, "200%", id="320px-with-200pct-text"),
]


@pytest.mark.parametrize(("viewport", "font_size"), LAYOUTS)
def test_step_pages_fit_narrow_screens_and_zoom(live_server, hkc, chromium, viewport, font_size, tmp_path):
    context = _context(chromium, viewport=viewport, device_scale_factor=2)
    try:
        page = context.new_page()
        width = viewport["width"]

        def fits(where: str) -> None:
            assert_styled(page)
            if font_size:
                page.evaluate(f"document.documentElement.style.fontSize = '{font_size}'")
            assert_no_horizontal_scroll(page, width, where)

        page.goto(f"{live_server.url}/procedures/HKC/apply/")
        fits("the start page")
        page.get_by_role("button", name="申請を始める").click()
        page.wait_for_url("**/guardian/")
        fits("step 1")
        page.get_by_role("button", name="次へ進む").click()
        expect(page.locator(".error-summary")).to_be_visible()
        fits("step 1 with errors")
        page.screenshot(path=tmp_path / "step-errors.png", full_page=True)
        draft_url = page.url.rsplit("/", 2)[0]
        for step in ("contact", "child", "work"):
            page.goto(f"{draft_url}/{step}/")
            expect(page.locator("form[data-form]")).to_be_visible()
            if step == "child":
                page.get_by_role("button", name="もう1件追加").click()
                expect(page.locator(".group__row")).to_have_count(2)
            if step == "work":
                page.locator("#f-working-0").check()
                expect(page.locator("#f-employer")).to_be_visible()
            fits(f"step {step}")
    finally:
        context.close()
