"""The pull API for business systems (連携API): a client written against the OpenAPI
document alone pulls, downloads, acknowledges and posts a status that the resident then
sees; credentials, scopes, sections, bad input and rate limits."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re

import pytest
import requests
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tenohira.applications.models import Submission
from tenohira.audit.models import AuditRecord
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.integrations.models import Acknowledgement, IntegrationToken

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x11" * 300 + b"\xff\xd9"

FORM = {
    "title": "連携APIのテスト申請",
    "email_field": "email",
    "steps": [
        {"key": "about", "title": "申請する方", "fields": [
            {"key": "full_name", "type": "text", "label": "氏名", "required": True},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
            {"key": "photo", "type": "file", "label": "本人確認書類", "required": True, "max_size_mb": 1},
        ]},
        {"key": "end", "title": "同意", "fields": [{"key": "ok", "type": "consent", "label": "同意します", "required": True}]},
    ],
}


@pytest.fixture(autouse=True)
def _api_settings(settings, tmp_path):
    settings.INTEGRATION_SETTLE_SECONDS = 0
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def sections(db):
    from tenohira.forms.services import publish

    department = Department.objects.create(name="こども部")
    ours = Section.objects.create(department=department, name="子育て支援課")
    theirs = Section.objects.create(department=department, name="保育課")
    for code, section in (("APA", ours), ("APB", theirs)):
        publish(Procedure.objects.create(code=code, section=section, name=f"連携テスト{code}"), FORM)
    return ours, theirs


def apply(code: str = "APA", name: str = "山田 花子") -> tuple[Submission, str, Client]:
    """A resident walks the form in the site; returns the submission, its 確認コード and the browser."""
    browser = Client(HTTP_HOST="localhost")
    response = browser.post(f"/procedures/{code}/apply/")
    public_id = re.search(r"/apply/([0-9a-f-]{36})/", response["Location"]).group(1)
    photo = SimpleUploadedFile("license.jpg", JPEG, content_type="image/jpeg")
    response = browser.post(f"/apply/{public_id}/about/", {"action": "continue", "full_name": name,
                                                           "email": "hanako@example.jp", "photo": photo})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert browser.post(f"/apply/{public_id}/end/", {"action": "continue", "ok": "yes"}).status_code == 302
    browser.post(f"/apply/{public_id}/check/")
    done = browser.get(f"/apply/{public_id}/done/").content.decode()
    secret = re.search(r'class="secret">([^<]+)<', done).group(1)
    return Submission.objects.get(draft__public_id=public_id), secret, browser


def make_client(*sections, scopes=("submissions:read", "submissions:ack", "status:write"), name="子育て支援システム") -> dict:
    """Through the management command, as an administrator does; returns what it printed once."""
    out = io.StringIO()
    args = ["integration", "client", "create", "--name", name]
    for section in sections:
        args += ["--section", section.name]
    for scope in scopes:
        args += ["--scope", scope]
    call_command(*args, stdout=out)
    text = out.getvalue()
    return {key: re.search(rf"{key}: (\S+)", text).group(1) for key in ("APIキー", "client_id", "client_secret")}


def form(data: dict) -> dict:
    """A body as RFC 6749 has it: application/x-www-form-urlencoded."""
    from urllib.parse import urlencode

    return {"data": urlencode(data), "content_type": "application/x-www-form-urlencoded"}


def api(key: str) -> Client:
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")


# --- the client written against the OpenAPI document ---------------------------------------


class OpenApiClient:
    """Knows nothing of Tenohira but the document: paths come from operationIds."""

    def __init__(self, base_url: str):
        self.base = base_url
        document = requests.get(f"{base_url}/api/v1/schema/?format=json", timeout=10).json()
        self.operations = {}
        for path, item in document["paths"].items():
            for method, operation in item.items():
                self.operations[operation["operationId"]] = (method.upper(), path)
        self.session = requests.Session()

    def call(self, operation_id: str, **kwargs) -> requests.Response:
        method, path = self.operations[operation_id]
        path = re.sub(r"\{(\w+)\}", lambda m: kwargs.pop(m.group(1)), path)
        return self.session.request(method, self.base + path, timeout=10, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_a_client_written_against_the_document_pulls_acknowledges_and_posts_a_status_the_resident_sees(
    sections, live_server
):
    ours, theirs = sections
    submission, secret, resident = apply("APA")
    apply("APB", name="別の課 太郎")  # another section's: never listed
    credentials = make_client(ours)

    client = OpenApiClient(live_server.url)
    assert {"integration_issue_token", "integration_list_submissions", "integration_get_submission",
            "integration_download_attachment", "integration_acknowledge_submission",
            "integration_post_status"} <= set(client.operations)

    # OAuth2 client credentials, then the bearer token on every call.
    response = client.call("integration_issue_token", data={
        "grant_type": "client_credentials", "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"]})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = response.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    client.session.headers["Authorization"] = f"Bearer {token['access_token']}"

    listed = client.call("integration_list_submissions", params={"limit": 10}).json()
    assert [item["receipt_number"] for item in listed["items"]] == [submission.receipt_number]
    assert listed["items"][0]["acknowledged"] is False and listed["has_more"] is False

    detail = client.call("integration_get_submission", receipt_number=submission.receipt_number)
    assert detail.status_code == 200 and "no-store" in detail.headers["Cache-Control"]
    body = detail.json()
    assert body["document"]["receipt_number"] == submission.receipt_number
    assert "山田 花子" in str(body["document"])
    [attachment] = body["attachments"]
    assert attachment["sha256"] == hashlib.sha256(JPEG).hexdigest()

    file = client.call("integration_download_attachment", receipt_number=submission.receipt_number,
                       token=attachment["token"])
    assert file.status_code == 200 and file.content == JPEG and "no-store" in file.headers["Cache-Control"]

    # 取込済: idempotent, the first time kept.
    first = client.call("integration_acknowledge_submission", receipt_number=submission.receipt_number).json()
    again = client.call("integration_acknowledge_submission", receipt_number=submission.receipt_number).json()
    assert first["first"] is True and again["first"] is False and first["acknowledged_at"] == again["acknowledged_at"]
    assert Acknowledgement.objects.count() == 1
    assert client.call("integration_list_submissions", params={"unacknowledged": "true"}).json()["items"] == []
    # The cursor moves on: nothing new since the last page.
    assert client.call("integration_list_submissions", params={"since": listed["next"]}).json()["items"] == []

    for status, message in (("under_review", "書類を確認しています。"),
                            ("approved", "承認しました。認定通知書を郵送します。")):
        response = client.call("integration_post_status", receipt_number=submission.receipt_number,
                               json={"status": status, "message": message})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status

    submission.refresh_from_db()
    assert submission.status == Submission.Status.APPROVED
    event = submission.events.order_by("-id").first()
    assert event.actor_label == "子育て支援システム" and event.actor_id is None

    # The resident's status page: the new state and both messages, by the section (not the system's name).
    html = resident.post("/status/", {"receipt_number": submission.receipt_number, "secret": secret}).content.decode()
    assert "承認しました。認定通知書を郵送します。" in html
    assert "書類を確認しています。" in html
    assert "子育て支援課" in html and "子育て支援システム" not in html
    # And the e-mail the back office would send for the same steps.
    sent = [m for m in mail.outbox if submission.receipt_number in m.subject and "承認" in m.subject]
    assert sent and "承認しました。認定通知書を郵送します。" in sent[-1].body

    actions = list(AuditRecord.objects.filter(action__startswith="integration.").values_list("action", flat=True))
    for action in ("integration.token", "integration.list", "integration.read", "integration.attachment",
                   "integration.ack", "integration.status"):
        assert action in actions
    # Audit records name the client and the receipt number, never the applicant.
    assert not AuditRecord.objects.filter(action__startswith="integration.", detail__icontains="山田").exists()


# --- refusals ------------------------------------------------------------------------------


def test_a_wrong_scope_or_another_sections_application_is_403_and_audited(sections):
    ours, theirs = sections
    mine, _, _ = apply("APA")
    other, _, _ = apply("APB")
    reader = make_client(ours, scopes=["submissions:read"], name="閲覧だけのシステム")

    response = api(reader["APIキー"]).post(f"/api/v1/integration/submissions/{mine.receipt_number}/status",
                                         {"status": "under_review"}, content_type="application/json")
    assert response.status_code == 403 and "status:write" in response.json()["detail"]
    response = api(reader["APIキー"]).get(f"/api/v1/integration/submissions/{other.receipt_number}")
    assert response.status_code == 403 and "所属" in response.json()["detail"]
    response = api(reader["APIキー"]).get(
        f"/api/v1/integration/submissions/{other.receipt_number}/attachments/{other.attachments.get().token}")
    assert response.status_code == 403

    denied = AuditRecord.objects.filter(action="integration.denied").order_by("id")
    assert [record.target for record in denied] == [mine.receipt_number, other.receipt_number, other.receipt_number]
    assert denied[0].actor.startswith("integration:tnhc_") and denied[0].detail["operation"] == "status"
    # Nothing changed.
    mine.refresh_from_db()
    assert mine.status == Submission.Status.RECEIVED
    # A receipt number that does not exist is 404.
    assert api(reader["APIキー"]).get("/api/v1/integration/submissions/NOPE-1").status_code == 404


def test_expired_wrong_or_deactivated_credentials_are_401(sections):
    ours, _ = sections
    credentials = make_client(ours)
    response = Client(HTTP_HOST="localhost").post("/api/v1/integration/token", **form(
        {"grant_type": "client_credentials", "client_id": credentials["client_id"], "client_secret": credentials["client_secret"]},
    ))
    token = response.json()["access_token"]
    assert api(token).get("/api/v1/integration/submissions").status_code == 200
    assert not IntegrationToken.objects.filter(token_hash=token).exists()  # stored hashed

    IntegrationToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = api(token).get("/api/v1/integration/submissions")
    assert response.status_code == 401 and "有効期限" in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")

    assert api("tnh_wrong").get("/api/v1/integration/submissions").status_code == 401
    assert Client(HTTP_HOST="localhost").get("/api/v1/integration/submissions").status_code == 401

    wrong = Client(HTTP_HOST="localhost").post("/api/v1/integration/token", **form(
        {"grant_type": "client_credentials", "client_id": credentials["client_id"], "client_secret": "nope"},
    ))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert AuditRecord.objects.filter(action="integration.token_refused").count() == 1
    grant = Client(HTTP_HOST="localhost").post("/api/v1/integration/token", **form({"grant_type": "password"}))
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"

    call_command("integration", "client", "deactivate", "--client-id", credentials["client_id"], stdout=io.StringIO())
    assert api(credentials["APIキー"]).get("/api/v1/integration/submissions").status_code == 401


def test_bad_input_is_400_with_a_message_in_japanese(sections):
    ours, _ = sections
    submission, _, _ = apply("APA")
    key = make_client(ours)["APIキー"]
    base = "/api/v1/integration/submissions"

    for query, words in (("since=%%%", "since"), ("limit=1000", "100以下"), ("limit=x", "整数"),
                         ("unacknowledged=maybe", "true か false")):
        response = api(key).get(f"{base}?{query}")
        assert response.status_code == 400, query
        assert words in str(response.json()), (query, response.json())

    def post(body):
        return api(key).post(f"{base}/{submission.receipt_number}/status", body, content_type="application/json")

    assert "いずれか" in str(post({"status": "returned"}).json())
    response = post({"status": "completed"})
    assert response.status_code == 400 and "「受付」の申請を「完了」にはできません" in str(response.json())
    assert post({"status": "under_review"}).status_code == 200
    response = post({"status": "rejected"})
    assert response.status_code == 400 and "理由" in str(response.json())
    assert post({"status": "x" * 3000}).status_code == 400
    assert post({"status": "under_review", "message": "あ" * 2001}).status_code == 400


@pytest.mark.django_db
def test_an_unreadable_token_request_gets_an_oauth2_error_in_japanese(client):
    """Found by the schemathesis test: a body that is not UTF-8 JSON got DRF's English
    {"detail": …}, not the OAuth2 error the document promises."""
    response = client.post("/api/v1/integration/token", b"\xac", content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request" and "UTF-8" in body["error_description"]


def test_the_list_pages_by_cursor_oldest_first(sections, settings):
    ours, _ = sections
    made = [apply("APA", name=f"申請者{i}")[0] for i in range(3)]
    key = make_client(ours)["APIキー"]
    first = api(key).get("/api/v1/integration/submissions?limit=2").json()
    assert [i["receipt_number"] for i in first["items"]] == [s.receipt_number for s in made[:2]]
    assert first["has_more"] is True
    second = api(key).get(f"/api/v1/integration/submissions?limit=2&since={first['next']}").json()
    assert [i["receipt_number"] for i in second["items"]] == [made[2].receipt_number]
    assert second["has_more"] is False
    # A submission still inside the settling time is not listed yet (an earlier id may still commit).
    settings.INTEGRATION_SETTLE_SECONDS = 3600
    assert api(key).get("/api/v1/integration/submissions").json()["items"] == []


def test_calls_are_rate_limited_per_client(sections, settings):
    ours, _ = sections
    key = make_client(ours)["APIキー"]
    settings.INTEGRATION_RATE_PER_MINUTE = 2
    assert [api(key).get("/api/v1/integration/submissions").status_code for _ in range(3)] == [200, 200, 429]
