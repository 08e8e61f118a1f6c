"""本人確認 enforced by the application pages: a card procedure cannot be started, continued
or submitted without the card sign-in of the person who started it (a direct POST is
refused like the button), the check page asks for the 電子署名 where the procedure or the
form's condition needs it, and a signature made before the answers changed does not count.

The identity is put into the session directly (tests/support/residents); the providers
themselves are tested in tests/identity.
"""

from __future__ import annotations

import re

import pytest

from tenohira.applications import digests, services
from tenohira.applications import signals as app_signals
from tenohira.applications.models import Draft, Submission
from tenohira.catalog.models import Procedure
from tests.support.residents import card_identity, sign_in, sign_out

SCHEMA = {
    "title": "証明書の請求（テスト）",
    "email_field": "email",
    "signature": {"required_if": {"field": "delivery", "equals": "mail"}, "note": "郵送で受け取る場合"},
    "steps": [
        {"key": "applicant", "title": "請求する方", "fields": [
            {"key": "applicant_name", "type": "name", "label": "氏名", "required": True,
             "prefill": "name", "prefill_locked": True},
            {"key": "birth_date", "type": "date", "label": "生年月日", "required": True,
             "prefill": "birthdate", "prefill_locked": True},
        ]},
        {"key": "contact", "title": "住所と連絡先", "fields": [
            {"key": "address", "type": "address", "label": "住所", "required": True,
             "prefill": "address", "prefill_locked": True},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
        ]},
        {"key": "receive", "title": "受け取り方法", "fields": [
            {"key": "delivery", "type": "choice", "label": "受け取り方法", "required": True,
             "choices": [{"value": "mail", "label": "郵送"}, {"value": "counter", "label": "窓口"}]},
        ]},
    ],
}
ANSWERS = {
    "applicant": {"applicant_name__family_kana": "タカハシ", "applicant_name__given_kana": "キチロウ"},
    "contact": {"email": "kichiro@example.jp"},
    "receive": {"delivery": "counter"},
}


def card_procedure(publish_form, level="card_signin", schema=SCHEMA, code="CRD"):
    version = publish_form(schema, code)
    Procedure.objects.filter(code=code).update(identity=level)
    return version


def started(browser, code="CRD") -> str:
    response = browser.post(f"/procedures/{code}/apply/")
    assert response.status_code == 302, response.content.decode()[:1500]
    return re.search(r"/apply/([0-9a-f-]{36})/", response["Location"]).group(1)


def fill(browser, public_id, answers=ANSWERS):
    for step, data in answers.items():
        response = browser.post(f"/apply/{public_id}/{step}/", {"action": "continue", **data})
        assert response.status_code == 302, (step, response.content.decode()[:3000])


# --- start -------------------------------------------------------------------------------


def test_the_start_page_offers_the_card_sign_in_instead_of_the_start_button(publish_form, browser):
    card_procedure(publish_form)
    html = browser.get("/procedures/CRD/apply/").content.decode()
    assert "マイナンバーカードでログインして申請を始める" in html
    assert 'href="/identity/sign-in/?next=%2Fprocedures%2FCRD%2Fapply%2F&amp;level=card_signin"' in html
    assert "利用者証明用電子証明書の暗証番号（数字4桁）" in html
    assert "郵送で受け取る場合は、送信する前にマイナンバーカードで申請内容に電子署名します" in html
    assert '<button type="submit" class="button button--start">申請を始める</button>' not in html


def test_a_direct_post_to_start_without_the_card_is_refused_and_creates_nothing(publish_form, browser):
    card_procedure(publish_form)
    response = browser.post("/procedures/CRD/apply/")
    assert response.status_code == 403
    assert "申請を始める前にログインしてください" in response.content.decode()
    sign_in(browser, card_identity(level="email"))  # a verified e-mail is not the card
    assert browser.post("/procedures/CRD/apply/").status_code == 403
    assert not Draft.objects.exists()


def test_starting_with_the_card_keeps_the_identity_and_announces_the_draft(publish_form, browser):
    card_procedure(publish_form)
    heard = []

    def receiver(sender, draft, identity, **kwargs):
        heard.append((draft.pk, identity["subject"]))

    app_signals.draft_started.connect(receiver)
    try:
        sign_in(browser, card_identity("alice"))
        public_id = started(browser)
    finally:
        app_signals.draft_started.disconnect(receiver)
    draft = Draft.objects.get(public_id=public_id)
    assert heard == [(draft.pk, "alice")]
    assert draft.identity["subject"] == "alice" and draft.identity["level"] == "card_signin"
    assert "last_seen" not in draft.identity
    assert draft.identity["claims"]["name"] == "髙橋 𠮷郎"  # as received


def test_a_procedure_without_identity_starts_anonymously_as_before(publish_form, browser):
    publish_form(SCHEMA, "ANY")
    public_id = started(browser, "ANY")
    assert Draft.objects.get(public_id=public_id).identity == {}


# --- every page --------------------------------------------------------------------------


def test_another_persons_sign_in_cannot_continue_the_draft(publish_form, browser):
    card_procedure(publish_form)
    sign_in(browser, card_identity("alice"))
    public_id = started(browser)
    sign_in(browser, card_identity("mallory"))
    page = browser.get(f"/apply/{public_id}/applicant/")
    assert page.status_code == 403
    assert "この申請は、別の方のログインで始められています" in page.content.decode()
    assert browser.get(f"/apply/{public_id}/check/").status_code == 403
    assert Draft.objects.get(public_id=public_id).identity["subject"] == "alice"


def test_signed_out_mid_form_the_typing_is_kept_and_sign_in_brings_the_resident_back(publish_form, browser):
    card_procedure(publish_form)
    sign_in(browser, card_identity("alice"))
    public_id = started(browser)
    sign_out(browser)
    response = browser.post(f"/apply/{public_id}/contact/", {"action": "continue", "email": "kept@example.jp"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "もう一度ログインしてください" in html and "入力した内容は保存されています" in html
    assert f"next=%2Fapply%2F{public_id}%2Fcontact%2F" in html
    draft = Draft.objects.get(public_id=public_id)
    assert draft.raw["contact"]["email"] == ["kept@example.jp"]
    sign_in(browser, card_identity("alice"))
    assert browser.get(f"/apply/{public_id}/contact/").status_code == 200


# --- submit ------------------------------------------------------------------------------


def test_a_direct_post_to_submit_without_the_card_or_as_another_person_is_refused(publish_form, browser):
    card_procedure(publish_form)
    sign_in(browser, card_identity("alice"))
    public_id = started(browser)
    fill(browser, public_id)
    sign_out(browser)
    assert browser.post(f"/apply/{public_id}/check/").status_code == 403
    sign_in(browser, card_identity("mallory"))
    response = browser.post(f"/apply/{public_id}/check/")
    assert response.status_code == 403
    assert not Submission.objects.exists()
    # The service refuses it too, with the draft's own cookie.
    secret = browser.cookies["tnh_draft"].value
    for identity, reason in ((None, "missing"), (card_identity("mallory"), "other")):
        with pytest.raises(services.IdentityRequired) as refused:
            services.submit_as_owner(public_id, secret, identity=identity)
        assert refused.value.reason == reason
    assert not Submission.objects.exists()
    services.submit_as_owner(public_id, secret, identity=card_identity("alice"))
    assert Submission.objects.count() == 1


def test_the_submission_copies_the_identity_and_is_announced(publish_form, browser):
    card_procedure(publish_form)
    sign_in(browser, card_identity("alice"))
    public_id = started(browser)
    fill(browser, public_id)
    heard = []
    app_signals.submitted.connect(lambda sender, submission, **kw: heard.append(submission.pk), weak=False,
                                  dispatch_uid="test-submitted")
    try:
        response = browser.post(f"/apply/{public_id}/check/")
    finally:
        app_signals.submitted.disconnect(dispatch_uid="test-submitted")
    assert response.status_code == 302 and response["Location"].endswith("/done/")
    submission = Submission.objects.get()
    assert heard == [submission.pk]
    assert submission.identity == Draft.objects.get(public_id=public_id).identity
    assert submission.identity["subject"] == "alice" and submission.signature == {}  # counter: no signature
    assert browser.post(f"/apply/{public_id}/check/").status_code == 302  # a double tap: no second one
    assert Submission.objects.count() == 1 and heard == [submission.pk]


def test_counter_submission_of_a_card_procedure_is_unaffected(publish_form):
    version = card_procedure(publish_form, level="card_signature")
    draft, _secret = services.start_draft(version)
    run = services.run_of(draft)
    raw = {
        "applicant": {"applicant_name__family": ["窓口"], "applicant_name__given": ["太郎"],
                      "applicant_name__family_kana": ["マドグチ"], "applicant_name__given_kana": ["タロウ"],
                      "birth_date": ["1980-01-01"]},
        "contact": {"address__postal_code": ["963-8024"], "address__prefecture": ["福島県"], "address__city": ["郡山市"],
                    "address__street": ["朝日1-2-3"], "email": ["m@example.jp"]},
        "receive": {"delivery": ["mail"]},
    }
    for step in run.schema.steps:
        services.save_step(draft, step, raw[step.key], {}, [])
    from tenohira.applications.models import Channel

    submission, _secret = services.submit(draft, channel=Channel.COUNTER)
    assert submission.identity == {} and submission.signature == {}


# --- signature ---------------------------------------------------------------------------


def signature_for(draft, subject="alice"):
    return {
        "provider": "mynumber_card", "digest": digests.draft_digest(draft), "digest_algorithm": "SHA-256",
        "signature_algorithm": "sha256WithRSAEncryption", "signature": "c2ln", "certificate": "-----BEGIN CERTIFICATE-----",
        "chain": [], "signed_at": "2026-12-02T01:10:00+00:00", "subject": subject, "unexpected": "dropped",
    }


def test_mail_delivery_needs_the_signature_and_a_post_without_it_is_refused(publish_form, browser):
    card_procedure(publish_form)
    sign_in(browser, card_identity("alice"))
    public_id = started(browser)
    fill(browser, public_id, {**ANSWERS, "receive": {"delivery": "mail"}})
    check = browser.get(f"/apply/{public_id}/check/").content.decode()
    assert "マイナンバーカードで署名する" in check
    assert "署名用電子証明書のパスワード（英数字6〜16文字）が必要です" in check
    assert f'action="/apply/{public_id}/card-signature/"' in check
    assert "同意して送信する" not in check and ">送信する</button>" not in check
    response = browser.post(f"/apply/{public_id}/check/")
    assert response.status_code == 409
    assert "送信する前に、マイナンバーカードで申請内容に電子署名してください" in response.content.decode()
    assert not Submission.objects.exists()

    draft = Draft.objects.get(public_id=public_id)
    services.attach_signature(draft, signature_for(draft))
    assert "unexpected" not in Draft.objects.get(public_id=public_id).signature
    check = browser.get(f"/apply/{public_id}/check/").content.decode()
    assert "マイナンバーカードで電子署名しました" in check and ">送信する</button>" in check
    assert browser.post(f"/apply/{public_id}/check/").status_code == 302
    submission = Submission.objects.get()
    assert submission.signature["digest"] == digests.submission_digest(submission)
    assert submission.signature["subject"] == "alice"


def test_answers_changed_after_signing_need_a_new_signature(publish_form, browser):
    card_procedure(publish_form)
    sign_in(browser, card_identity("alice"))
    public_id = started(browser)
    fill(browser, public_id, {**ANSWERS, "receive": {"delivery": "mail"}})
    draft = Draft.objects.get(public_id=public_id)
    services.attach_signature(draft, signature_for(draft))
    fill(browser, public_id, {"contact": {"email": "changed@example.jp"}})
    check = browser.get(f"/apply/{public_id}/check/").content.decode()
    assert "署名の後に内容が変わりました。もう一度署名してください" in check
    assert "マイナンバーカードで署名する" in check
    response = browser.post(f"/apply/{public_id}/check/")
    assert response.status_code == 409
    assert "署名の後に内容が変わりました。もう一度署名してください" in response.content.decode()
    assert not Submission.objects.exists()


def test_a_signature_by_someone_else_does_not_count(publish_form, browser):
    card_procedure(publish_form)
    sign_in(browser, card_identity("alice"))
    public_id = started(browser)
    fill(browser, public_id, {**ANSWERS, "receive": {"delivery": "mail"}})
    draft = Draft.objects.get(public_id=public_id)
    services.attach_signature(draft, signature_for(draft, subject="mallory"))
    assert browser.post(f"/apply/{public_id}/check/").status_code == 409
    assert not Submission.objects.exists()


def test_card_signature_without_the_forms_condition_always_needs_it(publish_form, browser):
    schema = {key: value for key, value in SCHEMA.items() if key != "signature"}
    card_procedure(publish_form, level="card_signature", schema=schema)
    sign_in(browser, card_identity("alice"))
    public_id = started(browser)
    fill(browser, public_id)  # 窓口 delivery: still needs it
    assert "マイナンバーカードで署名する" in browser.get(f"/apply/{public_id}/check/").content.decode()
    assert browser.post(f"/apply/{public_id}/check/").status_code == 409
    # card sign-in only, without the condition: no signature is asked
    Procedure.objects.filter(code="CRD").update(identity="card_signin")
    assert browser.post(f"/apply/{public_id}/check/").status_code == 302
