"""Nothing a resident types is lost, and the pages say plainly where they stand: the
受付期間 (before, open, closed, and a POST sent after closing), Enter that never reaches
削除 or 住所を検索, 削除 that asks first, the consent on the check page, resume links
that keep working, the counter's takeover, the status page in words, the status code
on the receipt PDF."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from tenohira.applications import services
from tenohira.applications.models import Draft, Submission
from tenohira.core.fiscal import JST
from tenohira.forms.models import FormDefinition

CONSENT_SCHEMA = {
    "title": "同意つき申請",
    "email_field": "email",
    "steps": [
        {"key": "about", "title": "申請する方", "fields": [
            {"key": "full_name", "type": "text", "label": "氏名", "required": True},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
        ]},
    ],
    "consent": {"label": "内容に誤りがないことを確認し、個人情報の利用に同意します", "text": "個人情報は審査にだけ使います。"},
}


def window(code: str, opens_at=None, closes_at=None) -> FormDefinition:
    definition = FormDefinition.objects.get(procedure__code=code)
    definition.opens_at, definition.closes_at = opens_at, closes_at
    definition.save()
    return definition


def jst(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=JST)


def draft(public_id) -> Draft:
    return Draft.objects.get(public_id=public_id)


def form_html(html: str) -> str:
    match = re.search(r"<form method=\"post\" enctype=\"multipart/form-data\" novalidate data-form>.*?</form>", html, re.S)
    assert match, "no step form"
    return match.group(0)


# --- 受付期間 -------------------------------------------------------------------------------


def test_before_the_window_the_start_page_says_when_it_opens_and_has_no_button(tiny_form, browser):
    opens = timezone.now() + dt.timedelta(days=10)
    opens_jst = jst(opens.astimezone(JST).year, opens.astimezone(JST).month, opens.astimezone(JST).day)
    window("TST", opens_at=opens_jst)
    html = browser.get("/procedures/TST/apply/").content.decode()
    weekday = "月火水木金土日"[opens_jst.weekday()]
    assert re.search(rf"令和\d+年{opens_jst.month}月{opens_jst.day}日（{weekday}）から受け付けます。", html)
    assert "申請を始める" not in html
    # A press sent anyway (an old tab) starts nothing.
    response = browser.post("/procedures/TST/apply/")
    assert response.status_code == 403 and not Draft.objects.exists()


def test_the_window_text_uses_the_era_the_weekday_and_the_last_day_of_an_exclusive_end():
    from tenohira.forms import windows

    assert windows.opening(jst(2023, 11, 6)) == "令和5年11月6日（月）"
    assert windows.opening(jst(2023, 11, 6, 8, 30)) == "令和5年11月6日（月）8時30分"
    # Closing at midnight on 1 December: the last day is 30 November.
    assert windows.closing(jst(2023, 12, 1)) == "令和5年11月30日（木）"
    assert windows.closing(jst(2023, 11, 30, 17, 15)) == "令和5年11月30日（木）17時15分"
    definition = FormDefinition(opens_at=jst(2023, 11, 6), closes_at=jst(2023, 12, 1))
    assert windows.notice(definition, at=jst(2023, 11, 1)) == "令和5年11月6日（月）から受け付けます。受付は令和5年11月30日（木）までです。"
    assert windows.notice(definition, at=jst(2023, 11, 10)) == "令和5年11月30日（木）まで受け付けています。"
    assert windows.notice(definition, at=jst(2023, 12, 1)) == "受付は令和5年11月30日（木）で終了しました。"


def test_an_open_window_shows_its_end_on_the_start_page(tiny_form, browser):
    window("TST", opens_at=timezone.now() - dt.timedelta(days=1), closes_at=jst(2099, 12, 1))
    html = browser.get("/procedures/TST/apply/").content.decode()
    assert "令和81年11月30日（月）まで受け付けています。" in html
    assert "申請を始める" in html


def test_after_closing_the_draft_is_kept_shown_and_cannot_be_sent(tiny_form, flow, browser):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id, steps=("about",))
    window("TST", closes_at=timezone.now() - dt.timedelta(minutes=1))

    # A page sent after closing keeps what was typed and leads to the check page.
    response = flow.post_step(browser, public_id, "pet", {"pet_name": "ポチ", "copies": "2"})
    assert response.status_code == 302 and response["Location"] == f"/apply/{public_id}/check/"
    assert draft(public_id).raw["pet"] == {"pet_name": ["ポチ"], "copies": ["2"]}
    assert browser.get(f"/apply/{public_id}/pet/")["Location"] == f"/apply/{public_id}/check/"

    check = browser.get(f"/apply/{public_id}/check/")
    assert check.status_code == 200
    html = check.content.decode()
    assert "受付期間が終わりました" in html and "で終了しました。" in html
    assert "山田 花子" in html and "ポチ" in html  # the answers, as typed
    assert "テスト課にお問い合わせください" in html
    assert "同意して送信する" not in html and "送信する</button>" not in html


def test_a_direct_post_after_closing_is_refused_by_the_submit_service(tiny_form, flow, browser):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id)
    window("TST", closes_at=timezone.now() - dt.timedelta(seconds=1))
    response = browser.post(f"/apply/{public_id}/check/")
    assert response.status_code == 409
    assert "受付期間が終わりました" in response.content.decode()
    assert not Submission.objects.exists()
    assert draft(public_id).raw["pet"]["pet_name"] == ["ポチ"] and draft(public_id).receipt_number == ""
    # The service itself refuses, whatever view calls it.
    with pytest.raises(services.OutsideWindow) as refused:
        services.submit_as_owner(public_id, browser.cookies["tnh_draft"].value)
    assert refused.value.state == "closed"
    # Before opening too.
    window("TST", opens_at=timezone.now() + dt.timedelta(days=1))
    with pytest.raises(services.OutsideWindow) as early:
        services.submit_as_owner(public_id, browser.cookies["tnh_draft"].value)
    assert early.value.state == "before"


def test_the_counter_may_still_take_a_late_application(tiny_form, flow, browser):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id)
    window("TST", closes_at=timezone.now() - dt.timedelta(seconds=1))
    submission, _secret = services.submit(draft(public_id), channel="counter")
    assert submission.channel == "counter"


def test_within_the_window_the_application_goes_through(tiny_form, flow, browser):
    window("TST", opens_at=timezone.now() - dt.timedelta(days=1), closes_at=timezone.now() + dt.timedelta(days=1))
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id)
    assert browser.post(f"/apply/{public_id}/check/")["Location"] == f"/apply/{public_id}/done/"


# --- Enter, 削除, the step counter, amounts ------------------------------------------------------


def test_the_first_submit_button_of_every_step_form_is_a_hidden_next(hkc_form, flow, browser):
    public_id = flow.start(browser, "HKC")
    for step in ("guardian", "contact", "child", "work"):
        html = form_html(browser.get(f"/apply/{public_id}/{step}/").content.decode())
        first = re.search(r"<button [^>]*type=\"submit\"[^>]*>", html).group(0)
        assert 'value="continue"' in first and 'tabindex="-1"' in first and 'aria-hidden="true"' in first, step
        assert 'class="default-submit"' in first


def test_removing_a_row_can_be_cancelled_and_keeps_everything(hkc_form, flow, browser):
    public_id = flow.start(browser, "HKC")
    rows = {"children-count": "2", "children-0-school": "中央小", "children-1-school": "南小"}
    confirm = browser.post(f"/apply/{public_id}/child/", {"action": "remove:children:1", **rows})
    html = confirm.content.decode()
    assert "お子さん2の情報を削除しますか？" in html and "南小" in html
    back = re.search(r'<a class="button button--secondary" href="([^"]+)">戻る', html).group(1)
    page = browser.get(back).content.decode()
    assert 'value="南小"' in page and 'value="中央小"' in page
    assert draft(public_id).raw["child"]["children-count"] == ["2"]


def test_the_step_counter_counts_every_page_so_it_never_changes(tiny_form, flow, browser):
    public_id = flow.start(browser)
    assert "ステップ 1 / 3" in browser.get(f"/apply/{public_id}/about/").content.decode()
    # No dog: the 犬について page is skipped, the total stays.
    flow.post_step(browser, public_id, "about", {**flow.TINY_ANSWERS["about"], "has_pet": "no"})
    assert "ステップ 3 / 3" in browser.get(f"/apply/{public_id}/confirm/").content.decode()
    flow.post_step(browser, public_id, "about", flow.TINY_ANSWERS["about"])
    assert "ステップ 2 / 3" in browser.get(f"/apply/{public_id}/pet/").content.decode()


def test_a_fee_is_computed_in_the_page_and_shown_on_the_next_one(tiny_form, flow, browser):
    public_id = flow.start(browser)
    flow.post_step(browser, public_id, "about", flow.TINY_ANSWERS["about"])
    html = browser.get(f"/apply/{public_id}/pet/").content.decode()
    data = re.search(r'<output class="computed__value" id="f-fee"[^>]*data-compute="([^"]+)"', html)
    assert data and "&quot;mul&quot;" in data.group(1)  # the expression, for forms.js
    flow.post_step(browser, public_id, "pet", {"pet_name": "ポチ", "copies": "3"})
    following = browser.get(f"/apply/{public_id}/confirm/").content.decode()
    assert re.search(r"<dt>手数料</dt><dd>900円</dd>", following)


# --- the consent on the check page -------------------------------------------------------------


def test_the_consent_is_asked_on_the_check_page_and_required(publish_form, flow, browser):
    publish_form(CONSENT_SCHEMA, code="CNS")
    public_id = flow.start(browser, "CNS")
    flow.post_step(browser, public_id, "about", {"full_name": "山田 花子", "email": "hanako@example.jp"})
    check = browser.get(f"/apply/{public_id}/check/").content.decode()
    assert "個人情報は審査にだけ使います。" in check and 'name="consent"' in check
    refused = browser.post(f"/apply/{public_id}/check/")
    assert refused.status_code == 400
    assert "送信するには「内容に誤りがないことを確認し、個人情報の利用に同意します」にチェックを入れてください。" in refused.content.decode()
    with pytest.raises(services.ConsentMissing):
        services.submit_as_owner(public_id, browser.cookies["tnh_draft"].value)
    assert browser.post(f"/apply/{public_id}/check/", {"consent": "yes"})["Location"] == f"/apply/{public_id}/done/"


def test_a_consent_without_a_label_is_a_schema_error():
    from tenohira.forms.schema import SchemaError, parse

    with pytest.raises(SchemaError) as error:
        parse({**CONSENT_SCHEMA, "consent": {"text": "…"}})
    assert "consent" in error.value.errors[0]


# --- resume, another browser, the counter ---------------------------------------------------------


def test_the_save_page_offers_the_address_given_in_the_form(tiny_form, flow, browser):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id, steps=("about",))
    html = browser.get(f"/apply/{public_id}/save/").content.decode()
    assert 'value="hanako@example.jp"' in html


def test_another_browser_is_offered_a_fresh_link_to_the_same_address(
    tiny_form, flow, browser, django_capture_on_commit_callbacks
):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id, steps=("about",))
    stranger = flow.client()
    page = stranger.get(f"/apply/{public_id}/about/")
    assert page.status_code == 403
    html = page.content.decode()
    assert "h*****@example.jp" in html and "hanako@example.jp" not in html
    assert "リンクをメールで受け取る" in html
    with django_capture_on_commit_callbacks(execute=True):
        sent = stranger.post(f"/apply/{public_id}/resend/")
    assert sent.status_code == 200 and "h*****@example.jp" in sent.content.decode()
    assert [m.to for m in mail.outbox] == [["hanako@example.jp"]]
    link = re.search(r"https?://[^/\s]+(/resume/[^/\s]+/)", mail.outbox[0].body).group(1)
    assert stranger.get(link).status_code == 302
    assert stranger.get(f"/apply/{public_id}/about/").status_code == 200


def test_a_draft_taken_over_at_the_counter_says_so_on_the_phone(
    tiny_form, flow, browser, django_capture_on_commit_callbacks
):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id, steps=("about",))
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(f"/apply/{public_id}/save/", {"email": "hanako@example.jp"})
    link = re.search(r"https?://[^/\s]+(/resume/[^/\s]+/)", mail.outbox[0].body).group(1)
    staff = get_user_model().objects.create_user("madoguchi", password="x" * 16)
    stored = draft(public_id)
    services.issue_handoff_code(stored)
    assert services.claim_handoff(stored, staff) is not None

    for response in (browser.get(f"/apply/{public_id}/pet/"), flow.client().get(link),
                     browser.post(f"/apply/{public_id}/check/")):
        assert response.status_code == 409
        html = response.content.decode()
        assert "窓口で手続き中です" in html and "Cookie" not in html


def test_every_application_page_links_to_the_status_page(tiny_form, flow, browser):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id)
    for path in ("/procedures/TST/apply/", f"/apply/{public_id}/about/", f"/apply/{public_id}/check/",
                 f"/apply/{public_id}/save/"):
        assert 'href="/status/"' in browser.get(path).content.decode(), path
    assert 'href="/status/"' in flow.client().get(f"/apply/{public_id}/about/").content.decode()


# --- the status page and the receipt ----------------------------------------------------------


def test_the_status_page_says_what_happens_next_in_plain_words(tiny_form, flow, browser):
    from tenohira.catalog.models import Procedure

    Procedure.objects.filter(code="TST").update(processing_days=14)
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id)
    browser.post(f"/apply/{public_id}/check/")
    submission = Submission.objects.get()
    secret = re.search(r'class="secret">([^<]+)<', browser.get(f"/apply/{public_id}/done/").content.decode()).group(1)
    html = browser.post("/status/", {"receipt_number": submission.receipt_number, "secret": secret}).content.decode()
    assert "申請を受け付けました。テスト課が内容を確認します。結果はメールでお知らせします（目安: 14日）。" in html
    assert "今はありません。結果のお知らせをお待ちください。" in html
    assert "<strong>受付</strong>" not in html


def test_the_receipt_pdf_carries_the_status_code(tiny_form, flow, browser, tmp_path):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id)
    browser.post(f"/apply/{public_id}/check/")
    done = browser.get(f"/apply/{public_id}/done/").content.decode()
    secret = re.search(r'class="secret">([^<]+)<', done).group(1)

    def pdf_text(client) -> str:
        response = client.get(f"/apply/{public_id}/receipt.pdf")
        assert response.status_code == 200
        path = tmp_path / "receipt.pdf"
        path.write_bytes(response.content)
        return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout

    text = pdf_text(browser)
    assert secret in text and "確認コード" in text
    # Later (the code's cookie gone), the receipt says where the code is instead.
    del browser.cookies["tnh_status"]
    later = re.sub(r"\s+", "", pdf_text(browser))
    assert secret not in later and "受付のメールに書かれた確認コード" in later


def test_the_demo_window_is_open_on_the_day_the_demo_runs(tiny_form):
    from tenohira.catalog.models import Procedure
    from tenohira.forms.services import demo_window, set_window

    today = timezone.localdate()
    definition = set_window(Procedure.objects.get(code="TST"), *demo_window(today))
    assert definition.is_accepting()
    assert definition.window_state(definition.opens_at - dt.timedelta(seconds=1)) == "before"
    assert definition.window_state(definition.closes_at) == "closed"
