"""書かない窓口: staff fill the resident's form at the counter (channel 窓口) and print a
receipt; a resident who pre-filled on a phone hands the draft over with a short code or
QR code. Everything goes through HTTP with real sign-ins (password session + verified
TOTP device) and the real resident pages; fixtures come from tests/backoffice/conftest.py."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import segno
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from tenohira.applications import services as applications
from tenohira.applications.models import Channel, Draft, Submission
from tenohira.audit.models import AuditRecord
from tenohira.audit.services import verify
from tenohira.backoffice import counter

CODE = re.compile(r'<span class="handoff-code__part">([A-Z2-9]{4})</span>.*?<span class="handoff-code__part">([A-Z2-9]{4})</span>', re.S)

APPLICANT = {
    "applicant__family": "窓口", "applicant__given": "花子",
    "applicant__family_kana": "マドグチ", "applicant__given_kana": "ハナコ",
    "email": "hanako@example.jp",
}
REQUEST = {"reason": "児童手当を受け取るため", "copies": "2"}
IDENTITY = {"identity_document": "drivers_license"}  # 運転免許証


def actions(**filters) -> list[str]:
    return list(AuditRecord.objects.filter(**filters).values_list("action", flat=True))


def location_path(response) -> str:
    assert response.status_code == 302, (response.status_code, response.content.decode()[:1500])
    return response["Location"]


def start_counter(client: Client, procedure) -> str:
    """Press the procedure's button on /staff/counter/; returns the first step's path."""
    return location_path(client.post("/staff/counter/start/", {"procedure": procedure.pk}))


def draft_of(path: str) -> Draft:
    public_id = re.search(r"/([0-9a-f-]{36})/", path).group(1)
    return Draft.objects.get(public_id=public_id)


def resident() -> Client:
    return Client(HTTP_HOST="localhost")


def resident_prefills(client: Client, procedure, steps=("applicant", "request")) -> str:
    """A resident on a phone: 申請を始める, then the given steps; returns the draft id."""
    response = client.post(f"/procedures/{procedure.code}/apply/")
    public_id = re.search(r"/apply/([0-9a-f-]{36})/", location_path(response)).group(1)
    pages = {"applicant": APPLICANT, "request": REQUEST}
    for step in steps:
        location_path(client.post(f"/apply/{public_id}/{step}/", {"action": "continue", **pages[step]}))
    return public_id


def show_code(client: Client, public_id: str) -> tuple[str, str]:
    """The resident opens 窓口で続ける; returns (code as shown ABCD-EFGH, page html)."""
    page = client.get(f"/apply/{public_id}/handoff/")
    assert page.status_code == 200, page.content.decode()[:1500]
    html = page.content.decode()
    match = CODE.search(html)
    assert match, html
    return f"{match.group(1)}-{match.group(2)}", html


def to_full_width_lower(code: str) -> str:
    """ABCD-EFGH as typed on a Japanese IME in full width, lower case: ａｂｃｄ－ｅｆｇｈ."""
    return "".join(chr(ord(c) + 0xFEE0) for c in code.lower())


# --- counter entry for a walk-in resident ----------------------------------------------------


def test_staff_of_the_section_enter_an_application_at_the_counter_and_print_the_receipt(staff, staff_client):
    client = staff_client(staff.handler)
    home = client.get("/staff/counter/")
    assert home.status_code == 200
    html = home.content.decode()
    assert staff.procedure.name in html and staff.second_procedure.name in html
    assert staff.other_procedure.name not in html  # another section's procedure is not offered

    first = start_counter(client, staff.procedure)
    draft = draft_of(first)
    assert first == f"/staff/counter/{draft.public_id}/applicant/"
    assert not draft.raw

    # The same form as the resident's: same field templates, ids and validation messages.
    page = client.get(first)
    assert page.status_code == 200
    html = page.content.decode()
    for field_id in ("f-applicant__family", "f-applicant__given_kana", "f-email"):
        assert f'id="{field_id}"' in html
    empty = client.post(first, {"action": "continue"})
    assert empty.status_code == 400
    assert "error-summary" in empty.content.decode()

    assert location_path(client.post(first, {"action": "continue", **APPLICANT})).endswith("/request/")
    check_path = location_path(client.post(f"/staff/counter/{draft.public_id}/request/", {"action": "continue", **REQUEST}))
    assert check_path == f"/staff/counter/{draft.public_id}/check/"
    check = client.get(check_path).content.decode()
    assert "窓口" in check and "花子" in check and "児童手当を受け取るため" in check and "600円" in check

    receipt_path = location_path(client.post(check_path, IDENTITY))
    submission = Submission.objects.get(draft=draft)
    assert receipt_path == f"/staff/counter/receipt/{submission.receipt_number}/"
    assert submission.channel == Channel.COUNTER == "counter"
    assert submission.section == staff.section
    assert submission.answers["copies"] == 2
    assert submission.applicant_name == "窓口 花子"
    event = submission.events.get()
    assert event.actor_label == "窓口" and event.actor == staff.handler
    assert event.to_status == Submission.Status.RECEIVED

    # A second press (double tap, back + resubmit) shows the same receipt, once recorded.
    assert location_path(client.post(check_path, IDENTITY)) == receipt_path
    assert Submission.objects.filter(draft=draft).count() == 1
    assert actions(target=submission.receipt_number, action="counter_submit") == ["counter_submit"]
    assert actions(action="counter_start", target=str(draft.public_id)) == ["counter_start"]

    receipt = client.get(receipt_path)
    assert receipt.status_code == 200
    html = receipt.content.decode()
    assert submission.receipt_number in html and "受付票" in html and "窓口" in html
    assert 'class="actions no-print"' in html and 'class="counter-nav no-print"' in html
    assert "確認コード" in html  # the resident's key to the status page, printed once for them
    assert f'href="/staff/counter/receipt/{submission.receipt_number}/receipt.pdf"' in html

    pdf = client.get(f"{receipt_path}receipt.pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf["Cache-Control"] == "no-store"
    record = AuditRecord.objects.get(action="receipt_print", target=submission.receipt_number)
    assert record.actor_id == staff.handler.pk and record.actor == staff.handler.username
    assert verify().ok

    # The draft now opens its receipt instead of the form.
    assert location_path(client.get(first)) == receipt_path


def test_print_css_hides_navigation_and_what_is_marked_not_to_print():
    from pathlib import Path

    from django.contrib.staticfiles import finders

    css = Path(finders.find("tenohira/css/site.css")).read_text(encoding="utf-8")
    print_rules = css[css.index("@media print"):]
    assert ".site-header" in print_rules and ".no-print" in print_rules and "nav" in print_rules


def test_an_approver_may_enter_at_the_counter_but_a_section_admin_or_auditor_may_not(staff, staff_client):
    start_counter(staff_client(staff.approver), staff.procedure)
    for user in (staff.section_admin, staff.auditor, staff.dx_admin):
        client = staff_client(user)
        assert staff.procedure.name not in client.get("/staff/counter/").content.decode()
        assert client.post("/staff/counter/start/", {"procedure": staff.procedure.pk}).status_code == 403
    assert not Draft.objects.exclude(owner_secret_hash=f"counter:{staff.approver.pk}").exists()


def test_staff_pages_of_the_counter_need_a_verified_second_factor(staff):
    browser = Client(HTTP_HOST="localhost")
    assert browser.get("/staff/counter/")["Location"].startswith("/staff/login/")
    browser.force_login(staff.handler)  # password only, no TOTP verification yet
    assert browser.get("/staff/counter/")["Location"].startswith("/staff/login/")
    assert browser.get("/staff/counter/handoff/ABCD-EFGH/")["Location"].startswith("/staff/login/")


def test_staff_of_another_section_cannot_open_or_submit_a_counter_draft_or_its_receipt(staff, staff_client):
    client = staff_client(staff.handler)
    first = start_counter(client, staff.procedure)
    draft = draft_of(first)
    location_path(client.post(first, {"action": "continue", **APPLICANT}))
    location_path(client.post(f"/staff/counter/{draft.public_id}/request/", {"action": "continue", **REQUEST}))

    outsider = staff_client(staff.other_handler)
    for path in (first, f"/staff/counter/{draft.public_id}/request/", f"/staff/counter/{draft.public_id}/check/"):
        assert outsider.get(path).status_code == 404, path
    assert outsider.post(f"/staff/counter/{draft.public_id}/check/", IDENTITY).status_code == 404
    assert outsider.post(first, {"action": "continue", **APPLICANT}).status_code == 404
    assert outsider.post("/staff/counter/start/", {"procedure": staff.procedure.pk}).status_code == 403
    assert not Submission.objects.filter(draft=draft).exists()
    # The service checks the role itself, whatever page calls it.
    with pytest.raises(PermissionDenied):
        counter.submit(staff.other_handler, draft, identity_document="none")
    with pytest.raises(PermissionDenied):
        counter.start(staff.other_handler, staff.procedure.pk)

    receipt_path = location_path(client.post(f"/staff/counter/{draft.public_id}/check/", IDENTITY))
    assert outsider.get(receipt_path).status_code == 404
    assert outsider.get(f"{receipt_path}receipt.pdf").status_code == 404
    assert not actions(actor_id=staff.other_handler.pk)


def test_a_draft_the_resident_is_still_typing_is_not_a_counter_draft(staff, staff_client):
    phone = resident()
    public_id = resident_prefills(phone, staff.procedure)
    client = staff_client(staff.handler)
    assert client.get(f"/staff/counter/{public_id}/applicant/").status_code == 404
    assert client.get(f"/staff/counter/{public_id}/check/").status_code == 404
    # ... and a counter draft is no resident's: no cookie opens it.
    first = start_counter(client, staff.procedure)
    draft = draft_of(first)
    held = phone.get(f"/apply/{draft.public_id}/applicant/")
    assert held.status_code == 409 and "窓口で手続き中です" in held.content.decode()


# --- handing a pre-filled draft over with a code or QR code ---------------------------------


def test_a_resident_shows_a_code_and_qr_and_staff_open_it_check_correct_and_submit(staff, staff_client, settings):
    phone = resident()
    public_id = resident_prefills(phone, staff.procedure)
    check_page = phone.get(f"/apply/{public_id}/check/").content.decode()
    assert f'href="/apply/{public_id}/handoff/"' in check_page and "窓口で続ける（コードを表示）" in check_page

    shown, html = show_code(phone, public_id)
    code = shown.replace("-", "")
    assert len(code) == 8 and not set(code) & set("0O1IL")
    draft = Draft.objects.get(public_id=public_id)
    assert draft.handoff_code == code
    lifetime = draft.handoff_expires_at - timezone.now()
    assert dt.timedelta(minutes=59) < lifetime <= dt.timedelta(minutes=60)
    # The QR code is an inline SVG with a text alternative, encoding the staff address.
    svg = re.search(r"<svg [^>]*>.*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg and f"<title>窓口の職員が読み取るQRコード（コード {shown}）</title>" in svg
    assert "<figcaption>" in html and "8文字のコード" in html
    # No STAFF_SITE_URL or SITE_URL: the address the phone's request came to.
    staff_url = f"http://localhost/staff/counter/handoff/{code}/"
    expected = segno.make(staff_url, error="m").svg_inline(scale=1, border=4, omitsize=True)
    modules = re.compile(r'stroke="#000" d="([^"]+)"')  # the dark modules, drawn as one path
    assert modules.search(svg).group(1) == modules.search(expected).group(1)
    # Showing the page again shows the same code while it is valid.
    assert show_code(phone, public_id)[0] == shown

    # Staff of another section: nothing there, and the code stays usable.
    outsider = staff_client(staff.other_handler)
    refused = outsider.post("/staff/counter/handoff/", {"code": shown})
    assert refused.status_code == 404
    assert "見つかりません" in refused.content.decode()
    assert outsider.get(f"/staff/counter/handoff/{code}/").status_code == 404
    assert Draft.objects.get(public_id=public_id).handoff_code == code

    # The section's staff type it in full width, lower case: it opens at the check page.
    client = staff_client(staff.handler)
    opened = client.post("/staff/counter/handoff/", {"code": to_full_width_lower(shown)})
    assert location_path(opened) == f"/staff/counter/{public_id}/check/"
    record = AuditRecord.objects.get(action="handoff_open")
    assert record.target == public_id and record.actor_id == staff.handler.pk
    check = client.get(f"/staff/counter/{public_id}/check/").content.decode()
    assert "スマートフォンで入力した内容を開きました" in check
    assert "窓口" in check and "花子" in check and "マドグチ" in check and "児童手当を受け取るため" in check

    # The code is dead once used, typed or scanned, and the phone no longer edits the draft.
    assert Draft.objects.get(public_id=public_id).handoff_code is None
    again = client.post("/staff/counter/handoff/", {"code": shown})
    assert again.status_code == 404
    assert client.get(f"/staff/counter/handoff/{code}/").status_code == 404
    # The phone says plainly that the counter holds the draft (409), and changes nothing.
    assert phone.get(f"/apply/{public_id}/applicant/").status_code == 409
    assert phone.post(f"/apply/{public_id}/check/").status_code == 409

    # Correct one answer with the resident, back to the check page, submit at the counter.
    changed = client.post(
        f"/staff/counter/{public_id}/request/?return=check", {"action": "continue", "return": "check", **REQUEST, "copies": "3"}
    )
    assert location_path(changed) == f"/staff/counter/{public_id}/check/"
    receipt_path = location_path(client.post(f"/staff/counter/{public_id}/check/", IDENTITY))
    submission = Submission.objects.get(draft__public_id=public_id)
    assert receipt_path.endswith(f"/{submission.receipt_number}/")
    assert submission.channel == Channel.COUNTER
    assert submission.answers["copies"] == 3 and submission.answers["reason"] == "児童手当を受け取るため"
    assert submission.answers["applicant"]["family_kana"] == "マドグチ"
    assert submission.events.get().actor_label == "窓口"
    assert actions(target=submission.receipt_number) == ["counter_submit"]
    assert verify().ok
    # The phone cannot issue a new code for a draft the counter holds.
    assert phone.get(f"/apply/{public_id}/handoff/").status_code == 409


def test_the_qr_address_opens_a_half_filled_draft_at_the_step_still_to_fill(staff, staff_client):
    phone = resident()
    public_id = resident_prefills(phone, staff.procedure, steps=("applicant",))
    shown, _html = show_code(phone, public_id)
    client = staff_client(staff.handler)
    opened = client.get(f"/staff/counter/handoff/{shown.replace('-', '')}/")
    assert location_path(opened) == f"/staff/counter/{public_id}/request/"
    first = client.get(f"/staff/counter/{public_id}/applicant/").content.decode()
    assert 'value="窓口"' in first and 'value="ハナコ"' in first and 'value="hanako@example.jp"' in first
    assert actions(action="handoff_open") == ["handoff_open"]


def test_the_step_page_keeps_what_was_typed_when_the_resident_asks_for_the_code(staff):
    phone = resident()
    public_id = resident_prefills(phone, staff.procedure, steps=())
    page = phone.get(f"/apply/{public_id}/applicant/").content.decode()
    assert 'value="handoff"' in page and "窓口で続ける（コードを表示）" in page
    response = phone.post(f"/apply/{public_id}/applicant/", {"action": "handoff", "applicant__family": "窓口"})
    assert location_path(response) == f"/apply/{public_id}/handoff/"
    assert Draft.objects.get(public_id=public_id).raw["applicant"]["applicant__family"] == ["窓口"]


def test_only_the_drafts_owner_sees_its_code(staff):
    public_id = resident_prefills(resident(), staff.procedure)
    stranger = resident()
    assert stranger.get(f"/apply/{public_id}/handoff/").status_code == 403
    assert Draft.objects.get(public_id=public_id).handoff_code is None


def test_an_expired_code_says_so_and_the_resident_gets_a_new_one(staff, staff_client):
    phone = resident()
    public_id = resident_prefills(phone, staff.procedure)
    shown, _html = show_code(phone, public_id)
    Draft.objects.filter(public_id=public_id).update(handoff_expires_at=timezone.now() - dt.timedelta(seconds=1))

    client = staff_client(staff.handler)
    expired = client.post("/staff/counter/handoff/", {"code": shown})
    assert expired.status_code == 410
    html = expired.content.decode()
    assert "有効期限（発行から60分）が切れています" in html and "新しいコード" in html
    assert client.get(f"/staff/counter/handoff/{shown.replace('-', '')}/").status_code == 410
    assert not actions(action="handoff_open")
    # Another section's staff learn nothing, not even that it expired.
    assert staff_client(staff.other_handler).post("/staff/counter/handoff/", {"code": shown}).status_code == 404

    renewed, _html = show_code(phone, public_id)
    assert renewed != shown
    assert location_path(client.post("/staff/counter/handoff/", {"code": renewed})) == f"/staff/counter/{public_id}/check/"


def test_code_guessing_is_rate_limited_per_staff_member(staff, staff_client, settings):
    settings.HANDOFF_LOOKUP_LIMIT_PER_HOUR = 3
    phone = resident()
    public_id = resident_prefills(phone, staff.procedure)
    shown, _html = show_code(phone, public_id)
    client = staff_client(staff.handler)
    for guess in ("AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC"):
        assert client.post("/staff/counter/handoff/", {"code": guess}).status_code == 404
    blocked = client.post("/staff/counter/handoff/", {"code": shown})
    assert blocked.status_code == 429
    assert "照会が多すぎます" in blocked.content.decode()
    assert client.get(f"/staff/counter/handoff/{shown.replace('-', '')}/").status_code == 429
    assert Draft.objects.get(public_id=public_id).handoff_code == shown.replace("-", "")
    # The limit is per staff member: a colleague at the next counter is not blocked.
    colleague = staff_client(staff.approver)
    assert location_path(colleague.post("/staff/counter/handoff/", {"code": shown})).endswith("/check/")


def test_an_empty_code_asks_for_one(staff, staff_client):
    client = staff_client(staff.handler)
    assert client.get("/staff/counter/handoff/").status_code == 200
    response = client.post("/staff/counter/handoff/", {"code": "  "})
    assert response.status_code == 400
    assert "8文字のコードを入力してください" in response.content.decode()


# --- the code itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["ABCD-EFGH", "abcdefgh", "ａｂｃｄ－ｅｆｇｈ", "ＡＢＣＤーＥＦＧＨ", " abcd efgh ", "abcd‐efgh", "ABCD−EFGH"],
)
def test_typed_codes_are_normalised(typed):
    assert applications.normalise_handoff_code(typed) == "ABCDEFGH"


def test_codes_avoid_look_alikes_and_never_collide_with_an_existing_one(staff, monkeypatch):
    first, _secret = applications.start_draft(staff.form)
    taken = applications.issue_handoff_code(first)
    assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}", taken)
    assert applications.issue_handoff_code(first) == taken  # re-shown while valid

    # The next draft's first draw hits the taken code (even an expired one holds it):
    # it draws again instead of failing or sharing the code.
    Draft.objects.filter(pk=first.pk).update(handoff_expires_at=timezone.now() - dt.timedelta(minutes=1))
    second, _secret = applications.start_draft(staff.form)
    draws = iter(list(taken) + list("23456789"))
    monkeypatch.setattr(applications.secrets, "choice", lambda alphabet: next(draws))
    assert applications.issue_handoff_code(second) == "23456789"
    assert Draft.objects.get(pk=second.pk).handoff_code == "23456789"
    assert applications.draft_by_handoff_code(taken) is None  # expired: not live
    assert applications.draft_by_handoff_code(taken, include_expired=True) == first
    assert applications.draft_by_handoff_code("2345-6789") == second
    assert applications.draft_by_handoff_code("O0I1L234") is None


# --- a resident without e-mail --------------------------------------------------------------


def test_at_the_counter_the_contact_email_is_optional_but_online_it_is_still_required(staff, staff_client):
    from tenohira.core.models import OutboxMessage

    client = staff_client(staff.handler)
    first = start_counter(client, staff.procedure)
    draft = draft_of(first)
    page = client.get(first).content.decode()
    assert 'id="f-email"' in page  # offered, for a resident who has one
    no_email = {**APPLICANT, "email": ""}
    assert location_path(client.post(first, {"action": "continue", **no_email})).endswith("/request/")
    location_path(client.post(f"/staff/counter/{draft.public_id}/request/", {"action": "continue", **REQUEST}))
    submission, secret = counter.submit(staff.handler, draft, identity_document="mynumber_card")
    assert secret and submission.email == ""
    assert not OutboxMessage.objects.exists()  # nothing is sent to an empty address

    # The same form on the resident's own phone still asks for the address.
    phone = resident()
    response = phone.post(f"/procedures/{staff.procedure.code}/apply/")
    step = location_path(response)
    refused = phone.post(step, {"action": "continue", **no_email})
    assert refused.status_code == 400 and "メールアドレスを入力してください" in refused.content.decode()


def counter_entry_without_email(client, staff) -> tuple[Draft, str]:
    """A walk-in resident with no e-mail: both steps filled at the counter; returns the
    draft and the check page's path."""
    first = start_counter(client, staff.procedure)
    draft = draft_of(first)
    location_path(client.post(first, {"action": "continue", **APPLICANT, "email": ""}))
    check_path = location_path(
        client.post(f"/staff/counter/{draft.public_id}/request/", {"action": "continue", **REQUEST})
    )
    return draft, check_path


def test_the_identity_document_is_a_required_choice_and_a_refusal_keeps_what_the_clerk_typed(staff, staff_client):
    client = staff_client(staff.handler)
    draft, check_path = counter_entry_without_email(client, staff)
    page = client.get(check_path)
    html = page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0") and "no-store" in page["Cache-Control"]
    for label in ("運転免許証", "マイナンバーカード", "パスポート", "健康保険証", "在留カード", "身体障害者手帳", "その他", "確認なし"):
        assert f">{label}</label>" in html
    assert "確認した本人確認書類" in html and "受付票（確認コードつき）を必ずお渡しください" in html

    missing = client.post(check_path, {"identity_note": ""})
    assert missing.status_code == 400
    html = missing.content.decode()
    assert "確認した本人確認書類を選んでください" in html and 'href="#f-identity-0"' in html
    assert not Submission.objects.filter(draft=draft).exists()

    other = client.post(check_path, {"identity_document": "other", "identity_note": "  "})
    assert other.status_code == 400
    html = other.content.decode()
    assert "書類の名前を入力してください" in html and 'value="other" checked' in html

    made_up = client.post(check_path, {"identity_document": "library_card"})
    assert made_up.status_code == 400 and not Submission.objects.filter(draft=draft).exists()

    kept = client.post(check_path, {"identity_document": "other", "identity_note": "社員証" * 40})
    assert kept.status_code == 400
    assert "100文字以内" in kept.content.decode() and 'value="' + "社員証" * 40 + '"' in kept.content.decode()

    receipt_path = location_path(client.post(check_path, {"identity_document": "other", "identity_note": " 社員証（写真付き） "}))
    submission = Submission.objects.get(draft=draft)
    check = submission.identity_check
    assert (check.document, check.note, check.checked_by) == ("other", "社員証（写真付き）", staff.handler)
    assert check.label == "その他（社員証（写真付き））"
    record = AuditRecord.objects.get(action="counter_submit", target=submission.receipt_number)
    assert record.detail["identity_document"] == "other" and record.detail["email"] is False
    assert "社員証" not in str(record.detail)
    # A second press keeps the first record and does not ask again.
    assert location_path(client.post(check_path, {"identity_document": "none"})) == receipt_path
    submission.refresh_from_db()
    assert submission.identity_check.document == "other"


def test_the_note_is_kept_for_other_only():
    assert counter.clean_identity("mynumber_card", "メモ") == ("mynumber_card", "")
    assert counter.clean_identity("other", " 社員証 ") == ("other", "社員証")
    assert counter.clean_identity(" none ") == ("none", "")
    for bad in ("", "other", "drivers"):
        with pytest.raises(counter.IdentityProblem):
            counter.clean_identity(bad)


def test_without_email_the_receipt_carries_the_status_code_and_the_status_page_works(staff, staff_client, tmp_path):
    import shutil
    import subprocess

    from tenohira.core.models import OutboxMessage

    client = staff_client(staff.handler)
    draft, check_path = counter_entry_without_email(client, staff)
    receipt_path = location_path(client.post(check_path, {"identity_document": "mynumber_card"}))
    submission = Submission.objects.get(draft=draft)
    assert submission.email == ""
    page = client.get(receipt_path).content.decode()
    secret = re.search(r'<strong class="secret">([A-Z2-9-]+)</strong>', page).group(1)
    assert "メールでのお知らせはありません" in page

    pdf = client.get(f"{receipt_path}receipt.pdf")
    assert pdf.status_code == 200 and pdf["Cache-Control"] == "no-store"
    target = tmp_path / "receipt.pdf"
    target.write_bytes(pdf.content)
    assert shutil.which("pdftotext"), "pdftotext is required: apt-get install poppler-utils"
    text = subprocess.run(["pdftotext", "-layout", str(target), "-"], capture_output=True, text=True, check=True).stdout
    assert secret in text and submission.receipt_number in text and "確認コード" in text
    assert re.search(r"https?://[\w.:-]+/status/", text), text  # a full address the resident can type

    # The resident follows the application with the number and code: no e-mail needed.
    status = resident().post("/status/", {"receipt_number": submission.receipt_number, "secret": secret})
    assert status.status_code == 200
    assert "受付" in status.content.decode()

    # Staff move it on: the history grows, nothing is queued for an empty address.
    approver = staff_client(staff.approver)
    for to in ("under_review", "approved", "completed"):
        response = approver.post(f"/staff/submissions/{submission.receipt_number}/transition/", {"to": to})
        assert response.status_code == 302, response.content.decode()[:2000]
    assert not OutboxMessage.objects.exists()
    assert not OutboxMessage.objects.filter(to="").exists()


def test_the_staff_history_and_detail_show_the_identity_document(staff, staff_client):
    client = staff_client(staff.handler)
    draft, check_path = counter_entry_without_email(client, staff)
    location_path(client.post(check_path, {"identity_document": "mynumber_card"}))
    submission = Submission.objects.get(draft=draft)
    detail = client.get(f"/staff/submissions/{submission.receipt_number}/")
    assert "no-store" in detail["Cache-Control"]
    html = detail.content.decode()
    assert '<dd class="identity-document">マイナンバーカード</dd>' in html
    assert "本人確認: マイナンバーカード（確認した職員: 子供 担当）" in html
    assert "なし（お知らせは送られません" in html

    # 差戻し needs the e-mailed link: it is not offered, and the service refuses it.
    client.post(f"/staff/submissions/{submission.receipt_number}/transition/", {"to": "under_review"})
    html = client.get(f"/staff/submissions/{submission.receipt_number}/").content.decode()
    assert "差戻し（修正のお願いのメール）はできません" in html and "差し戻す</button>" not in html
    refused = client.post(
        f"/staff/submissions/{submission.receipt_number}/correction/",
        {"fields": ["reason"], "note-reason": "", "message": "理由を直してください"},
    )
    assert refused.status_code == 400
    assert "メールアドレスがないため" in refused.content.decode()
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.UNDER_REVIEW


def test_exports_name_the_identity_document_of_counter_applications(staff, staff_client, make_submission):
    import csv
    import io

    online = make_submission()
    client = staff_client(staff.handler)
    draft, check_path = counter_entry_without_email(client, staff)
    location_path(client.post(check_path, {"identity_document": "other", "identity_note": "=社員証"}))
    at_counter = Submission.objects.get(draft=draft)
    response = client.post("/staff/export/", {"format": "csv-utf8", "procedure": staff.procedure.pk})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:8] == ["受付番号", "手続ID", "手続名", "申請日時", "申請経路", "状態", "版", "本人確認書類"]
    cells = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert (cells[online.receipt_number]["申請経路"], cells[online.receipt_number]["本人確認書類"]) == ("オンライン", "")
    counter_row = cells[at_counter.receipt_number]
    assert (counter_row["申請経路"], counter_row["本人確認書類"]) == ("窓口", "その他（=社員証）")
    assert counter_row["メールアドレス"] == ""
    cp932 = client.post("/staff/export/", {"format": "csv-cp932", "procedure": staff.procedure.pk})
    assert cp932.status_code == 200
    data = b"".join(cp932.streaming_content)
    assert "\r\n".join(rows[0]).encode("cp932").replace(b"\r\n", b",") in data
    assert "'その他（=社員証）".encode("cp932") not in data  # begins with その: not a formula
    assert "その他（=社員証）".encode("cp932") in data


def test_counter_uploads_have_the_same_streaming_limits_as_the_residents_pages(staff, staff_client, settings, monkeypatch):
    """A file over its field's limit (10 MB by default) is refused while the body streams,
    with the field named, and what the clerk typed is kept."""
    from django.core.files import uploadhandler
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tenohira.applications.models import Attachment

    received: dict[str, int] = {}  # the most bytes Django's own handlers were given, by file
    for cls in (uploadhandler.MemoryFileUploadHandler, uploadhandler.TemporaryFileUploadHandler):
        def spy(self, raw_data, start, original=cls.receive_data_chunk):
            received[self.file_name] = max(received.get(self.file_name, 0), start + len(raw_data))
            return original(self, raw_data, start)

        monkeypatch.setattr(cls, "receive_data_chunk", spy)

    settings.UPLOAD_MAX_REQUEST_MB = 60
    client = staff_client(staff.handler)
    first = start_counter(client, staff.procedure)
    location_path(client.post(first, {"action": "continue", **APPLICANT}))
    draft = draft_of(first)
    pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    big = SimpleUploadedFile("scan.pdf", pdf + b"\x00" * (11 * 1024 * 1024))
    response = client.post(f"/staff/counter/{draft.public_id}/request/", {
        "action": "continue", "reason": "窓口で聞き取った理由", "copies": "1", "document": big,
    })
    assert response.status_code == 400
    html = response.content.decode()
    assert "「scan.pdf」は大きすぎます" in html and "10 MB 以下" in html
    assert "窓口で聞き取った理由" in html
    assert not Attachment.objects.filter(draft=draft).exists()
    assert 0 < received["scan.pdf"] <= 10 * 1024 * 1024  # never stored past the limit
