"""Submission: one transaction, once per draft (also under concurrency), receipt numbers,
the confirmation e-mail through the outbox, and the status page."""

from __future__ import annotations

import datetime as dt
import io
import re
import threading

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from tenohira.applications import services
from tenohira.applications.models import Draft, ReceiptCounter, Submission
from tenohira.applications.receipts import next_receipt_number
from tenohira.core.fiscal import JST, fiscal_year
from tenohira.core.models import OutboxMessage, RateLimitHit

RECEIPT = re.compile(r"^(\d{4})-([A-Z0-9]+)-(\d{6})$")


class RefusingMailBackend(BaseEmailBackend):
    """A mail server that is down: every send raises."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server unreachable (test)")


def filled_draft(version, answers) -> Draft:
    """A draft with every step saved, through the same service the step pages call."""
    draft, _secret = services.start_draft(version)
    schema = version.parsed()
    for step_key, values in answers.items():
        raw = {name: value if isinstance(value, list) else [value] for name, value in values.items()}
        services.save_step(draft, schema.step(step_key), raw, {}, [])
    draft.refresh_from_db()
    return draft


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def submitted_with_mail(version, answers, django_capture_on_commit_callbacks):
    draft = filled_draft(version, answers)
    with django_capture_on_commit_callbacks(execute=True):
        submission, secret = services.submit(draft)
    return draft, submission, secret


# --- one transaction, once ---------------------------------------------------------------


def test_submission_stores_answers_version_channel_and_utc_time(tiny_form, flow):
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    before = timezone.now()
    submission, secret = services.submit(draft)
    submission.refresh_from_db()
    assert submission.form_version == tiny_form
    assert submission.procedure.code == "TST"
    assert submission.channel == "online"
    assert submission.status == "received"
    assert submission.email == "hanako@example.jp"
    assert submission.answers == {
        "full_name": "山田 花子", "email": "hanako@example.jp", "has_pet": True,
        "pet_name": "ポチ", "copies": 2, "fee": 600, "consent": True,
    }
    assert submission.submitted_at.utcoffset() == dt.timedelta(0)
    assert before <= submission.submitted_at <= timezone.now()
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", secret)
    year, code, sequence = RECEIPT.match(submission.receipt_number).groups()
    assert (int(year), code, sequence) == (fiscal_year(submission.submitted_at), "TST", "000001")


def test_a_failure_inside_submit_leaves_nothing_behind(tiny_form, flow, settings):
    """Receipt counter, submission and outbox row are written in one transaction: when the
    receipt number cannot be formatted after the counter moved, nothing is kept."""
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    settings.RECEIPT_NUMBER_FORMAT = "{fiscal_year}-{code}-{no_such_part}"
    with pytest.raises(KeyError):
        services.submit(draft)
    assert not Submission.objects.exists()
    assert not OutboxMessage.objects.exists()
    assert not ReceiptCounter.objects.exists()

    settings.RECEIPT_NUMBER_FORMAT = "{fiscal_year}-{code}-{sequence:06d}"
    submission, _secret = services.submit(draft)
    assert submission.receipt_number.endswith("-TST-000001")  # the failed try used no number


def test_submitting_the_same_draft_twice_returns_the_same_submission(tiny_form, flow):
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    first, secret = services.submit(draft)
    again, again_secret = services.submit(draft)
    assert again.pk == first.pk and again.receipt_number == first.receipt_number
    assert secret and again_secret is None
    assert Submission.objects.count() == 1
    assert ReceiptCounter.objects.get().last == 1


def test_an_incomplete_draft_is_not_submitted(tiny_form, flow):
    draft = filled_draft(tiny_form, {"about": flow.TINY_ANSWERS["about"]})
    with pytest.raises(services.NotReady) as raised:
        services.submit(draft)
    assert raised.value.step.key == "pet"
    assert not Submission.objects.exists()


def test_a_replayed_submit_post_shows_the_same_receipt(tiny_form, flow, browser):
    draft_id = flow.start(browser)
    flow.fill_tiny(browser, draft_id)
    first = browser.post(f"/apply/{draft_id}/check/")
    replay = browser.post(f"/apply/{draft_id}/check/")
    assert first.status_code == replay.status_code == 302
    assert first["Location"] == replay["Location"] == f"/apply/{draft_id}/done/"
    submission = Submission.objects.get()
    done = browser.get(f"/apply/{draft_id}/done/")
    assert submission.receipt_number in done.content.decode()
    assert Submission.objects.count() == 1


def _in_thread(work, barrier, results, errors):
    def run():
        try:
            barrier.wait(timeout=30)
            results.append(work())
        except Exception as exc:  # reported by the test, never swallowed
            errors.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=run)


def test_two_concurrent_identical_posts_make_one_submission(transactional_db, tiny_form, flow):
    owner = flow.client()
    draft_id = flow.start(owner)
    flow.fill_tiny(owner, draft_id)
    cookie = owner.cookies["tnh_draft"].value
    tabs = [flow.client(), flow.client()]  # two requests of the same browser: same cookie
    for tab in tabs:
        tab.cookies["tnh_draft"] = cookie
        tab.cookies["tnh_draft"]["path"] = f"/apply/{draft_id}/"

    barrier = threading.Barrier(len(tabs))
    results, errors = [], []
    threads = [
        _in_thread(lambda tab=tab: tab.post(f"/apply/{draft_id}/check/"), barrier, results, errors) for tab in tabs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert [r.status_code for r in results] == [302, 302]
    assert {r["Location"] for r in results} == {f"/apply/{draft_id}/done/"}
    assert Submission.objects.filter(draft__public_id=draft_id).count() == 1
    assert Submission.objects.count() == 1
    assert ReceiptCounter.objects.get(procedure_code="TST").last == 1


def test_receipt_numbers_are_unique_under_50_concurrent_submissions(transactional_db, tiny_form, flow):
    drafts = [filled_draft(tiny_form, flow.TINY_ANSWERS) for _ in range(50)]
    barrier = threading.Barrier(len(drafts))
    results, errors = [], []
    threads = [
        _in_thread(lambda d=d: services.submit(Draft.objects.get(pk=d.pk)), barrier, results, errors) for d in drafts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    numbers = [submission.receipt_number for submission, _secret in results]
    assert len(numbers) == 50
    assert len(set(numbers)) == 50
    assert all(secret for _submission, secret in results)
    sequences = sorted(int(RECEIPT.match(n).group(3)) for n in numbers)
    assert sequences == list(range(1, 51))
    assert Submission.objects.count() == 50
    assert ReceiptCounter.objects.get(procedure_code="TST").last == 50


# --- receipt numbers ----------------------------------------------------------------------


def test_receipt_number_uses_the_fiscal_year_in_japan_time(db):
    # 2025-03-31 15:30 UTC is 2025-04-01 00:30 in Japan: fiscal 2025 has begun.
    assert next_receipt_number("HJC", dt.datetime(2025, 3, 31, 15, 30, tzinfo=dt.UTC)) == "2025-HJC-000001"
    assert next_receipt_number("HJC", dt.datetime(2025, 3, 31, 16, 0, tzinfo=dt.UTC)) == "2025-HJC-000002"
    # 2025-03-31 14:59 UTC is still 23:59 on 31 March in Japan: fiscal 2024, its own sequence.
    assert next_receipt_number("HJC", dt.datetime(2025, 3, 31, 14, 59, tzinfo=dt.UTC)) == "2024-HJC-000001"
    # Each procedure counts on its own.
    assert next_receipt_number("HKC", dt.datetime(2025, 4, 10, 3, 0, tzinfo=dt.UTC)) == "2025-HKC-000001"
    assert ReceiptCounter.objects.get(procedure_code="HJC", fiscal_year=2025).last == 2


def test_receipt_number_format_is_configurable(tiny_form, flow, settings):
    settings.RECEIPT_NUMBER_FORMAT = "R{fiscal_year}{code}{sequence:04d}"
    assert next_receipt_number("HJC", dt.datetime(2024, 6, 1, tzinfo=dt.UTC)) == "R2024HJC0001"
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    submission, _secret = services.submit(draft)
    assert submission.receipt_number == f"R{fiscal_year(submission.submitted_at)}TST0001"


# --- confirmation e-mail and the outbox ----------------------------------------------------


def test_confirmation_email_has_the_receipt_number_secret_and_next_steps_but_no_answers(
    tiny_form, flow, django_capture_on_commit_callbacks
):
    _draft, submission, secret = submitted_with_mail(tiny_form, flow.TINY_ANSWERS, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["hanako@example.jp"]
    assert submission.receipt_number in message.subject
    assert "手続き: テスト手続き" in message.body or f"手続き: {submission.procedure.name}" in message.body
    assert f"受付番号: {submission.receipt_number}" in message.body
    assert f"確認コード: {secret}" in message.body
    assert f"申請日時: {submission.submitted_at.astimezone(JST):%Y年%m月%d日 %H:%M}" in message.body
    assert "/status/" in message.body and "これからの流れ" in message.body
    # The answers stay on the status page and the receipt: an e-mail sits in mailboxes for years.
    for answer in ("山田", "花子", "ポチ", "犬を飼っていますか", "通数", "600円", "【申請する方について】"):
        assert answer not in message.body, answer
    stored = OutboxMessage.objects.get(reference=submission.receipt_number)
    assert stored.sent_at is not None and stored.attempts == 1 and stored.body == ""


def test_a_form_may_name_the_few_answers_its_email_repeats(publish_form, flow, django_capture_on_commit_callbacks):
    schema = {**flow.TINY_SCHEMA, "email_answers": ["copies", "full_name", "no_such_field", 3]}
    _draft, _submission, _secret = submitted_with_mail(
        publish_form(schema), flow.TINY_ANSWERS, django_capture_on_commit_callbacks
    )
    body = mail.outbox[0].body
    assert "通数: 2" in body and "氏名: 山田 花子" in body
    assert body.index("通数: 2") < body.index("氏名: 山田 花子")  # in the order the form lists them
    assert "ポチ" not in body and "犬を飼っていますか" not in body


def test_nothing_is_sent_before_the_submission_commits(tiny_form, flow, django_capture_on_commit_callbacks):
    draft = filled_draft(tiny_form, flow.TINY_ANSWERS)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submission, _secret = services.submit(draft)
    assert mail.outbox == []
    assert OutboxMessage.objects.get(reference=submission.receipt_number).sent_at is None
    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 1


def test_outbox_keeps_a_message_when_the_mail_server_fails_and_sends_it_later(
    tiny_form, flow, django_capture_on_commit_callbacks
):
    with override_settings(EMAIL_BACKEND=f"{__name__}.RefusingMailBackend"):
        _draft, submission, _secret = submitted_with_mail(
            tiny_form, flow.TINY_ANSWERS, django_capture_on_commit_callbacks
        )
    assert mail.outbox == []
    pending = OutboxMessage.objects.get(reference=submission.receipt_number)
    assert pending.sent_at is None
    assert pending.attempts == 1
    assert "mail server unreachable" in pending.last_error
    assert Submission.objects.filter(pk=submission.pk).exists()  # the submission is kept

    out = io.StringIO()
    call_command("outbox", "send", stdout=out)
    assert "送信 1 件" in out.getvalue()
    assert len(mail.outbox) == 1
    assert submission.receipt_number in mail.outbox[0].subject
    pending.refresh_from_db()
    assert pending.sent_at is not None and pending.attempts == 2 and pending.last_error == ""

    call_command("outbox", "send", stdout=io.StringIO())
    assert len(mail.outbox) == 1  # a sent message is never sent again


# --- status page ------------------------------------------------------------------------------


def _secret_from_mail() -> str:
    return re.search(r"確認コード: (\S+)", mail.outbox[-1].body).group(1)


def test_status_page_finds_the_submission_with_the_code_from_the_email(
    tiny_form, flow, browser, django_capture_on_commit_callbacks
):
    _draft, submission, _secret = submitted_with_mail(tiny_form, flow.TINY_ANSWERS, django_capture_on_commit_callbacks)
    secret = _secret_from_mail()
    response = browser.post("/status/", {"receipt_number": submission.receipt_number, "secret": secret})
    assert response.status_code == 200
    page = response.content.decode()
    assert submission.receipt_number in page and "テスト手続きTST" in page and "受付" in page
    shown = submission.submitted_at.astimezone(JST)  # stored in UTC, shown in Japan time
    assert f"{shown.year}年{shown.month}月{shown.day}日 {shown:%H:%M}" in page

    # Typed on a phone in full width, lower case, without hyphens: still found.
    typed_secret = full_width(secret.replace("-", "").lower())
    response = flow.client().post(
        "/status/", {"receipt_number": full_width(submission.receipt_number.lower()), "secret": typed_secret}
    )
    assert response.status_code == 200
    assert submission.receipt_number in response.content.decode()


def test_status_page_refuses_a_wrong_secret_in_japanese(tiny_form, flow, browser, django_capture_on_commit_callbacks):
    _draft, submission, secret = submitted_with_mail(tiny_form, flow.TINY_ANSWERS, django_capture_on_commit_callbacks)
    wrong = "AAAA-AAAA-AAAA" if secret != "AAAA-AAAA-AAAA" else "BBBB-BBBB-BBBB"
    response = browser.post("/status/", {"receipt_number": submission.receipt_number, "secret": wrong})
    assert response.status_code == 400
    page = response.content.decode()
    assert "受付番号または確認コードが正しくありません" in page
    assert "申請日時" not in page  # nothing about the submission leaks


def _window() -> int:
    return int(timezone.now().timestamp()) // 3600


def test_status_page_is_rate_limited(tiny_form, flow, django_capture_on_commit_callbacks):
    _draft, submission, secret = submitted_with_mail(tiny_form, flow.TINY_ANSWERS, django_capture_on_commit_callbacks)
    # The limit counts per fixed hour; should the hour turn during the attempts, start
    # again in the new window (at most once) so that every attempt counts in one window.
    for _try in range(2):
        RateLimitHit.objects.all().delete()
        window = _window()
        guesser = flow.client()
        with override_settings(STATUS_LOOKUP_LIMIT_PER_HOUR=3):
            answers = [
                guesser.post("/status/", {"receipt_number": submission.receipt_number, "secret": "AAAA-BBBB-CCCC"})
                for _ in range(3)
            ]
            blocked = guesser.post("/status/", {"receipt_number": submission.receipt_number, "secret": secret})
        if window == _window():
            break
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert blocked.status_code == 429  # even the right code is refused once over the limit
    page = blocked.content.decode()
    assert "確認の回数が多すぎます" in page
    assert "申請日時" not in page
