"""Deliveries to business systems, end to end: a submission makes a Delivery row in its
transaction, the task sends it to a real receiver process (tests/support/receiver.py) that
checks the signature and deduplicates by delivery id; failures retry or die with the
reason; staff see their sections' deliveries and resend; file drop and e-mail."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.core import mail
from django.utils import timezone

from tenohira.audit.models import AuditRecord
from tenohira.integrations import services
from tenohira.integrations.models import Delivery, DeliveryTarget
from tests.support.integrations import (
    PDF,
    free_port,
    make_world,
    read_json,
    running_receiver,
    staff_client,
    submit,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.BACKGROUND = "eager"
    settings.INTEGRATIONS_KEY = "test-integrations-key"
    settings.INTEGRATIONS_RETRY_BASE_SECONDS = 60
    settings.INTEGRATIONS_MAX_ATTEMPTS = 4
    settings.INTEGRATIONS_WEBHOOK_TIMEOUT_SECONDS = 2
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db):
    return make_world()


def webhook(world, url, **extra) -> DeliveryTarget:
    return DeliveryTarget.objects.create(name="住民記録システム", kind="webhook", section=world.section,
                                         config={"url": url}, **extra)


def key_of(target) -> str:
    return services.signing_key_text(target)


def make_due(delivery: Delivery) -> None:
    """The retry pause is over (instead of waiting minutes)."""
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


def test_submission_is_delivered_once_signed_and_in_the_standard_layout(world):
    target = webhook(world, "http://127.0.0.1:1/")
    with running_receiver(key_of(target)) as receiver:
        DeliveryTarget.objects.filter(pk=target.pk).update(config={"url": receiver.url})
        submission = submit(world.procedure, attachment=PDF)
        delivery = Delivery.objects.get(submission=submission)
        assert delivery.state == "delivered" and delivery.attempts == 1 and delivery.last_status_code == 200
        # A second run of the task (a duplicate message) sends nothing.
        assert services.deliver(delivery.pk) is None
        assert services.sweep() is False
        state = receiver.state()
    assert state["bad_signatures"] == 0 and state["duplicates"] == 0
    assert state["attempts"] == {str(delivery.delivery_id): 1}
    document = state["accepted"][str(delivery.delivery_id)]
    assert document["version"] == 1
    assert document["delivery"] == {"id": str(delivery.delivery_id), "event": "submitted",
                                    "at": timezone.localtime(delivery.created_at).isoformat()}
    assert document["receipt_number"] == submission.receipt_number
    assert document["procedure"] == {"code": "INA", "name": "連携テストの届出"}
    assert document["items"]["氏名"] == "山田\u3000花子"
    assert document["items"]["氏名カナ"] == "ヤマダ\u3000ハナコ"
    assert document["items"]["生年月日"] == "1990-04-01"
    assert document["items"]["住所"] == "東京都千代田区千代田1-2-3"
    assert document["items"]["電話番号"] and document["items"]["メールアドレス"] == "hanako@example.jp"
    assert document["attachments"][0]["sha256"] == submission.attachments.get().sha256
    assert document["charset"] == {"cp932": [], "jisx0213": []}


def test_a_section_without_targets_costs_no_delivery(world):
    webhook(world, "http://127.0.0.1:1/", is_active=False)
    submission = submit(world.other_procedure)
    assert not Delivery.objects.filter(submission=submission).exists()


def test_receiver_down_then_back_is_retried_with_backoff_and_delivered_once(world):
    port = free_port()
    target = webhook(world, f"http://127.0.0.1:{port}/hook")
    submission = submit(world.procedure)  # nobody listens: connection refused
    delivery = Delivery.objects.get(submission=submission)
    assert delivery.state == "retrying" and delivery.attempts == 1
    assert "接続できませんでした" in delivery.last_error
    pause = delivery.next_attempt_at - timezone.now()
    assert dt.timedelta(seconds=50) < pause <= dt.timedelta(seconds=60)
    assert services.sweep() is False  # not due yet: nothing is tried
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    make_due(delivery)
    services.sweep()
    delivery.refresh_from_db()
    assert delivery.state == "retrying" and delivery.attempts == 2
    assert delivery.next_attempt_at - timezone.now() > dt.timedelta(seconds=110)  # 2 minutes now
    with running_receiver(key_of(target), port=port) as receiver:
        make_due(delivery)
        services.sweep()
        delivery.refresh_from_db()
        assert delivery.state == "delivered" and delivery.attempts == 3
        state = receiver.state()
    assert list(state["accepted"]) == [str(delivery.delivery_id)] and state["duplicates"] == 0


def test_a_target_answering_5xx_until_the_limit_is_dead_with_the_reason(world):
    target = webhook(world, "http://127.0.0.1:1/")
    with running_receiver(key_of(target), mode="fail500") as receiver:
        DeliveryTarget.objects.filter(pk=target.pk).update(config={"url": receiver.url})
        delivery = Delivery.objects.get(submission=submit(world.procedure))
        for _ in range(3):
            make_due(delivery)
            services.sweep()
        delivery.refresh_from_db()
        assert receiver.state()["attempts"][str(delivery.delivery_id)] == 4
    assert delivery.state == "dead" and delivery.attempts == 4 and delivery.last_status_code == 503
    assert "4回試しても送れなかった" in delivery.last_error and "一時的なエラー（503）" in delivery.last_error


def test_4xx_is_dead_at_once_with_the_reason(world):
    target = webhook(world, "http://127.0.0.1:1/")
    with running_receiver(key_of(target), mode="fail400") as receiver:
        DeliveryTarget.objects.filter(pk=target.pk).update(config={"url": receiver.url})
        delivery = Delivery.objects.get(submission=submit(world.procedure))
        assert receiver.state()["attempts"] == {str(delivery.delivery_id): 1}
    assert delivery.state == "dead" and delivery.attempts == 1 and delivery.last_status_code == 400
    assert "受け付けませんでした（400）" in delivery.last_error
    assert "HTTP 400" in delivery.last_error  # the technical detail, for the operator


def test_a_wrong_key_is_refused_by_the_receiver(world):
    target = webhook(world, "http://127.0.0.1:1/")
    with running_receiver("00" * 32) as receiver:
        DeliveryTarget.objects.filter(pk=target.pk).update(config={"url": receiver.url})
        delivery = Delivery.objects.get(submission=submit(world.procedure))
        assert receiver.state()["bad_signatures"] == 1
    assert delivery.state == "dead" and delivery.last_status_code == 401


def test_slow_receiver_times_out_and_is_retried(world):
    target = webhook(world, "http://127.0.0.1:1/")
    with running_receiver(key_of(target), mode="slow") as receiver:
        DeliveryTarget.objects.filter(pk=target.pk).update(config={"url": receiver.url})
        delivery = Delivery.objects.get(submission=submit(world.procedure))
        assert delivery.state == "retrying" and "2秒以内に応答しません" in delivery.last_error
        receiver.mode("ok")
        make_due(delivery)
        services.sweep()
        delivery.refresh_from_db()
        state = receiver.state()
    assert delivery.state == "delivered"
    # The slow first attempt was still accepted after our timeout: the receiver's dedup keeps one.
    assert len(state["accepted"]) == 1


def test_a_worker_killed_mid_send_leaves_the_delivery_to_the_sweep_after_its_lease(world):
    target = webhook(world, "http://127.0.0.1:1/")
    with running_receiver(key_of(target)) as receiver:
        DeliveryTarget.objects.filter(pk=target.pk).update(config={"url": receiver.url})
        delivery = Delivery.objects.get(submission=submit(world.procedure))
        # As if it were sent but a worker, killed before recording it, left it taken.
        Delivery.objects.filter(pk=delivery.pk).update(
            state="pending", lease_until=None, next_attempt_at=timezone.now() + dt.timedelta(hours=1))
        taken = services._take(Delivery.objects.filter(pk=delivery.pk), limit=1)
        assert taken and services.deliver(delivery.pk) is None  # held by the "dead" worker's lease
        past = timezone.now() - dt.timedelta(seconds=1)
        Delivery.objects.filter(pk=delivery.pk).update(lease_until=past, next_attempt_at=past)
        services.sweep()
        delivery.refresh_from_db()
        state = receiver.state()
    assert delivery.state == "delivered"
    # Sent twice in all (the first delivery, then the "in flight" one again), accepted once.
    assert state["attempts"][str(delivery.delivery_id)] == 2 and state["duplicates"] == 1


def test_staff_see_their_sections_deliveries_and_resend_a_dead_one(world):
    target = webhook(world, "http://127.0.0.1:1/")
    other = DeliveryTarget.objects.create(name="国保システム", kind="webhook", section=world.other_section,
                                          config={"url": "http://127.0.0.1:1/"})
    with running_receiver(key_of(target), mode="fail400") as receiver:
        DeliveryTarget.objects.filter(pk=target.pk).update(config={"url": receiver.url})
        mine = submit(world.procedure)
        theirs = submit(world.other_procedure, family="秘匿")
        delivery = Delivery.objects.get(submission=mine)
        assert delivery.state == "dead"
        other_delivery = Delivery.objects.get(submission=theirs, target=other)

        handler = staff_client(world.handler)
        page = handler.get("/staff/integrations/?state=dead").content.decode()
        assert mine.receipt_number in page and "受け付けませんでした（400）" in page and "再送する" in page
        assert theirs.receipt_number not in page and "国保システム" not in page and "山田" not in page
        # Another section's staff can neither see nor resend it.
        outsider = staff_client(world.other_handler)
        assert mine.receipt_number not in outsider.get("/staff/integrations/").content.decode()
        assert outsider.post(f"/staff/integrations/{delivery.delivery_id}/resend/").status_code == 404
        assert handler.post(f"/staff/integrations/{other_delivery.delivery_id}/resend/").status_code == 404
        assert handler.get(f"/staff/integrations/{delivery.delivery_id}/resend/").status_code == 405

        receiver.mode("ok")
        response = handler.post(f"/staff/integrations/{delivery.delivery_id}/resend/", {"state": "dead"})
        assert response.status_code == 302 and response["Location"] == "/staff/integrations/?state=dead"
        delivery.refresh_from_db()
        state = receiver.state()
    assert delivery.state == "delivered" and delivery.attempts == 1
    assert state["attempts"][str(delivery.delivery_id)] == 2 and list(state["accepted"]) == [str(delivery.delivery_id)]
    record = AuditRecord.objects.get(action="integration_resend")
    assert record.actor == world.handler.username and record.target == mine.receipt_number
    assert record.detail["state"] == "dead"
    # A delivered one cannot be resent.
    response = handler.post(f"/staff/integrations/{delivery.delivery_id}/resend/", follow=True)
    assert "再送できません" in response.content.decode()
    # The DX管理者 sees every section's deliveries.
    page = staff_client(world.dx_admin).get("/staff/integrations/").content.decode()
    assert mine.receipt_number in page and theirs.receipt_number in page


def test_status_changes_and_resubmissions_are_delivered_to_targets_that_want_them(world):
    from tenohira.applications.history import record_event

    target = DeliveryTarget.objects.create(name="状態連携", kind="webhook", procedure=world.procedure,
                                           config={"url": "http://127.0.0.1:1/"}, events=["status", "resubmitted"])
    with running_receiver(key_of(target)) as receiver:
        DeliveryTarget.objects.filter(pk=target.pk).update(config={"url": receiver.url})
        submission = submit(world.procedure)
        assert not Delivery.objects.filter(submission=submission).exists()  # "submitted" not wanted
        record_event(submission, "under_review", actor_label="テスト")
        record_event(submission, "resubmitted", actor_label="申請者")
        state = receiver.state()
    events = sorted(d["delivery"]["event"] for d in state["accepted"].values())
    assert events == ["resubmitted", "status"]
    assert {d["status"] for d in state["accepted"].values()} == {"under_review", "resubmitted"}


def test_file_drop_writes_a_complete_bundle_atomically(world, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    DeliveryTarget.objects.create(name="RPA連携フォルダ", kind="file_drop", section=world.section,
                                  config={"directory": str(drop)})
    # 𠮷 (U+20BB7) and 髙 are outside CP932's standard conversion only for 𠮷; ㈱ is in CP932.
    submission = submit(world.procedure, family="𠮷田", given="髙子", street="1-2-3 ㈱ビル", attachment=PDF)
    delivery = Delivery.objects.get(submission=submission)
    assert delivery.state == "delivered"
    entries = os.listdir(drop)
    assert entries == [f"{submission.receipt_number}-{delivery.delivery_id}"]  # no temporary left
    bundle = drop / entries[0]
    document = read_json(bundle / "submission.json")
    assert document["items"]["氏名"] == "𠮷田\u3000髙子"
    assert document["charset"]["cp932"] == ["𠮷"]
    assert document["csv_unencodable"] == [{"column": "氏名", "chars": ["𠮷"]}]
    rows = (bundle / "submission.csv").read_bytes().decode("cp932").split("\r\n")
    assert rows[0].startswith("受付番号,手続きコード,手続き,申請日時,状態,氏名,氏名カナ,生年月日")
    assert "〓田\u3000髙子" in rows[1] and submission.receipt_number in rows[1]
    files = os.listdir(bundle / "attachments")
    assert files == ["1-証明書.pdf"] and (bundle / "attachments" / files[0]).read_bytes() == PDF
    # Sent again (a worker killed after the rename): the bundle in place counts as delivered.
    Delivery.objects.filter(pk=delivery.pk).update(state="pending", next_attempt_at=timezone.now())
    assert services.deliver(delivery.pk) is True
    assert os.listdir(drop) == entries


def test_file_drop_into_a_missing_directory_is_dead_with_what_to_do(world, tmp_path):
    DeliveryTarget.objects.create(name="RPA連携フォルダ", kind="file_drop", section=world.section,
                                  config={"directory": str(tmp_path / "nowhere")})
    delivery = Delivery.objects.get(submission=submit(world.procedure))
    assert delivery.state == "dead" and "フォルダがありません" in delivery.last_error


def test_file_drop_failure_mid_write_leaves_no_bundle(world, tmp_path, monkeypatch):
    drop = tmp_path / "drop"
    drop.mkdir()
    DeliveryTarget.objects.create(name="RPA連携フォルダ", kind="file_drop", section=world.section,
                                  config={"directory": str(drop)})
    from tenohira.integrations.contrib import file_drop

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(file_drop.shutil, "copyfileobj", broken)
    delivery = Delivery.objects.get(submission=submit(world.procedure, attachment=PDF))
    assert delivery.state == "retrying" and "書き込めませんでした" in delivery.last_error
    assert os.listdir(drop) == []  # neither a half bundle nor its temporary directory


def test_email_to_the_section_mailbox_has_no_personal_data_and_is_written_once(world):
    DeliveryTarget.objects.create(name="市民課共有アドレス", kind="email", section=world.section,
                                  config={"to": "shimin@city.example.jp"})
    submission = submit(world.procedure)
    delivery = Delivery.objects.get(submission=submission)
    assert delivery.state == "delivered"
    sent = [m for m in mail.outbox if m.to == ["shimin@city.example.jp"]]
    assert len(sent) == 1
    assert submission.receipt_number in sent[0].subject and f"/staff/submissions/{submission.receipt_number}/" in sent[0].body
    assert "山田" not in sent[0].body and "転入" not in sent[0].body and "hanako" not in sent[0].body
    Delivery.objects.filter(pk=delivery.pk).update(state="pending")
    services.deliver(delivery.pk)
    assert len([m for m in mail.outbox if m.to == ["shimin@city.example.jp"]]) == 1


def test_target_config_is_checked(world):
    from tenohira.integrations.registry import register

    assert register.get("webhook").validate({"url": "http://example.jp/"})
    assert not register.get("webhook").validate({"url": "https://example.jp/hook"})
    assert not register.get("webhook").validate({"url": "http://127.0.0.1:8000/hook"})
    assert register.get("file_drop").validate({"directory": "relative/path"})
    assert register.get("email").validate({"to": "not an address"})


def test_survey_responses_reach_only_a_target_set_up_for_the_survey(world):
    from tenohira.forms.models import FormDefinition

    FormDefinition.objects.filter(procedure=world.procedure).update(kind=FormDefinition.Kind.SURVEY)
    section_wide = webhook(world, "http://127.0.0.1:1/")
    response = submit(world.procedure)
    assert not Delivery.objects.filter(submission=response).exists()  # not an application
    for_the_survey = DeliveryTarget.objects.create(name="アンケート集計", kind="webhook", procedure=world.procedure,
                                                   config={"url": "http://127.0.0.1:1/"})
    second = submit(world.procedure, street="2-2-2")
    assert list(Delivery.objects.filter(submission=second).values_list("target", flat=True)) == [for_the_survey.pk]
    assert section_wide.pk != for_the_survey.pk
