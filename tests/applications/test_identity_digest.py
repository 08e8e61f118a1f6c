"""applications.digests: what the resident signs. The same for a draft and the submission
made from it; any change of a stored answer or of an attachment's bytes changes it."""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile

from tenohira.applications import digests, services
from tenohira.applications.models import Attachment, Draft, Submission

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200 + b"\xff\xd9"
SCHEMA = {
    "title": "添付のある申請（テスト）",
    "email_field": "email",
    "steps": [{"key": "only", "title": "内容", "fields": [
        {"key": "note", "type": "text", "label": "内容", "required": True},
        {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
        {"key": "photo", "type": "file", "label": "写真", "accept": ["jpeg"], "required": True},
    ]}],
}


def submitted(publish_form, browser):
    publish_form(SCHEMA, "DGS")
    public_id = re.search(r"/apply/([0-9a-f-]{36})/", browser.post("/procedures/DGS/apply/")["Location"]).group(1)
    response = browser.post(f"/apply/{public_id}/only/", {
        "action": "continue", "note": "髙橋の申請", "email": "a@example.jp",
        "photo": SimpleUploadedFile("写真.jpg", JPEG, content_type="image/jpeg"),
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    draft = Draft.objects.get(public_id=public_id)
    before = digests.draft_digest(draft)
    assert browser.post(f"/apply/{public_id}/check/").status_code == 302
    return before, Submission.objects.get()


def test_the_draft_and_its_submission_have_the_same_digest(publish_form, browser):
    before, submission = submitted(publish_form, browser)
    assert re.fullmatch(r"[0-9a-f]{64}", before)
    assert digests.submission_digest(submission) == before
    assert submission.attachments.count() == 1


def test_a_changed_answer_changes_the_digest(publish_form, browser):
    before, submission = submitted(publish_form, browser)
    Submission.objects.filter(pk=submission.pk).update(answers={**submission.answers, "note": "髙橋の申請（改）"})
    submission.refresh_from_db()
    assert digests.submission_digest(submission) != before


def test_a_changed_attachment_changes_the_digest(publish_form, browser):
    before, submission = submitted(publish_form, browser)
    Attachment.objects.filter(submission=submission).update(sha256="0" * 64)
    assert digests.submission_digest(submission) != before


def test_the_canonical_json_keeps_characters_as_they_are():
    assert digests.canonical_json({"b": 1, "a": "𠮷"}) == '{"a":"𠮷","b":1}'.encode()


def test_a_file_of_a_question_no_longer_answered_is_not_signed(publish_form, browser):
    publish_form(SCHEMA, "DGS")
    public_id = re.search(r"/apply/([0-9a-f-]{36})/", browser.post("/procedures/DGS/apply/")["Location"]).group(1)
    browser.post(f"/apply/{public_id}/only/", {"action": "continue", "note": "x", "email": "a@example.jp",
                                               "photo": SimpleUploadedFile("a.jpg", JPEG, content_type="image/jpeg")})
    draft = Draft.objects.get(public_id=public_id)
    with_file = digests.draft_digest(draft)
    token = draft.raw["only"]["photo"][0]
    services.save_step(draft, services.run_of(draft).schema.steps[0],
                       {"note": ["x"], "email": ["a@example.jp"]}, {}, [token])
    assert digests.draft_digest(Draft.objects.get(pk=draft.pk)) != with_file
