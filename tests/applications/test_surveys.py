"""Surveys (アンケート): no staff workflow, a 回答期間, anonymous responses that keep nothing
identifying, and 回答 wording on every page."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from tenohira.applications.models import Draft, StepReached, Submission
from tenohira.backoffice import selectors
from tenohira.backoffice.models import GrantStatus, Role, StaffRole
from tenohira.forms.models import FormDefinition
from tenohira.insights.models import DailyApplications

pytestmark = pytest.mark.django_db

# A survey that also asks identifying questions: an anonymous one must drop their answers.
SURVEY = {
    "title": "市民アンケート",
    "intro": "テストのアンケートです。",
    "steps": [
        {"key": "about", "title": "あなたについて", "fields": [
            {"key": "age_group", "type": "choice", "label": "年代", "required": True,
             "choices": [{"value": "20s", "label": "20歳代"}, {"value": "30s", "label": "30歳代"}]},
            {"key": "full_name", "type": "name", "label": "氏名"},
            {"key": "email", "type": "email", "label": "メールアドレス"},
        ]},
        {"key": "rating", "title": "満足度", "fields": [
            {"key": "satisfaction", "type": "choice", "label": "満足しましたか", "required": True,
             "choices": [{"value": "good", "label": "満足"}, {"value": "bad", "label": "不満"}]},
            {"key": "reason", "type": "textarea", "label": "理由",
             "show_if": {"field": "satisfaction", "equals": "bad"},
             "required_if": {"field": "satisfaction", "equals": "bad"}},
        ]},
    ],
}
ANSWERS = {
    "about": {"age_group": "20s", "full_name__family": "山田", "full_name__given": "花子",
              "full_name__family_kana": "ヤマダ", "full_name__given_kana": "ハナコ", "email": "hanako@example.jp"},
    "rating": {"satisfaction": "bad", "reason": "待ち時間が長い"},
}


@pytest.fixture
def survey(publish_form):
    def make(anonymous=True, code="ANQ"):
        version = publish_form(SURVEY, code=code)
        FormDefinition.objects.filter(pk=version.definition_id).update(kind="survey", anonymous=anonymous)
        version.definition.refresh_from_db()
        return version
    return make


def answer(flow, code="ANQ"):
    client = flow.client()
    start_page = client.get(f"/procedures/{code}/apply/").content.decode()
    draft_id = flow.start(client, code)
    for step, data in ANSWERS.items():
        response = flow.post_step(client, draft_id, step, data)
        assert response.status_code == 302, response.content.decode()[:1500]
    check = client.get(f"/apply/{draft_id}/check/").content.decode()
    sent = client.post(f"/apply/{draft_id}/check/")
    assert sent.status_code == 302
    done = client.get(sent["Location"]).content.decode()
    return client, draft_id, start_page, check, done


def test_anonymous_survey_stores_nothing_identifying(survey, flow):
    survey(anonymous=True)
    client, draft_id, start_page, check, done = answer(flow)
    submission = Submission.objects.get()
    assert submission.applicant_name == "" and submission.applicant_search == ""
    assert submission.email == "" and submission.identity == {} and submission.signature == {}
    assert submission.answers == {"age_group": "20s", "satisfaction": "bad", "reason": "待ち時間が長い"}
    stored = json.dumps([submission.answers, submission.summary, list(submission.versions.values("answers", "summary"))],
                        ensure_ascii=False)
    for identifying in ("山田", "花子", "ヤマダ", "hanako@example.jp"):
        assert identifying not in stored
    draft = Draft.objects.get(public_id=draft_id)
    assert draft.raw == {} and draft.identity == {} and draft.email == ""
    # Nothing is sent, and the pages say so truthfully.
    from django.core import mail
    assert mail.outbox == []
    message = "このアンケートは匿名です。お名前や連絡先は記録しません。"
    assert message in start_page and message in check
    assert "回答する" in start_page and "回答を送信する" in check
    assert "ご回答ありがとうございました" in done
    assert submission.receipt_number not in done  # no number to an anonymous respondent
    body = done.split("<main", 1)[1].split("</main>", 1)[0]  # the footer links every page to /status/
    assert "/status/" not in body and "受付票" not in body
    assert client.get(f"/apply/{draft_id}/receipt.pdf").status_code == 404
    assert "保存して後で続ける" not in client.get(f"/apply/{draft_id}/about/").content.decode()


def test_anonymous_survey_ignores_a_sign_in(survey, flow, monkeypatch):
    survey(anonymous=True)
    from tenohira.core import residents
    person = {"provider": "card", "level": "card_signin", "subject": "abc", "name": "山田 花子"}
    monkeypatch.setattr(residents, "current", lambda request: person)
    answer(flow)
    assert Submission.objects.get().identity == {}
    assert all(d.identity == {} for d in Draft.objects.all())


def test_named_survey_keeps_answers_and_shows_the_number(survey, flow):
    survey(anonymous=False)
    _client, _draft_id, start_page, _check, done = answer(flow)
    submission = Submission.objects.get()
    assert submission.answers["full_name"]["family"] == "山田"
    assert "匿名" not in start_page
    assert "ご回答ありがとうございました" in done and submission.receipt_number in done
    assert submission.due_date is None


def test_survey_responses_never_enter_a_queue_or_the_kpis(survey, flow, django_user_model):
    version = survey(anonymous=True)
    answer(flow)
    section_id = version.definition.procedure.section_id
    user = django_user_model.objects.create_user("clerk", password="x")  # noqa: S106
    StaffRole.objects.create(user=user, role=Role.HANDLER, section_id=section_id, status=GrantStatus.ACTIVE)
    assert Submission.objects.count() == 1
    assert selectors.submissions_for(user).count() == 0
    assert selectors.queue(user, section_id=section_id, status="open").count() == 0
    assert selectors.survey_procedures_for(user).count() == 1
    assert DailyApplications.objects.count() == 0
    from tenohira.insights import aggregates
    aggregates.rebuild()
    assert DailyApplications.objects.count() == 0


def test_an_application_still_enters_the_queue(tiny_form, flow, django_user_model):
    client = flow.client()
    draft_id = flow.start(client)
    flow.fill_tiny(client, draft_id)
    client.post(f"/apply/{draft_id}/check/")
    user = django_user_model.objects.create_user("clerk2", password="x")  # noqa: S106
    StaffRole.objects.create(user=user, role=Role.HANDLER, section_id=tiny_form.definition.procedure.section_id,
                             status=GrantStatus.ACTIVE)
    assert selectors.submissions_for(user).count() == 1
    assert DailyApplications.objects.count() == 1


def test_response_period_wording(survey, flow):
    version = survey(anonymous=True)
    definition = version.definition
    now = timezone.now()
    definition.opens_at, definition.closes_at = now + dt.timedelta(days=2), now + dt.timedelta(days=10)
    definition.save()
    client = flow.client()
    html = client.get("/procedures/ANQ/apply/").content.decode()
    assert "回答を受け付けます" in html and "回答期間は" in html
    assert "回答期間が始まるまで、回答はできません。" in html
    assert "回答する</button>" not in html
    assert client.post("/procedures/ANQ/apply/").status_code == 403
    assert Draft.objects.count() == 0

    definition.opens_at, definition.closes_at = now - dt.timedelta(days=10), now - dt.timedelta(days=1)
    definition.save()
    html = client.get("/procedures/ANQ/apply/").content.decode()
    assert "回答期間は" in html and "で終了しました" in html


def test_closed_during_answering_keeps_the_answers_and_says_回答期間(survey, flow):
    version = survey(anonymous=True)
    client = flow.client()
    draft_id = flow.start(client, "ANQ")
    for step, data in ANSWERS.items():
        flow.post_step(client, draft_id, step, data)
    definition = version.definition
    definition.closes_at = timezone.now() - dt.timedelta(minutes=1)
    definition.save()
    response = client.post(f"/apply/{draft_id}/check/")
    assert response.status_code == 409
    assert "回答期間が終わりました" in response.content.decode()
    assert Submission.objects.count() == 0


def test_steps_reached_are_recorded_once_without_personal_data(survey, flow):
    survey(anonymous=True)
    client, draft_id, *_ = answer(flow)
    client.get(f"/apply/{draft_id}/about/")  # shown again: no second row
    rows = list(StepReached.objects.values_list("step_key", flat=True))
    assert sorted(rows) == sorted(["start", "about", "rating", "check", "submitted"])
    tokens = set(StepReached.objects.values_list("token", flat=True))
    assert len(tokens) == 1 and draft_id.replace("-", "") not in next(iter(tokens))
