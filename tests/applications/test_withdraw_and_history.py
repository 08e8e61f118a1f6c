"""The status page after a lookup (受付番号 + 確認コード): the history with JST dates and the
reasons of 差戻し/却下/承認, the section instead of any staff name, the notice of an open
correction; and 取下げ by the applicant: a confirmation page first, only in the states the
workflow allows, the secret checked again, rate-limited like the lookup."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tenohira.applications import services
from tenohira.applications.models import CorrectionRequest, Submission, SubmissionEvent
from tenohira.backoffice import services as backoffice
from tenohira.backoffice.models import Role, StaffRole
from tenohira.backoffice.workflow import WITHDRAWABLE
from tenohira.core.models import OutboxMessage

S = Submission.Status

SCHEMA = {
    "title": "取下げテスト申請",
    "email_field": "email",
    "steps": [
        {
            "key": "about",
            "title": "申請する方について",
            "fields": [
                {"key": "applicant", "type": "name", "label": "氏名", "required": True},
                {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
                {"key": "phone", "type": "phone", "label": "電話番号", "required": True},
            ],
        },
    ],
}
ANSWERS = {
    "applicant__family": ["山田"], "applicant__given": ["花子"], "applicant__family_kana": ["ヤマダ"],
    "applicant__given_kana": ["ハナコ"], "email": ["hanako@example.jp"], "phone": ["090-1234-5678"],
}
# Staff names that must never reach the applicant's page.
HANDLER = ("onigawara", "鬼瓦", "権三")
APPROVER = ("kessai", "決済院", "長治")


@pytest.fixture
def world(publish_form):
    version = publish_form(SCHEMA, code="WDR")
    procedure = version.definition.procedure
    draft, _owner = services.start_draft(version)
    services.save_step(draft, version.parsed().step("about"), dict(ANSWERS), {}, [])
    draft.refresh_from_db()
    submission, secret = services.submit(draft)
    users = {}
    for role, (username, family, given) in ((Role.HANDLER, HANDLER), (Role.APPROVER, APPROVER)):
        users[role] = get_user_model().objects.create_user(username, last_name=family, first_name=given)
        StaffRole.objects.create(user=users[role], role=role, section=procedure.section)
    return SimpleNamespace(submission=submission, secret=secret, number=submission.receipt_number,
                           handler=users[Role.HANDLER], approver=users[Role.APPROVER], section=procedure.section)


def correct(world, message="電話番号を確かめてください。") -> str:
    if status_of(world) == S.RECEIVED:
        backoffice.transition(world.handler, world.number, S.UNDER_REVIEW, comment="内部メモ: 書類は揃っている")
    links = []
    backoffice.request_correction(world.handler, world.number, fields=[{"path": "phone", "note": "つながりません"}],
                                  message=message, link_for=lambda token: links.append(token) or f"/corrections/{token}/")
    return links[0]


def bring_to(world, state: str) -> None:
    """Move the application to `state` the way staff and the applicant do."""
    if state == S.RECEIVED:
        return
    if state == S.UNDER_REVIEW:
        backoffice.transition(world.handler, world.number, S.UNDER_REVIEW, comment="内部メモ: 書類は揃っている")
        return
    if state in (S.RETURNED, S.RESUBMITTED):
        token = correct(world)
        if state == S.RESUBMITTED:
            _submission, problems = services.resubmit(services.open_correction(token), {"about": {"phone": ["080-1111-2222"]}}, {}, [])
            assert problems == []
        return
    backoffice.transition(world.handler, world.number, S.UNDER_REVIEW, comment="内部メモ: 書類は揃っている")
    if state in (S.APPROVED, S.COMPLETED):
        backoffice.transition(world.approver, world.number, S.APPROVED, comment="要件を満たしています。")
    if state == S.REJECTED:
        backoffice.transition(world.approver, world.number, S.REJECTED, comment="対象の区域外です。")
    if state == S.COMPLETED:
        backoffice.transition(world.handler, world.number, S.COMPLETED)
    assert Submission.objects.get(pk=world.submission.pk).status == state


def lookup(browser, world, secret=None):
    return browser.post("/status/", {"receipt_number": world.number, "secret": world.secret if secret is None else secret})


def withdraw(browser, world, *, action="", secret=None, comment=""):
    data = {"receipt_number": world.number, "secret": world.secret if secret is None else secret, "comment": comment}
    if action:
        data["action"] = action
    return browser.post("/status/withdraw/", data)


def status_of(world) -> str:
    return Submission.objects.get(pk=world.submission.pk).status


def history_block(html: str) -> str:
    match = re.search(r"<h2>これまでの経過</h2>(.*?)</dl>", html, re.S)
    assert match, "no history on the status page"
    return match.group(1)


def assert_no_staff_names(html: str) -> None:
    for username, family, given in (HANDLER, APPROVER):
        assert username not in html and family not in html and given not in html


# --- history ------------------------------------------------------------------------------------


def test_the_status_page_shows_history_in_jst_with_the_section_never_a_staff_name(world, browser):
    correct(world, message="日中につながる電話番号をお願いします。")
    received = SubmissionEvent.objects.get(submission=world.submission, to_status=S.RECEIVED)
    received.at = dt.datetime(2025, 4, 1, 15, 30, tzinfo=dt.UTC)  # 2025-04-02 00:30 in Tokyo
    received.save(update_fields=["at"])

    response = lookup(browser, world)
    assert response.status_code == 200
    html = response.content.decode()
    history = history_block(html)
    assert "2025年4月2日 00:30" in history
    labels = re.findall(r"<strong>([^<]+)</strong>（([^）]+)）", history)
    # In words, not the office's state names (受付, 審査中, 差戻し).
    assert labels == [("申請を受け付けました", "申請者"), ("担当課が内容の確認を始めました", "テスト課"),
                      ("申請内容の修正をお願いしました", "テスト課")]
    # The 差戻し reason is for the applicant; a note made when the review started is not.
    assert "日中につながる電話番号をお願いします。" in history
    assert "内部メモ" not in html
    assert_no_staff_names(html)
    # An open correction: the applicant is told what to do, with the deadline.
    assert "メールでお送りした「修正のお願い」のリンクから、申請内容を修正してください（期限: " in html
    assert response["Cache-Control"].startswith("max-age=0")


def test_history_after_resubmission_and_decision_shows_the_reasons(world, browser):
    bring_to(world, S.RESUBMITTED)
    html = lookup(browser, world).content.decode()
    assert "「修正のお願い」のリンクから" not in html
    assert re.findall(r"<strong>([^<]+)</strong>", history_block(html))[-1] == "修正した申請を受け付けました"
    assert "（申請者）" in history_block(html)

    backoffice.transition(world.handler, world.number, S.UNDER_REVIEW)
    backoffice.transition(world.approver, world.number, S.REJECTED, comment="対象の区域外です。")
    html = lookup(browser, world).content.decode()
    history = history_block(html)
    assert re.findall(r"<strong>([^<]+)</strong>（([^）]+)）", history)[-1] == ("審査の結果、申請は認められませんでした", "テスト課")
    assert "対象の区域外です。" in history
    assert_no_staff_names(html)
    assert "申請を取り下げる" not in html  # 却下 cannot be withdrawn


def test_an_approval_comment_is_shown(world, browser):
    bring_to(world, S.APPROVED)
    history = history_block(lookup(browser, world).content.decode())
    assert "要件を満たしています。" in history


def test_history_needs_the_secret(world, browser):
    correct(world, message="日中につながる電話番号をお願いします。")
    response = lookup(browser, world, secret="AAAA-BBBB-CCCC")
    assert response.status_code == 400
    html = response.content.decode()
    assert "これまでの経過" not in html and "日中につながる" not in html


# --- 取下げ ----------------------------------------------------------------------------------------


def test_withdrawing_asks_first_then_records_the_event_and_mails(world, browser, django_capture_on_commit_callbacks):
    page = lookup(browser, world).content.decode()
    form = re.search(r'<form method="post" action="/status/withdraw/">.*?</form>', page, re.S).group(0)
    assert "申請を取り下げる" in form
    assert f'name="receipt_number" value="{world.number}"' in form
    assert f'name="secret" value="{world.secret}"' in form

    confirm = withdraw(browser, world)
    assert confirm.status_code == 200
    assert "本当に取り下げますか" in confirm.content.decode()
    assert status_of(world) == S.RECEIVED  # nothing happens before the confirmation

    with django_capture_on_commit_callbacks(execute=True):
        done = withdraw(browser, world, action="withdraw", comment="別の方法で手続きしました。")
    assert done.status_code == 200
    assert "申請を取り下げました" in done.content.decode()
    assert status_of(world) == S.WITHDRAWN
    event = SubmissionEvent.objects.filter(submission=world.submission).last()
    assert (event.from_status, event.to_status) == (S.RECEIVED, S.WITHDRAWN)
    assert event.actor is None and event.actor_label == "申請者" and event.comment == "別の方法で手続きしました。"
    mail = OutboxMessage.objects.get(kind="submission_withdrawn")
    assert mail.to == "hanako@example.jp" and world.number in mail.subject and mail.sent_at is not None

    # Again (a reload, a double tap): the same page, no second event, no second e-mail.
    assert withdraw(browser, world, action="withdraw").status_code == 200
    assert SubmissionEvent.objects.filter(submission=world.submission, to_status=S.WITHDRAWN).count() == 1
    assert OutboxMessage.objects.filter(kind="submission_withdrawn").count() == 1

    html = lookup(browser, world).content.decode()
    assert re.findall(r"<strong>([^<]+)</strong>（([^）]+)）", history_block(html))[-1] == ("申請が取り下げられました", "申請者")
    assert "申請を取り下げる" not in html


@pytest.mark.parametrize("state", sorted(WITHDRAWABLE))
def test_each_withdrawable_state_can_be_withdrawn(world, browser, state):
    bring_to(world, state)
    assert "申請を取り下げる" in lookup(browser, world).content.decode()
    assert withdraw(browser, world).status_code == 200
    assert withdraw(browser, world, action="withdraw").status_code == 200
    assert status_of(world) == S.WITHDRAWN
    event = SubmissionEvent.objects.filter(submission=world.submission).last()
    assert (event.from_status, event.to_status) == (state, S.WITHDRAWN)


@pytest.mark.parametrize("state", [S.APPROVED, S.REJECTED, S.COMPLETED])
def test_decided_applications_cannot_be_withdrawn(world, browser, state):
    bring_to(world, state)
    events = SubmissionEvent.objects.filter(submission=world.submission).count()
    assert "申請を取り下げる" not in lookup(browser, world).content.decode()
    for response in (withdraw(browser, world), withdraw(browser, world, action="withdraw")):
        assert response.status_code == 409
        assert "取り下げられません" in response.content.decode()
    assert status_of(world) == state
    assert SubmissionEvent.objects.filter(submission=world.submission).count() == events
    with pytest.raises(services.WithdrawRefused):
        services.withdraw(world.number, world.secret)


def test_a_wrong_secret_is_refused(world, browser):
    for action in ("", "withdraw"):
        response = withdraw(browser, world, action=action, secret="AAAA-BBBB-CCCC")
        assert response.status_code == 400
        assert "受付番号または確認コードが正しくありません" in response.content.decode()
        assert withdraw(browser, world, action=action, secret="").status_code == 400
    assert status_of(world) == S.RECEIVED
    assert services.withdraw(world.number, "AAAA-BBBB-CCCC") is None
    assert services.withdraw(world.number, "") is None
    assert status_of(world) == S.RECEIVED


def test_withdraw_is_post_only(world, browser):
    assert browser.get("/status/withdraw/").status_code == 405


def test_withdrawing_shares_the_lookup_rate_limit(world, browser, settings):
    settings.STATUS_LOOKUP_LIMIT_PER_HOUR = 2
    assert lookup(browser, world).status_code == 200
    assert withdraw(browser, world).status_code == 200
    refused = withdraw(browser, world, action="withdraw")
    assert refused.status_code == 429
    assert "確認の回数が多すぎます" in refused.content.decode()
    assert status_of(world) == S.RECEIVED


def test_withdrawing_a_returned_application_closes_its_correction_link(world, browser):
    token = correct(world)
    assert browser.get(f"/corrections/{token}/").status_code == 200
    withdraw(browser, world, action="withdraw")
    assert status_of(world) == S.WITHDRAWN
    assert browser.get(f"/corrections/{token}/").status_code == 404
    assert CorrectionRequest.objects.get(submission=world.submission).resolved_at is None


def test_an_expired_correction_is_not_announced(world, browser):
    correct(world)
    CorrectionRequest.objects.update(expires_at=timezone.now() - dt.timedelta(days=1))
    html = lookup(browser, world).content.decode()
    assert "申請内容の修正をお願いしました" in history_block(html)
    assert "修正の期限が過ぎました" in html
    assert "「修正のお願い」のリンクから" not in html
