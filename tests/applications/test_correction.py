"""差戻し, the applicant's side: the e-mailed link opens a page with only the fields staff
named, pre-filled with the current answers; the resubmission becomes version 2 (version 1
stays as it was) and moves 差戻し → 再提出; inputs for other fields change nothing; the
link works once and not after its expiry.

Submissions are made through the real services (publish, start_draft, save_step, submit)
and corrections through backoffice.services (transition to 審査中, request_correction)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from tenohira.applications import services
from tenohira.applications.models import (
    Attachment,
    CorrectionRequest,
    Submission,
    SubmissionEvent,
    SubmissionVersion,
)
from tenohira.backoffice import services as backoffice
from tenohira.backoffice.models import Role, StaffRole
from tenohira.core.models import OutboxMessage

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x11" * 300 + b"\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"This program cannot be run in DOS mode." + b"\x00" * 200

SCHEMA = {
    "title": "修正テスト申請",
    "email_field": "email",
    "steps": [
        {
            "key": "about",
            "title": "申請する方について",
            "fields": [
                {"key": "applicant", "type": "name", "label": "氏名", "required": True},
                {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
                {"key": "phone", "type": "phone", "label": "電話番号", "required": True},
                {"key": "has_pet", "type": "yesno", "label": "犬を飼っていますか", "required": True},
            ],
        },
        {
            "key": "pet",
            "title": "犬について",
            "show_if": {"field": "has_pet", "equals": True},
            "fields": [{"key": "pet_name", "type": "text", "label": "犬の名前", "required": True}],
        },
        {
            "key": "kids",
            "title": "お子さん",
            "fields": [
                {
                    "key": "children", "type": "group", "label": "お子さん", "row_label": "お子さん", "min": 1, "max": 3,
                    "fields": [
                        {"key": "child_name", "type": "text", "label": "名前", "required": True},
                        {"key": "age", "type": "number", "label": "年齢", "min": 0, "max": 18, "required": True},
                    ],
                }
            ],
        },
        {
            "key": "docs",
            "title": "書類",
            "fields": [
                {"key": "certificate", "type": "file", "label": "証明書", "required": True, "max_size_mb": 1},
                {"key": "note", "type": "text", "label": "メモ"},
            ],
        },
        {
            "key": "confirm",
            "title": "同意",
            "fields": [{"key": "consent", "type": "consent", "label": "内容に誤りがないことを確認しました", "required": True}],
        },
    ],
}

ANSWERS = {
    "about": {
        "applicant__family": "山田", "applicant__given": "花子", "applicant__family_kana": "ヤマダ",
        "applicant__given_kana": "ハナコ", "email": "hanako@example.jp", "phone": "090-1234-5678", "has_pet": "no",
    },
    "kids": {"children-count": "1", "children-0-child_name": "太郎", "children-0-age": "7"},
    "docs": {"note": "よろしくお願いします"},
    "confirm": {"consent": "yes"},
}


def as_raw(values: dict) -> dict:
    return {name: value if isinstance(value, list) else [value] for name, value in values.items()}


@pytest.fixture
def world(publish_form):
    """A submitted application (version 1, with a certificate), 審査中, and its handler."""
    return build_world(publish_form)


def build_world(publish_form) -> SimpleNamespace:
    version = publish_form(SCHEMA, code="COR")
    procedure = version.definition.procedure
    draft, _owner = services.start_draft(version)
    schema = version.parsed()
    for step_key, values in ANSWERS.items():
        uploads = {"certificate": [SimpleUploadedFile("cert.jpg", JPEG, content_type="image/jpeg")]} if step_key == "docs" else {}
        _run, problems = services.save_step(draft, schema.step(step_key), as_raw(values), uploads, [])
        assert problems == []
    draft.refresh_from_db()
    submission, secret = services.submit(draft)
    handler = get_user_model().objects.create_user("onigawara", last_name="鬼瓦", first_name="権三")
    StaffRole.objects.create(user=handler, role=Role.HANDLER, section=procedure.section)
    backoffice.transition(handler, submission.receipt_number, Submission.Status.UNDER_REVIEW)
    return SimpleNamespace(version=version, procedure=procedure, draft=draft, submission=submission, secret=secret,
                           handler=handler, certificate=submission.answers["certificate"][0])


def ask(world, *paths, message="内容を確かめてください。", note="正しいものに直してください。") -> str:
    """request_correction for `paths`; returns the token of the e-mailed link."""
    links = []

    def link_for(token):
        links.append(f"/corrections/{token}/")
        return f"https://city.example.jp{links[-1]}"

    backoffice.request_correction(
        world.handler, world.submission.receipt_number, fields=[{"path": p, "note": note} for p in paths],
        message=message, link_for=link_for,
    )
    assert len(links) == 1
    return re.fullmatch(r"/corrections/([^/]+)/", links[0]).group(1)


def fresh(world) -> Submission:
    return Submission.objects.get(pk=world.submission.pk)


def ids_in(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def error_links(html: str) -> list[str]:
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert summary, "no error summary on the page"
    return re.findall(r'href="#([^"]+)"', summary.group(0))


def input_names(html: str) -> set[str]:
    form = re.search(r'<form method="post".*?</form>', html, re.S).group(0)
    return set(re.findall(r'\bname="([^"]+)"', form))


# --- the page ---------------------------------------------------------------------------------


def test_the_link_explains_the_request_and_shows_only_the_requested_fields_prefilled(world, browser):
    token = ask(world, "phone", message="日中につながる番号をお願いします。", note="この番号につながりませんでした。")
    mail = OutboxMessage.objects.filter(kind="submission_status", reference=world.submission.receipt_number).last()
    assert f"/corrections/{token}/" in mail.body

    page = browser.get(f"/corrections/{token}/")
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0")
    html = page.content.decode()
    assert "申請内容の修正" in html and world.submission.receipt_number in html
    assert "日中につながる番号をお願いします。" in html
    assert "電話番号" in html and "この番号につながりませんでした。" in html
    assert "修正して再提出する" in html
    # Only the requested field (and the comment box); its current answer is filled in.
    assert input_names(html) == {"csrfmiddlewaretoken", "phone", "comment", "action"}
    assert 'value="090-1234-5678"' in html
    assert 'for="f-phone"' in html and 'id="f-phone"' in html
    assert "hanako@example.jp" not in html and "鬼瓦" not in html


def test_a_group_field_is_offered_whole_with_its_rows(world, browser):
    token = ask(world, "children")
    html = browser.get(f"/corrections/{token}/").content.decode()
    names = input_names(html)
    assert {"children-count", "children-0-child_name", "children-0-age"} <= names
    assert not {"phone", "email", "note", "applicant__family"} & names
    assert 'value="太郎"' in html


# --- resubmission -------------------------------------------------------------------------------


def test_resubmitting_changes_only_the_requested_field_and_keeps_version_1(world, browser, django_capture_on_commit_callbacks):
    token = ask(world, "phone")
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/corrections/{token}/", {
            "action": "resubmit", "phone": "080-9999-0000", "comment": "携帯の番号に直しました。",
            # Inputs of fields that were not requested: ignored.
            "email": "someone-else@example.jp", "applicant__family": "偽名", "note": "書き換え", "children-0-age": "17",
        })
    assert response.status_code == 302
    assert response["Location"] == f"/corrections/{token}/done/"

    submission = fresh(world)
    assert submission.status == Submission.Status.RESUBMITTED
    assert submission.version == 2
    assert submission.answers["phone"] == "08099990000"
    assert submission.answers["email"] == "hanako@example.jp"
    assert submission.answers["applicant"]["family"] == "山田"
    assert submission.answers["note"] == "よろしくお願いします"
    assert submission.answers["children"][0]["age"] == 7
    assert submission.email == "hanako@example.jp"
    shown = {item["label"]: item["value"] for section in submission.summary for item in section["items"]}
    assert shown["電話番号"] == "080-9999-0000"

    versions = list(SubmissionVersion.objects.filter(submission=submission).order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert versions[0].answers["phone"] == "09012345678"
    assert versions[1].answers["phone"] == "08099990000"
    assert versions[1].answers == submission.answers

    event = SubmissionEvent.objects.filter(submission=submission).last()
    assert (event.from_status, event.to_status) == (Submission.Status.RETURNED, Submission.Status.RESUBMITTED)
    assert event.actor is None and event.actor_label == "申請者"
    assert event.comment == "携帯の番号に直しました。"
    assert CorrectionRequest.objects.get(submission=submission).resolved_at is not None
    # The draft's inputs follow, so a later correction starts from the current answers.
    world.draft.refresh_from_db()
    assert world.draft.raw["about"]["phone"] == ["080-9999-0000"]
    assert world.draft.raw["about"]["email"] == ["hanako@example.jp"]

    confirmation = OutboxMessage.objects.get(kind="submission_resubmitted")
    assert confirmation.to == "hanako@example.jp" and submission.receipt_number in confirmation.subject
    assert confirmation.sent_at is not None
    assert confirmation.body == ""  # once delivered, the row keeps no body (links, codes)
    (sent,) = [m for m in mail.outbox if "修正した申請" in m.subject]
    assert "電話番号" in sent.body

    done = browser.get(response["Location"])
    assert done.status_code == 200
    assert "修正した申請を受け付けました" in done.content.decode()


def test_the_service_ignores_inputs_of_other_fields_and_other_steps(world):
    token = ask(world, "note")
    correction = services.open_correction(token)
    submission, problems = services.resubmit(
        correction,
        {"docs": {"note": ["直したメモ"], "certificate": []},  # certificate was not requested
         "about": {"phone": ["080-0000-0000"]}, "confirm": {"consent": [""]}},
        {"certificate": [SimpleUploadedFile("other.jpg", JPEG, content_type="image/jpeg")]},
        [world.certificate],
    )
    assert problems == []
    assert submission.answers["note"] == "直したメモ"
    assert submission.answers["phone"] == "09012345678"
    assert submission.answers["consent"] is True
    assert submission.answers["certificate"] == [world.certificate]
    assert Attachment.objects.filter(draft=world.draft).count() == 1


def test_invalid_input_keeps_what_was_typed_with_errors_and_changes_nothing(world, browser):
    token = ask(world, "phone")
    response = browser.post(f"/corrections/{token}/", {"action": "resubmit", "phone": "12", "comment": "直しました"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="12"' in html and ">直しました</textarea>" in html
    assert error_links(html) == ["f-phone"]
    assert set(error_links(html)) <= ids_in(html)
    assert 'aria-describedby="f-phone-error"' in html or re.search(r'aria-describedby="[^"]*f-phone-error', html)
    assert html.count('class="error-message"') == 1

    submission = fresh(world)
    assert submission.status == Submission.Status.RETURNED and submission.version == 1
    assert submission.answers["phone"] == "09012345678"
    assert SubmissionVersion.objects.filter(submission=submission).count() == 1
    assert services.open_correction(token) is not None
    world.draft.refresh_from_db()
    assert world.draft.raw["about"]["phone"] == ["090-1234-5678"]


def test_an_empty_required_field_is_an_error(world, browser):
    token = ask(world, "phone")
    response = browser.post(f"/corrections/{token}/", {"action": "resubmit", "phone": ""})
    assert response.status_code == 400
    assert "電話番号を入力してください。" in response.content.decode()
    assert fresh(world).version == 1


def test_a_change_that_needs_answers_outside_the_request_is_refused_with_a_reason(world, browser):
    token = ask(world, "has_pet")
    response = browser.post(f"/corrections/{token}/", {"action": "resubmit", "has_pet": "yes"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "お問い合わせください" in html and "テスト課" in html
    assert error_links(html) == ["correction-request"]
    assert 'id="correction-request"' in html
    assert fresh(world).status == Submission.Status.RETURNED


def test_group_rows_are_added_without_javascript_and_the_new_rows_are_submitted(world, browser):
    token = ask(world, "children")
    added = browser.post(f"/corrections/{token}/", {
        "action": "add:children", "children-count": "1", "children-0-child_name": "太郎", "children-0-age": "7",
    })
    assert added.status_code == 200
    html = added.content.decode()
    assert 'name="children-1-child_name"' in html and 'value="太郎"' in html
    assert "error-summary" not in html
    assert fresh(world).version == 1  # a button press stores nothing

    response = browser.post(f"/corrections/{token}/", {
        "action": "resubmit", "children-count": "2", "children-0-child_name": "太郎", "children-0-age": "7",
        "children-1-child_name": "次郎", "children-1-age": "5",
    })
    assert response.status_code == 302
    submission = fresh(world)
    assert [c["child_name"] for c in submission.answers["children"]] == ["太郎", "次郎"]
    assert SubmissionVersion.objects.get(submission=submission, number=1).answers["children"] == [
        {"child_name": "太郎", "age": 7}
    ]


def test_an_error_in_a_group_row_links_to_that_row(world, browser):
    token = ask(world, "children")
    response = browser.post(f"/corrections/{token}/", {
        "action": "resubmit", "children-count": "2", "children-0-child_name": "太郎", "children-0-age": "7",
        "children-1-child_name": "", "children-1-age": "30",
    })
    assert response.status_code == 400
    links = error_links(response.content.decode())
    assert links == ["f-children-1-child_name", "f-children-1-age"]
    assert set(links) <= ids_in(response.content.decode())


# --- files ------------------------------------------------------------------------------------------


def test_a_requested_file_can_be_replaced_and_version_1_keeps_the_old_one(world, browser):
    token = ask(world, "certificate", note="有効期限が切れています。")
    page = browser.get(f"/corrections/{token}/").content.decode()
    assert "cert.jpg" in page and f'value="{world.certificate}"' in page

    # 削除 (no JavaScript): the old file disappears from the page but stays with version 1.
    removed = browser.post(f"/corrections/{token}/", {"action": f"remove_file:{world.certificate}",
                                                        "certificate": world.certificate})
    assert removed.status_code == 200
    assert "cert.jpg" not in removed.content.decode()
    old = Attachment.objects.get(token=world.certificate)
    assert old.submission_id == world.submission.pk

    response = browser.post(f"/corrections/{token}/", {
        "action": "resubmit", "certificate": SimpleUploadedFile("new.pdf", PDF, content_type="application/pdf"),
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    submission = fresh(world)
    (new_token,) = submission.answers["certificate"]
    assert new_token != world.certificate
    new = Attachment.objects.get(token=new_token)
    assert new.submission_id == submission.pk and new.original_name == "new.pdf"
    assert Attachment.objects.get(token=world.certificate).submission_id == submission.pk
    assert SubmissionVersion.objects.get(submission=submission, number=1).answers["certificate"] == [world.certificate]


def test_a_refused_upload_is_reported_and_nothing_changes(world, browser):
    token = ask(world, "certificate")
    response = browser.post(f"/corrections/{token}/", {
        "action": "resubmit",
        # As a browser posts it: the attached file's hidden token and the chosen file.
        "certificate": [world.certificate, SimpleUploadedFile("photo.jpg", EXE, content_type="image/jpeg")],
    })
    assert response.status_code == 400
    html = response.content.decode()
    assert "プログラム（実行ファイル）なので添付できません" in html
    assert error_links(html) == ["f-certificate"]
    assert fresh(world).version == 1
    assert fresh(world).answers["certificate"] == [world.certificate]


def test_an_upload_with_other_errors_stays_attached_for_the_next_try(world, browser):
    token = ask(world, "certificate", "note")
    first = browser.post(f"/corrections/{token}/", {
        "action": "resubmit", "note": "x" * 300,
        "certificate": SimpleUploadedFile("new.png", JPEG, content_type="image/jpeg"),
    })
    assert first.status_code == 400
    html = first.content.decode()
    assert "new.png" in html
    new_token = re.search(r'name="certificate" value="([^"]+)">new\.png', html).group(1)
    again = browser.post(f"/corrections/{token}/", {"action": "resubmit", "note": "直しました",
                                                     "certificate": [new_token]})
    assert again.status_code == 302
    assert fresh(world).answers["certificate"] == [new_token]


def test_a_token_of_another_application_is_not_taken_over(world, browser):
    other_draft, _ = services.start_draft(world.version)
    services.save_step(other_draft, world.version.parsed().step("docs"), {"note": ["別の人"]},
                       {"certificate": [SimpleUploadedFile("other.jpg", JPEG, content_type="image/jpeg")]}, [])
    foreign = Attachment.objects.get(draft=other_draft).token
    token = ask(world, "certificate")
    response = browser.post(f"/corrections/{token}/", {"action": "resubmit", "certificate": [world.certificate, foreign]})
    assert response.status_code == 302
    assert fresh(world).answers["certificate"] == [world.certificate]
    assert Attachment.objects.get(token=foreign).submission_id is None


# --- once, and only while valid -----------------------------------------------------------------


def test_a_second_post_after_success_shows_the_done_page_and_stores_nothing_more(world, browser):
    token = ask(world, "phone")
    data = {"action": "resubmit", "phone": "080-1111-2222"}
    assert browser.post(f"/corrections/{token}/", data).status_code == 302
    again = browser.post(f"/corrections/{token}/", {**data, "phone": "080-3333-4444"})
    assert again.status_code == 302 and again["Location"] == f"/corrections/{token}/done/"
    submission = fresh(world)
    assert submission.version == 2 and submission.answers["phone"] == "08011112222"
    assert SubmissionVersion.objects.filter(submission=submission).count() == 2
    assert SubmissionEvent.objects.filter(submission=submission, to_status=Submission.Status.RESUBMITTED).count() == 1
    assert OutboxMessage.objects.filter(kind="submission_resubmitted").count() == 1
    # The service alone is idempotent too.
    correction = CorrectionRequest.objects.get(submission=submission)
    same, problems = services.resubmit(correction, {"about": {"phone": ["080-5555-6666"]}}, {}, [])
    assert problems == [] and same.pk == submission.pk and fresh(world).version == 2

    used = browser.get(f"/corrections/{token}/")
    assert used.status_code == 404
    assert "このリンクは使えません" in used.content.decode()


def test_expired_unknown_and_closed_links_are_a_clear_404(world, browser):
    token = ask(world, "phone")
    CorrectionRequest.objects.filter(submission=world.submission).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    for response in (browser.get(f"/corrections/{token}/"),
                     browser.post(f"/corrections/{token}/", {"action": "resubmit", "phone": "080-1111-2222"})):
        assert response.status_code == 404
        assert "このリンクは使えません" in response.content.decode()
        assert '<html lang="ja">' in response.content.decode()
    assert fresh(world).version == 1 and fresh(world).status == Submission.Status.RETURNED
    assert browser.get(f"/corrections/{token}/done/").status_code == 404

    assert browser.get("/corrections/not-a-real-token/").status_code == 404
    assert services.open_correction("") is None and services.open_correction("x" * 500) is None


def test_a_link_of_a_withdrawn_application_is_closed(world, browser):
    token = ask(world, "phone")
    opened = services.open_correction(token)
    services.withdraw(world.submission.receipt_number, world.secret)
    assert services.open_correction(token) is None
    # A page opened before the withdrawal cannot resubmit either.
    submission, problems = services.resubmit(opened, {"about": {"phone": ["080-1111-2222"]}}, {}, [])
    assert submission is None and problems == [("", "申請は取り下げられました。審査は行いません。そのため、この申請は修正できません。")]
    assert fresh(world).version == 1 and fresh(world).status == Submission.Status.WITHDRAWN
    assert CorrectionRequest.objects.get(submission=world.submission).resolved_at is None
    assert browser.get(f"/corrections/{token}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_resubmissions_make_one_version(publish_form):
    built = build_world(publish_form)
    token = ask(built, "phone")
    barrier = threading.Barrier(2)
    results = []

    def attempt(phone):
        try:
            correction = services.open_correction(token)
            barrier.wait(timeout=10)
            if correction is not None:
                results.append(services.resubmit(correction, {"about": {"phone": [phone]}}, {}, []))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(p,)) for p in ("080-1111-2222", "080-3333-4444")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and all(problems == [] for _s, problems in results)
    submission = Submission.objects.get(pk=built.submission.pk)
    assert submission.version == 2
    assert SubmissionVersion.objects.filter(submission=submission).count() == 2
    assert SubmissionEvent.objects.filter(submission=submission, to_status=Submission.Status.RESUBMITTED).count() == 1
