"""The back office's 差戻し loop in a real Chromium, end to end (issue 4, first "Done when").

A resident applies on a phone through the real resident pages. A handler (担当) signs in
on a desktop with password and TOTP code, finds the application in the queue, starts the
review and returns ONE field (差戻し). The applicant follows the e-mailed link on the
phone, sees only that field, changes it and resubmits. An approver (決裁者) signs in, sees
the difference between the two versions and approves. The applicant's status page shows
承認 and the history; the auditor's log shows each step; `tenohira audit verify` passes,
then names the record altered directly in the database.

Login, queue and detail pages (and the resident's correction and status pages) are
checked with axe-core; any violation fails. Screenshots of the staff detail page and the
correction page go to $TENOHIRA_SHOTS when set (else the test's tmp_path).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

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

STAFF_PASSWORD = "kuyakusho-Passw0rd-2026"  # noqa: S105 (test accounts only)
EMAIL = "hanako.yamada@example.jp"
REASON_V1 = "児童手当を受け取るため"
REASON_V2 = "第2子が生まれたため、児童手当の認定を請求します"
NOTE = "どなたについての請求か、具体的に書いてください"
MESSAGE = "申請の理由が分かりにくいため、理由の欄だけを直して再提出してください。"
APPROVAL_COMMENT = "内容を確認し、認定しました。"
RECEIPT_NUMBER = re.compile(r"^\d{4}-BOA-\d{6}$")

# The small form of the back-office tests (tests/backoffice/conftest.py's STAFF_SCHEMA):
# name with furigana, e-mail, a free text, a number, a computed fee, guidance, a file.
SCHEMA = {
    "title": "職員テスト申請",
    "email_field": "email",
    "steps": [
        {
            "key": "applicant",
            "title": "申請する方",
            "fields": [
                {"key": "applicant", "type": "name", "label": "氏名", "required": True},
                {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
            ],
        },
        {
            "key": "request",
            "title": "申請の内容",
            "fields": [
                {"key": "note_guide", "type": "guidance", "text": "理由は具体的に書いてください。"},
                {"key": "reason", "type": "textarea", "label": "申請の理由", "required": True},
                {"key": "copies", "type": "number", "label": "通数", "min": 1, "max": 10, "required": True},
                {"key": "fee", "type": "computed", "label": "手数料", "format": "yen",
                 "expression": {"mul": [{"field": "copies"}, 300]}},
                {"key": "document", "type": "file", "label": "添付書類", "accept": ["pdf", "jpeg"]},
            ],
        },
    ],
}

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "ja-JP",
    "timezone_id": "Asia/Tokyo",
}
DESKTOP = {
    "viewport": {"width": 1366, "height": 768},
    "device_scale_factor": 1,
    "locale": "ja-JP",
    "timezone_id": "Asia/Tokyo",
}


# --- fixtures ----------------------------------------------------------------------------


@dataclass
class World:
    section: object
    procedure: object
    handler: object
    approver: object
    auditor: object


def make_user(username: str, family: str, given: str, role: str, section):
    """A staff account with STAFF_PASSWORD, one confirmed TOTP device and one role."""
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import StaffRole

    user = get_user_model().objects.create_user(
        username, password=STAFF_PASSWORD, last_name=family, first_name=given
    )
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=user, role=role, section=section)
    return user


def totp_code(user) -> str:
    """The user's authenticator code right now, as the app would show it (6 digits)."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def world(settings, live_server) -> World:
    """A section with a handler and an approver, an auditor, and a published form."""
    from tenohira.backoffice.models import Role
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms.services import publish

    # What is tested is who may sign in, not the hash's strength (PBKDF2 costs ~1 s each).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The e-mailed links point at the public site: here, the live server.
    settings.SITE_URL = live_server.url

    department = Department.objects.create(name="こども部")
    section = Section.objects.create(department=department, name="こども政策課")
    procedure = Procedure.objects.create(code="BOA", section=section, name="児童手当の認定請求", processing_days=14)
    publish(procedure, SCHEMA)
    return World(
        section=section,
        procedure=procedure,
        handler=make_user("tanto", "子供", "担当", Role.HANDLER, section),
        approver=make_user("kessai", "子供", "決裁", Role.APPROVER, section),
        auditor=make_user("kansa", "監査", "担当", Role.AUDITOR, None),
    )


@pytest.fixture
def shots(tmp_path) -> Path:
    target = Path(os.environ.get("TENOHIRA_SHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


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


def assert_styled(page: Page, header: str, colour: str) -> None:
    """The page finished loading and its stylesheet applies (an unstyled page would pass
    axe's contrast check for the wrong reason)."""
    page.wait_for_load_state("load")
    background = page.evaluate(f"getComputedStyle(document.querySelector('{header}')).backgroundColor")
    assert background == colour, f"stylesheet not applied on {page.url} ({header} background {background})"


def staff_page(page: Page, where: str) -> None:
    assert_styled(page, ".staff-header", "rgb(26, 26, 28)")
    assert_accessible(page, where)


def resident_page(page: Page, where: str) -> None:
    assert_styled(page, ".site-header", "rgb(0, 23, 193)")
    assert_accessible(page, where)


def mails_about(mailbox, number: str, subject: str, *, count: int) -> list:
    """The messages on `number` whose subject holds `subject`, once `count` have arrived
    (the outbox sends after the commit, in the live server's thread)."""
    deadline = time.monotonic() + 10
    while True:
        found = [m for m in mailbox if number in m.subject and subject in m.subject]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, [(m.to, m.subject) for m in mailbox]
            return found
        time.sleep(0.1)


# --- the people --------------------------------------------------------------------------


def apply_on_the_phone(page: Page, base: str) -> tuple[str, str]:
    """The resident fills the form through the real pages; returns (受付番号, 確認コード)."""
    page.goto(f"{base}/procedures/BOA/apply/")
    expect(page.get_by_role("heading", level=1)).to_have_text("職員テスト申請")
    page.get_by_role("button", name="申請を始める").click()
    page.wait_for_url(re.compile(r"/apply/[0-9a-f-]{36}/applicant/$"))
    for part, value in (("family", "山田"), ("given", "花子"), ("family_kana", "ヤマダ"), ("given_kana", "ハナコ")):
        page.locator(f"#f-applicant__{part}").fill(value)
    page.locator("#f-email").fill(EMAIL)
    page.get_by_role("button", name="次へ進む").click()
    page.wait_for_url("**/request/")
    page.locator("#f-reason").fill(REASON_V1)
    page.locator("#f-copies").fill("2")
    page.get_by_role("button", name="次へ進む").click()
    page.wait_for_url("**/check/")
    expect(page.locator("main")).to_contain_text(REASON_V1)
    # The form asks for no consent, so the button says only what it does.
    page.get_by_role("button", name="送信する", exact=True).click()
    page.wait_for_url("**/done/")
    number = page.locator(".receipt-number").inner_text().strip()
    assert RECEIPT_NUMBER.match(number), number
    secret = page.locator(".secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", secret), secret
    return number, secret


def sign_in(page: Page, base: str, user, *, check: bool = False) -> None:
    """Username, password and the authenticator's current code on /staff/login/."""
    page.goto(f"{base}/staff/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text("職員ログイン")
    if check:
        staff_page(page, "the staff login page")
    page.get_by_label("ユーザー名", exact=True).fill(user.username)
    page.get_by_label("パスワード", exact=True).fill(STAFF_PASSWORD)
    page.get_by_label("確認コード（6桁）", exact=True).fill(totp_code(user))
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{base}/staff/")
    expect(page.locator(".staff-user")).to_contain_text(f"{user.last_name} {user.first_name}")


def status_of(page: Page):
    return page.locator(".detail-facts .status")


def press(page: Page, button: str, comment: str = "") -> None:
    """A workflow button on the detail page, with the comment for the applicant."""
    if comment:
        page.get_by_label("コメント", exact=True).fill(comment)
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state("load")


def history_statuses(page: Page) -> list[str]:
    return [s.strip() for s in page.locator(".summary__list .summary__row dd strong").all_inner_texts()]


def audit_rows(page: Page) -> list[dict]:
    """The audit log's table, oldest first (the page lists newest first)."""
    rows = []
    for row in page.locator("table.data-table tbody tr").all():
        cells = [c.strip() for c in row.locator("td").all_inner_texts()]
        assert len(cells) == 7, cells
        rows.append(dict(zip(("pk", "at", "actor", "action", "target", "detail", "ip"), cells, strict=True)))
    return rows[::-1]


def first_index(rows: list[dict], start: int, **wanted) -> int:
    """Index of the first row at or after `start` whose columns contain `wanted`."""
    for index in range(start, len(rows)):
        if all(value in rows[index][key] for key, value in wanted.items()):
            return index
    pytest.fail(f"no audit row {wanted} after row {start}: {rows}")


# --- the test ----------------------------------------------------------------------------


def test_handler_returns_one_field_applicant_corrects_it_on_a_phone_approver_approves_audit_holds(
    live_server, world, chromium, mailoutbox, shots
):
    from django.core.management import CommandError, call_command
    from django.db import connection

    from tenohira.applications.models import Submission
    from tenohira.audit.models import AuditRecord

    base = live_server.url
    contexts = []

    def context(kind: dict):
        created = chromium.new_context(**kind)
        created.set_default_timeout(15_000)
        contexts.append(created)
        return created.new_page()

    try:
        # 1. The resident applies on a phone.
        phone = context(PHONE)
        number, secret = apply_on_the_phone(phone, base)
        (confirmation,) = mails_about(mailoutbox, number, "", count=1)
        assert confirmation.to == [EMAIL]
        submission = Submission.objects.get(receipt_number=number)
        assert submission.status == Submission.Status.RECEIVED
        assert submission.email == EMAIL

        # 2. The handler, on a desktop: sign in, queue, detail, 審査を始める, 差戻し of one field.
        handler = context(DESKTOP)
        sign_in(handler, base, world.handler, check=True)
        expect(handler.get_by_role("heading", level=1)).to_contain_text("申請一覧")
        row = handler.locator("table.queue-table tbody tr", has=handler.get_by_role("link", name=number))
        expect(row).to_have_count(1)
        expect(row).to_contain_text("山田 花子")
        expect(row).to_contain_text("児童手当の認定請求")
        expect(row.locator(".status")).to_have_text("受付")
        staff_page(handler, "the queue")
        row.get_by_role("link", name=number).click()
        handler.wait_for_url(f"{base}/staff/submissions/{number}/")
        expect(status_of(handler)).to_have_text("受付")
        expect(handler.locator("main")).to_contain_text(REASON_V1)
        # Not under review yet: no 差戻し form, and a handler is never offered approval.
        expect(handler.get_by_role("button", name="差し戻す")).to_have_count(0)
        expect(handler.get_by_role("button", name="承認する")).to_have_count(0)
        staff_page(handler, "the detail page (受付)")

        press(handler, "審査を始める")
        expect(handler.locator(".staff-messages")).to_contain_text("状態を「審査中」にしました。")
        expect(status_of(handler)).to_have_text("審査中")
        expect(handler.get_by_role("button", name="承認する")).to_have_count(0)
        staff_page(handler, "the detail page (審査中, with the 差戻し form)")
        handler.screenshot(path=shots / "staff-detail-1366.png", full_page=True)

        # The 差戻し form fits its panel: the note inputs do not stick out of the aside.
        sticking_out = handler.evaluate(
            """() => { const panel = document.querySelector('.detail-actions').getBoundingClientRect();
                 return [...document.querySelectorAll('.detail-actions input, .detail-actions textarea')]
                   .filter(e => e.getBoundingClientRect().right > panel.right - 1).map(e => e.id); }"""
        )
        assert not sticking_out, f"inputs wider than the actions panel: {sticking_out}"
        # Fields a resident never typed are not offered; ONE field is chosen.
        correction_panel = handler.locator("form.action-panel", has=handler.get_by_role("button", name="差し戻す"))
        offered = correction_panel.locator("input[type=checkbox][name=fields]")
        expect(offered).to_have_count(5)  # 氏名, メールアドレス, 申請の理由, 通数, 添付書類
        assert "fee" not in [offered.nth(i).get_attribute("value") for i in range(5)]
        handler.get_by_label("申請の理由", exact=True).check()
        handler.get_by_label("「申請の理由」について直してほしいこと（任意）").fill(NOTE)
        handler.get_by_label("申請者へのメッセージ").fill(MESSAGE)
        handler.get_by_role("button", name="差し戻す").click()
        handler.wait_for_load_state("load")
        expect(handler.locator(".staff-messages")).to_contain_text("差し戻しました。")
        expect(status_of(handler)).to_have_text("差戻し")
        corrections = handler.locator("section[aria-labelledby=corrections-title]")
        expect(corrections).to_contain_text(f"申請の理由: {NOTE}")
        expect(corrections).to_contain_text("修正待ち")
        staff_page(handler, "the detail page (差戻し)")
        handler.screenshot(path=shots / "staff-detail-returned-1366.png", full_page=True)

        # 3. The applicant gets the e-mail and corrects the one field on the phone.
        (request_mail,) = mails_about(mailoutbox, number, "申請内容の修正のお願い", count=1)
        assert request_mail.to == [EMAIL]
        assert f"・申請の理由: {NOTE}" in request_mail.body
        assert MESSAGE in request_mail.body
        link = re.search(r"(\S+/corrections/[\w-]+/)", request_mail.body)
        assert link, request_mail.body
        assert link.group(1).startswith(f"{base}/corrections/"), link.group(1)
        phone.goto(link.group(1))
        expect(phone.get_by_role("heading", level=1)).to_have_text("申請内容の修正")
        request_box = phone.locator("section#correction-request, section[aria-labelledby=correction-request]")
        expect(request_box).to_contain_text(MESSAGE)
        expect(request_box).to_contain_text(f"申請の理由: {NOTE}")
        form = phone.locator("form[data-form]")
        inputs = form.locator("input:not([type=hidden]), textarea, select")
        names = [inputs.nth(i).get_attribute("name") for i in range(inputs.count())]
        assert names == ["reason", "comment"], f"the correction page offers more than the one field: {names}"
        for other in ("#f-applicant__family", "#f-email", "#f-copies", "#f-document"):
            expect(phone.locator(other)).to_have_count(0)
        expect(phone.locator("#f-reason")).to_have_value(REASON_V1)
        resident_page(phone, "the correction page")
        phone.screenshot(path=shots / "correction-390.png", full_page=True)
        phone.locator("#f-reason").fill(REASON_V2)
        phone.get_by_label("こども政策課へのコメント（任意）").fill("理由を書き直しました。")
        phone.get_by_role("button", name="修正して再提出する").click()
        phone.wait_for_url(f"{base}/corrections/*/done/")
        expect(phone.get_by_role("heading", level=1)).to_have_text("修正した申請を受け付けました")
        expect(phone.locator(".receipt-number")).to_have_text(number)
        resident_page(phone, "the correction done page")
        mails_about(mailoutbox, number, "修正した申請を受け付けました", count=1)

        # 4. The approver: 再提出 in the queue, the difference of version 1 and 2, 承認.
        approver = context(DESKTOP)
        sign_in(approver, base, world.approver)
        row = approver.locator("table.queue-table tbody tr", has=approver.get_by_role("link", name=number))
        expect(row.locator(".status")).to_have_text("再提出")
        row.get_by_role("link", name=number).click()
        approver.wait_for_url(f"{base}/staff/submissions/{number}/")
        expect(status_of(approver)).to_have_text("再提出")
        expect(approver.locator(".detail-facts")).to_contain_text("第2版")
        versions = approver.locator("section[aria-labelledby=versions-title]")
        expect(versions).to_contain_text("第1版 → 第2版")
        diff_rows = versions.locator("table.diff-table tbody tr")
        expect(diff_rows).to_have_count(1)  # only the returned field changed
        expect(diff_rows.locator("th")).to_contain_text("申請の理由")
        expect(diff_rows.locator("del")).to_have_text(REASON_V1)
        expect(diff_rows.locator("ins")).to_have_text(REASON_V2)
        staff_page(approver, "the detail page (再提出, with the version difference)")
        approver.screenshot(path=shots / "staff-detail-resubmitted-1366.png", full_page=True)
        press(approver, "審査を始める")
        expect(status_of(approver)).to_have_text("審査中")
        press(approver, "承認する", APPROVAL_COMMENT)
        expect(approver.locator(".staff-messages")).to_contain_text("状態を「承認」にしました。")
        expect(status_of(approver)).to_have_text("承認")
        history = approver.locator("section[aria-labelledby=history-title] tbody tr")
        expect(history).to_have_count(6)
        expect(history.last).to_contain_text("子供 決裁")
        expect(history.last).to_contain_text(APPROVAL_COMMENT)
        staff_page(approver, "the detail page (承認)")
        mails_about(mailoutbox, number, "申請の状況が「承認」になりました", count=1)

        # 5. The applicant's status page: 承認, and the history with the reasons.
        phone.goto(f"{base}/status/")
        phone.get_by_label("受付番号").fill(number)
        phone.get_by_label("確認コード").fill(secret)
        phone.get_by_role("button", name="確認する").click()
        facts = phone.locator("dl.facts")
        expect(facts).to_contain_text(number)
        # In plain words, not the office's state names.
        expect(phone.locator(".panel-progress strong")).to_have_text("審査が終わり、申請が認められました。")
        expect(phone.get_by_role("heading", name="これまでの経過")).to_be_visible()
        assert history_statuses(phone) == [
            "申請を受け付けました", "担当課が内容の確認を始めました", "申請内容の修正をお願いしました",
            "修正した申請を受け付けました", "担当課が内容の確認を始めました", "審査が終わり、申請が認められました",
        ], history_statuses(phone)
        steps = phone.locator(".summary__list .summary__row")
        expect(steps.nth(2)).to_contain_text(MESSAGE)  # the reason of the 差戻し
        expect(steps.nth(2)).to_contain_text("こども政策課")  # staff are never named
        expect(steps.nth(3)).to_contain_text("申請者")
        expect(steps.nth(5)).to_contain_text(APPROVAL_COMMENT)
        expect(phone.locator("main")).not_to_contain_text("子供 担当")
        resident_page(phone, "the status page (承認)")

        # 6. The auditor reads each step in the audit log, filtered by the receipt number.
        auditor = context(DESKTOP)
        sign_in(auditor, base, world.auditor)
        auditor.get_by_role("navigation", name="職員用メニュー").get_by_role("link", name="監査ログ").click()
        auditor.wait_for_url(f"{base}/staff/audit/")
        expect(auditor.get_by_role("heading", level=1)).to_have_text("監査ログ")
        auditor.get_by_label("受付番号").fill(number)
        auditor.get_by_role("button", name="検索").click()
        auditor.wait_for_url(re.compile(r"/staff/audit/\?.*target="))
        rows = audit_rows(auditor)
        assert rows and all(r["target"] == number for r in rows), rows
        at = first_index(rows, 0, action="submission_view", actor="tanto")
        at = first_index(rows, at + 1, action="status_change", actor="tanto", detail="to: 審査中")
        at = first_index(rows, at + 1, action="correction_request", actor="tanto", detail="reason")
        at = first_index(rows, at + 1, action="submission_view", actor="kessai")
        at = first_index(rows, at + 1, action="status_change", actor="kessai", detail="to: 審査中")
        at = first_index(rows, at + 1, action="status_change", actor="kessai", detail="to: 承認")
        # Nothing but the recorded steps and views: every row is one of these actions.
        # The cell reads 「申請の閲覧 submission_view」: the Japanese label, then the key.
        assert {r["action"].split()[-1] for r in rows} == {"submission_view", "status_change", "correction_request"}, rows
        assert all(r["action"].split()[0] in {"申請の閲覧", "状態の変更", "差戻し"} for r in rows), rows
        staff_page(auditor, "the audit log")
        auditor.screenshot(path=shots / "audit-log-1366.png", full_page=True)
    finally:
        for created in contexts:
            created.close()

    # 7. The chain verifies; after one record is altered in the database it does not.
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "監査ログは正常です" in out.getvalue(), out.getvalue()
    altered = AuditRecord.objects.get(action="correction_request", target=number)
    table = connection.ops.quote_name(AuditRecord._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET target = %s WHERE id = %s", [f"{number}X", altered.pk])  # noqa: S608
    assert AuditRecord.objects.get(pk=altered.pk).target == f"{number}X"
    with pytest.raises(CommandError, match=rf"記録 {altered.pk}（.*correction_request）の内容が変更されています"):
        call_command("audit", "verify", stdout=StringIO())
