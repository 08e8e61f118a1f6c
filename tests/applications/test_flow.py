"""The resident's way through a form over HTTP: drafts saved per step, "save and continue
later" by e-mail, a session that expires mid-form, ownership by the draft cookie, and the
whole 放課後児童クラブ入所申請 (HKC) with two children and an attachment."""

from __future__ import annotations

import datetime as dt
import re

from django.contrib.sessions.models import Session
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tenohira.applications.models import Attachment, Draft, Submission

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200 + b"\xff\xd9"


def draft(public_id) -> Draft:
    return Draft.objects.get(public_id=public_id)


def assert_errors_are_associated(html: str) -> None:
    """Every message shown by a field is read out with it (aria-describedby names it)."""
    error_ids = re.findall(r'class="error-message" id="([^"]+)"', html)
    assert error_ids
    described = {i for value in re.findall(r'aria-describedby="([^"]*)"', html) for i in value.split()}
    assert set(error_ids) <= described, set(error_ids) - described


def resume_path(body: str) -> str:
    match = re.search(r"https?://[^/\s]+(/resume/[^/\s]+/)", body)
    assert match, body
    return match.group(1)


# --- start page ------------------------------------------------------------------------


def test_start_page_says_what_you_need_and_starting_sets_the_draft_cookie(tiny_form, browser):
    page = browser.get("/procedures/TST/apply/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "テスト申請" in html and "メールアドレス" in html and "約3分" in html

    response = browser.post("/procedures/TST/apply/")
    assert response.status_code == 302
    public_id = re.search(r"/apply/([0-9a-f-]{36})/about/$", response["Location"]).group(1)
    cookie = response.cookies["tnh_draft"]
    assert cookie["path"] == f"/apply/{public_id}/"
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert Draft.objects.filter(public_id=public_id).exists()


def test_a_procedure_without_a_published_form_has_no_apply_page(tiny_form, browser):
    assert browser.get("/procedures/NOPE/apply/").status_code == 404


# --- drafts: progress per step ------------------------------------------------------------


def test_each_step_is_saved_even_when_it_has_errors_and_the_typing_is_shown_back(tiny_form, flow, browser):
    public_id = flow.start(browser)
    response = flow.post_step(browser, public_id, "about", {"full_name": "山田 花子", "email": "hanako@", "has_pet": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="山田 花子"' in html and 'value="hanako@"' in html
    assert "メールアドレスの形式が正しくありません" in html
    assert "「犬を飼っていますか」で「はい」か「いいえ」を選んでください。" in html
    assert draft(public_id).raw["about"] == {"full_name": ["山田 花子"], "email": ["hanako@"], "has_pet": [""]}

    # Coming back later (a GET) shows what was typed, without shouting errors yet.
    again = browser.get(f"/apply/{public_id}/about/")
    assert again.status_code == 200
    assert 'value="山田 花子"' in again.content.decode()
    assert "error-summary" not in again.content.decode()


def test_only_the_current_steps_inputs_are_stored(tiny_form, flow, browser):
    public_id = flow.start(browser)
    flow.post_step(browser, public_id, "about", {**flow.TINY_ANSWERS["about"], "pet_name": "よそのページ", "evil": "x"})
    assert set(draft(public_id).raw) == {"about"}
    assert set(draft(public_id).raw["about"]) == {"full_name", "email", "has_pet"}


def test_continue_goes_through_the_steps_to_the_check_page(tiny_form, flow, browser):
    public_id = flow.start(browser)
    steps = iter(["pet", "confirm"])
    for step in ("about", "pet", "confirm"):
        response = flow.post_step(browser, public_id, step, flow.TINY_ANSWERS[step])
        expected = f"/apply/{public_id}/{next(steps, 'check')}/"
        assert response.status_code == 302 and response["Location"] == expected
    check = browser.get(f"/apply/{public_id}/check/")
    assert check.status_code == 200
    html = check.content.decode()
    for text in ("山田 花子", "hanako@example.jp", "ポチ", "600円", f"/apply/{public_id}/pet/?return=check"):
        assert text in html


def test_the_check_page_sends_an_incomplete_draft_back_to_its_first_open_step(tiny_form, flow, browser):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id, steps=("about",))
    response = browser.get(f"/apply/{public_id}/check/")
    assert response.status_code == 302 and response["Location"] == f"/apply/{public_id}/pet/"
    assert browser.post(f"/apply/{public_id}/check/")["Location"] == f"/apply/{public_id}/pet/"
    assert not Submission.objects.exists()


def test_a_change_link_returns_to_the_check_page(tiny_form, flow, browser):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id)
    response = browser.post(
        f"/apply/{public_id}/pet/", {"action": "continue", "return": "check", "pet_name": "ハチ", "copies": "3"}
    )
    assert response["Location"] == f"/apply/{public_id}/check/"
    html = browser.get(f"/apply/{public_id}/check/").content.decode()
    assert "ハチ" in html and "900円" in html


# --- save and continue later ------------------------------------------------------------------


def _save_for_later(browser, flow, django_capture_on_commit_callbacks, email="hanako@example.jp"):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id, steps=("about",))
    # Half-way through the second page: the name is typed, the number of copies is not.
    response = browser.post(f"/apply/{public_id}/pet/", {"action": "save_later", "pet_name": "ポチ", "copies": ""})
    assert response.status_code == 302 and response["Location"] == f"/apply/{public_id}/save/"
    assert browser.get(f"/apply/{public_id}/save/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        saved = browser.post(f"/apply/{public_id}/save/", {"email": email})
    assert saved.status_code == 200
    return public_id, saved


def test_save_and_continue_later_emails_a_link_that_opens_the_draft_in_another_browser(
    tiny_form, flow, browser, django_capture_on_commit_callbacks
):
    public_id, saved = _save_for_later(browser, flow, django_capture_on_commit_callbacks,
                                       email="ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ")
    assert "hanako@example.jp" in saved.content.decode() and "何度でも使えます" in saved.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["hanako@example.jp"]
    assert "テスト申請" in message.subject
    link = resume_path(message.body)

    phone = flow.client()  # another device: no cookies at all
    opened = phone.get(link)
    assert opened.status_code == 302
    assert opened["Location"] == f"/apply/{public_id}/pet/"  # the first incomplete step
    page = phone.get(opened["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="ポチ"' in html
    assert "保存した入力内容を読み込みました" in html
    # Everything typed earlier is there too.
    about = phone.get(f"/apply/{public_id}/about/").content.decode()
    assert 'value="山田 花子"' in about and 'value="hanako@example.jp"' in about

    # The new device continues where the resident stopped.
    response = flow.post_step(phone, public_id, "pet", {"pet_name": "ポチ", "copies": "2"})
    assert response["Location"] == f"/apply/{public_id}/confirm/"


def test_a_resume_link_works_again_and_again_in_any_browser(tiny_form, flow, browser, django_capture_on_commit_callbacks):
    public_id, _saved = _save_for_later(browser, flow, django_capture_on_commit_callbacks)
    link = resume_path(mail.outbox[0].body)
    first = flow.client()
    assert first.get(link).status_code == 302
    assert first.get(link).status_code == 302  # the same browser, a second time

    second = flow.client()  # e.g. the mail app's own browser
    response = second.get(link)
    assert response.status_code == 302 and response["Location"] == f"/apply/{public_id}/pet/"
    # Every browser that opened the link may go on, and so may the one that started.
    for client in (first, second, browser):
        assert client.get(f"/apply/{public_id}/pet/").status_code == 200
    assert flow.post_step(second, public_id, "pet", flow.TINY_ANSWERS["pet"]).status_code == 302
    assert draft(public_id).raw["pet"]["copies"] == ["2"]

    # Saving again sends the same link: the browsers that opened the first one keep going.
    with django_capture_on_commit_callbacks(execute=True):
        assert first.post(f"/apply/{public_id}/save/", {"email": "hanako@example.jp"}).status_code == 200
    assert resume_path(mail.outbox[-1].body) == link
    assert second.get(f"/apply/{public_id}/about/").status_code == 200


def test_an_expired_draft_makes_its_resume_link_invalid(tiny_form, flow, browser, django_capture_on_commit_callbacks):
    public_id, _saved = _save_for_later(browser, flow, django_capture_on_commit_callbacks)
    link = resume_path(mail.outbox[0].body)
    Draft.objects.filter(public_id=public_id).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    response = flow.client().get(link)
    assert response.status_code == 404
    assert "このリンクは使えません" in response.content.decode()
    assert "tnh_draft" not in response.cookies


def test_an_unknown_resume_link_shows_the_invalid_page(db, flow):
    response = flow.client().get("/resume/not-a-real-token/")
    assert response.status_code == 404
    assert "このリンクは使えません" in response.content.decode()


def test_resume_link_lives_as_long_as_the_draft(tiny_form, flow, browser, settings, django_capture_on_commit_callbacks):
    settings.DRAFT_LIFETIME_DAYS = 3
    before = timezone.now()
    public_id, saved = _save_for_later(browser, flow, django_capture_on_commit_callbacks)
    after = timezone.now()
    stored = draft(public_id)
    assert before + dt.timedelta(days=3) <= stored.expires_at <= after + dt.timedelta(days=3)
    assert stored.resume_expires_at == stored.expires_at
    local = timezone.localtime(stored.expires_at)
    assert f"{local:%Y年%m月%d日 %H:%M}" in mail.outbox[0].body
    assert "何度でも" in mail.outbox[0].body
    assert f"{local.year}年{local.month}月{local.day}日まで有効" in saved.content.decode()


def test_save_for_later_refuses_a_bad_address_in_japanese(tiny_form, flow, browser):
    public_id = flow.start(browser)
    response = browser.post(f"/apply/{public_id}/save/", {"email": "not an address"})
    assert response.status_code == 400
    assert "メールアドレスの形式が正しくありません" in response.content.decode()
    assert draft(public_id).resume_token_hash == ""
    assert mail.outbox == []


# --- an expired session keeps what was typed; ownership is the draft cookie -----------------


def test_an_expired_session_mid_form_loses_nothing(tiny_form, flow, browser):
    session = browser.session  # the resident has a Django session, as after any login
    session["seen_intro"] = True
    session.save()
    public_id = flow.start(browser)
    assert flow.post_step(browser, public_id, "about", flow.TINY_ANSWERS["about"]).status_code == 302

    # The session expires: the server forgets it and the browser drops its cookie.
    del browser.cookies["sessionid"]
    Session.objects.all().delete()

    response = flow.post_step(browser, public_id, "pet", flow.TINY_ANSWERS["pet"])
    assert response.status_code == 302 and response["Location"] == f"/apply/{public_id}/confirm/"
    assert draft(public_id).raw["pet"] == {"pet_name": ["ポチ"], "copies": ["2"]}
    assert draft(public_id).raw["about"]["full_name"] == ["山田 花子"]
    assert flow.post_step(browser, public_id, "confirm", flow.TINY_ANSWERS["confirm"]).status_code == 302
    assert browser.post(f"/apply/{public_id}/check/")["Location"] == f"/apply/{public_id}/done/"
    assert Submission.objects.get().answers["pet_name"] == "ポチ"


def test_another_browser_without_the_draft_cookie_cannot_read_or_change_the_draft(tiny_form, flow, browser):
    public_id = flow.start(browser)
    flow.fill_tiny(browser, public_id, steps=("about", "pet"))
    stranger = flow.client()
    for path in ("about/", "pet/", "check/", "done/", "save/", "receipt.pdf"):
        response = stranger.get(f"/apply/{public_id}/{path}")
        assert response.status_code == 403, path
        html = response.content.decode()
        assert "山田" not in html and "hanako" not in html and "ポチ" not in html
        assert "この申請を開けません" in html

    forged = flow.client()
    forged.cookies["tnh_draft"] = "guessed-secret"
    response = flow.post_step(forged, public_id, "pet", {"pet_name": "のっとり", "copies": "9"})
    assert response.status_code == 403
    assert flow.post_step(stranger, public_id, "about", {"full_name": "別人"}).status_code == 403
    assert stranger.post(f"/apply/{public_id}/check/").status_code == 403
    assert stranger.post(f"/apply/{public_id}/save/", {"email": "x@example.jp"}).status_code == 403
    stored = draft(public_id)
    assert stored.raw["pet"]["pet_name"] == ["ポチ"] and stored.raw["about"]["full_name"] == ["山田 花子"]
    assert stored.email == "" and not Submission.objects.exists()


# --- 放課後児童クラブ入所申請 (HKC), the whole way -------------------------------------------------


def _name(prefix, family, given, family_kana, given_kana):
    return {f"{prefix}__family": family, f"{prefix}__given": given,
            f"{prefix}__family_kana": family_kana, f"{prefix}__given_kana": given_kana}


def _child(index, family, given, family_kana, given_kana, birth, grade, club, period):
    prefix = f"children-{index}"
    return {**_name(f"{prefix}-child_name", family, given, family_kana, given_kana),
            f"{prefix}-birth_date": birth, f"{prefix}-school": "サンプル市立中央小学校",
            f"{prefix}-grade": grade, f"{prefix}-club": club, f"{prefix}-period": period}


def test_hkc_with_two_children_and_an_attachment(hkc_form, flow, browser, django_capture_on_commit_callbacks):
    start = browser.get("/procedures/HKC/apply/")
    assert start.status_code == 200
    assert "放課後児童クラブ入所申請" in start.content.decode() and "就労証明書" in start.content.decode()
    public_id = flow.start(browser, "HKC")
    base = f"/apply/{public_id}"

    # 1. guardian: the furigana typed in hiragana becomes katakana.
    response = flow.post_step(browser, public_id, "guardian",
                              {**_name("guardian_name", "山田", "花子", "やまだ", "はなこ"), "relationship": "mother"})
    assert response["Location"] == f"{base}/contact/"

    # 2. contact: 住所を検索 (no JavaScript) fills prefecture and city from the postal code.
    looked_up = browser.post(f"{base}/contact/", {
        "action": "lookup:address", "address__postal_code": "９６３ー８６０１", "phone": "090-1234-5678",
    })
    assert looked_up.status_code == 200
    html = looked_up.content.decode()
    assert 'value="963-8601"' in html and 'value="福島県"' in html and 'value="郡山市"' in html
    assert 'value="090-1234-5678"' in html  # the rest of the page is kept
    filled = draft(public_id).raw["contact"]
    assert filled["address__prefecture"] == ["福島県"] and filled["address__city"] == ["郡山市"]
    response = flow.post_step(browser, public_id, "contact", {
        "address__postal_code": "963-8601", "address__prefecture": "福島県", "address__city": "郡山市",
        "address__town": filled["address__town"][0], "address__street": "１－２３－７",
        "address__building": "朝日ハイツ101", "phone": "０９０（１２３４）５６７８", "email": "Hanako@Example.JP",
    })
    assert response["Location"] == f"{base}/child/"

    # 3. children: one row first, then もう1件追加 for the sibling.
    first_child = _child(0, "山田", "一郎", "ヤマダ", "イチロウ", "平成28年5月10日", "3", "chuo", "year")
    added = browser.post(f"{base}/child/", {"action": "add:children", "children-count": "1", **first_child})
    assert added.status_code == 200
    html = added.content.decode()
    assert 'id="f-children-1-child_name__family"' in html
    assert 'value="一郎"' in html  # the first child's typing is kept
    assert draft(public_id).raw["child"]["children-count"] == ["2"]
    second_child = _child(1, "山田", "さくら", "やまだ", "さくら", "R1.9.1", "1", "minami", "summer")
    response = flow.post_step(browser, public_id, "child", {"children-count": "2", **first_child, **second_child})
    assert response["Location"] == f"{base}/work/"

    # 4. work: working, so the employer questions and the certificate apply.
    certificate = SimpleUploadedFile("shuro_shomei.jpg", JPEG, content_type="image/jpeg")
    response = flow.post_step(browser, public_id, "work", {
        "working": "yes", "employer": "株式会社サンプル商事 駅前店", "work_days": "５",
        "work_hours": "9:00〜17:00", "work_certificate": certificate,
    })
    assert response["Location"] == f"{base}/check/"
    attachment = Attachment.objects.get()
    assert attachment.original_name == "shuro_shomei.jpg" and str(attachment.draft.public_id) == public_id

    # 5. the check page shows every answer, and asks for the consent next to 送信.
    check = browser.get(f"{base}/check/")
    assert check.status_code == 200
    html = check.content.decode()
    for text in ("山田 花子（ヤマダ ハナコ）", "母", "〒963-8601 福島県郡山市", "1-23-7", "090-1234-5678",
                 "Hanako@example.jp", "お子さん1 氏名", "山田 一郎（ヤマダ イチロウ）", "平成28年5月10日",
                 "お子さん2 氏名", "山田 さくら（ヤマダ サクラ）", "令和元年9月1日", "みなみ児童クラブ",
                 "株式会社サンプル商事 駅前店", "5日", "shuro_shomei.jpg",
                 "申請内容に誤りがないことを確認し、個人情報の利用目的に同意します", "同意して送信する"):
        assert text in html, text

    # Sent without the tick: the page says what to do, nothing is submitted.
    refused = browser.post(f"{base}/check/")
    assert refused.status_code == 400
    assert flow.error_links(refused.content.decode()) == ["f-consent"]
    assert "にチェックを入れてください" in refused.content.decode()
    assert not Submission.objects.exists()

    # 6. submit: the done page shows the receipt number, the e-mail repeats it.
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"{base}/check/", {"consent": "yes"})
    assert response["Location"] == f"{base}/done/"
    done = browser.get(f"{base}/done/")
    assert done.status_code == 200
    submission = Submission.objects.get()
    assert re.fullmatch(r"20\d\d-HKC-000001", submission.receipt_number)
    html = done.content.decode()
    assert submission.receipt_number in html and "受付番号" in html
    assert re.search(r'class="secret">[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}<', html)
    assert len(mail.outbox) == 1 and submission.receipt_number in mail.outbox[0].body
    assert mail.outbox[0].to == ["Hanako@example.jp"]

    answers = submission.answers
    assert answers["guardian_name"]["family_kana"] == "ヤマダ"
    assert answers["phone"] == "09012345678"
    assert [c["child_name"]["given"] for c in answers["children"]] == ["一郎", "さくら"]
    assert [c["birth_date"] for c in answers["children"]] == ["2016-05-10", "2019-09-01"]
    assert answers["work_days"] == 5 and answers["work_certificate"] == [attachment.token]
    assert "not_working_reason" not in answers
    attachment.refresh_from_db()
    assert attachment.submission == submission
    assert submission.form_version == hkc_form

    # After submitting, the step pages lead to the done page instead of editing.
    assert browser.get(f"{base}/work/")["Location"] == f"{base}/done/"


def test_hkc_empty_steps_answer_400_with_an_error_summary_linking_to_real_inputs(hkc_form, flow, browser):
    public_id = flow.start(browser, "HKC")
    expected_first_links = {
        "guardian": "f-guardian_name__family",
        "contact": "f-address__postal_code",
        "child": "f-children-0-child_name__family",
        "work": "f-working-0",
    }
    for step, first_link in expected_first_links.items():
        response = flow.post_step(browser, public_id, step, {})
        assert response.status_code == 400, step
        html = response.content.decode()
        assert "<title>エラー: " in html
        links = flow.error_links(html)
        assert links and links[0] == first_link, (step, links)
        assert set(links) <= flow.ids_in(html), (step, set(links) - flow.ids_in(html))
        messages = re.findall(r'<a href="#[^"]+">([^<]+)</a>', re.search(r'class="error-summary".*?</div>', html, re.S).group(0))
        assert all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", m) for m in messages), messages
        assert_errors_are_associated(html)


def test_hkc_group_row_errors_are_keyed_by_row_and_linked(hkc_form, flow, browser):
    public_id = flow.start(browser, "HKC")
    first_child = _child(0, "山田", "一郎", "ヤマダ", "イチロウ", "平成28年5月10日", "3", "chuo", "year")
    broken = {"children-count": "2", **first_child, "children-1-child_name__family": "山田",
              "children-1-birth_date": "2999-01-01"}
    response = flow.post_step(browser, public_id, "child", broken)
    assert response.status_code == 400
    html = response.content.decode()
    links = flow.error_links(html)
    assert links[0] == "f-children-1-child_name__family"
    assert "f-children-1-birth_date" in links
    assert not any(link.startswith("f-children-0-") for link in links)
    assert set(links) <= flow.ids_in(html)
    # Errors inside a row name the row, in the summary and by the field.
    assert "お子さん2の生年月日に未来の日付は入力できません。" in html
    assert "お子さん2の学年を選んでください。" in html
    assert_errors_are_associated(html)


def test_hkc_address_lookup_of_an_unknown_postal_code_is_an_error_by_the_field(hkc_form, flow, browser):
    public_id = flow.start(browser, "HKC")
    response = browser.post(f"/apply/{public_id}/contact/", {"action": "lookup:address", "address__postal_code": "000-0000"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "郵便番号「000-0000」は見つかりません" in html
    assert flow.error_links(html) == ["f-address__postal_code"]
    assert 'value="000-0000"' in html
    assert_errors_are_associated(html)


def test_hkc_removing_a_child_row_shifts_the_rows_after_it(hkc_form, flow, browser):
    public_id = flow.start(browser, "HKC")
    rows = {"children-count": "3",
            **_child(0, "山田", "一郎", "ヤマダ", "イチロウ", "H28.5.10", "3", "chuo", "year"),
            **_child(1, "山田", "次郎", "ヤマダ", "ジロウ", "H29.6.1", "2", "chuo", "year"),
            **_child(2, "山田", "三郎", "ヤマダ", "サブロウ", "H30.7.1", "1", "chuo", "year")}
    # 削除 first asks, on a page of its own; what was typed is already saved.
    response = browser.post(f"/apply/{public_id}/child/", {"action": "remove:children:1", **rows})
    assert response.status_code == 200
    html = response.content.decode()
    assert "お子さん2の情報を削除しますか？" in html and "山田 次郎" in html
    assert 'value="remove_confirmed:children:1"' in html
    assert draft(public_id).raw["child"]["children-count"] == ["3"]
    assert draft(public_id).raw["child"]["children-1-child_name__given"] == ["次郎"]
    # 削除する: the confirmation page posts only its button.
    response = browser.post(f"/apply/{public_id}/child/", {"action": "remove_confirmed:children:1", "confirmed_removal": "1"})
    assert response.status_code == 302 and response["Location"] == f"/apply/{public_id}/child/"
    assert "お子さん2を削除しました" in browser.get(response["Location"]).content.decode()
    raw = draft(public_id).raw["child"]
    assert raw["children-count"] == ["2"]
    assert raw["children-0-child_name__given"] == ["一郎"]
    assert raw["children-1-child_name__given"] == ["三郎"]
    assert "children-2-child_name__given" not in raw
