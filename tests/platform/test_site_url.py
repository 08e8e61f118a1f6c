"""Links in e-mails point at the address the site is actually served at: the request's
host (checked against ALLOWED_HOSTS) or an explicit SITE_URL, never a fixed default."""

import re
import sys
import types

import pytest
from django.core import mail
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from tenohira.core.site import public_url, serving, staff_url

# One step, an e-mail for the confirmation: the smallest form that sends one.
SCHEMA = {
    "title": "テスト申請",
    "email_field": "email",
    "steps": [
        {
            "key": "about",
            "title": "申請する方について",
            "fields": [
                {"key": "full_name", "type": "text", "label": "氏名", "required": True, "max_length": 40},
                {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
            ],
        },
    ],
}


@pytest.fixture
def form(db):
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms.services import publish

    department = Department.objects.create(name="テスト部")
    section = Section.objects.create(department=department, name="テスト課")
    procedure = Procedure.objects.create(code="TST", section=section, name="テスト手続き")
    return publish(procedure, SCHEMA)[0]


@pytest.fixture
def apply(django_capture_on_commit_callbacks):
    def apply_from(client: Client) -> str:
        with django_capture_on_commit_callbacks(execute=True):  # the e-mail leaves after the commit
            _apply(client)
        (message,) = [m for m in mail.outbox if m.to == ["hanako@example.jp"]]
        return message.body

    return apply_from


def _apply(client: Client) -> None:
    """Apply from `client` through the pages a resident uses."""
    response = client.post("/procedures/TST/apply/")
    assert response.status_code == 302, response.status_code
    public_id = re.search(r"/apply/([0-9a-f-]{36})/", response["Location"]).group(1)
    step = client.post(f"/apply/{public_id}/about/",
                       {"action": "continue", "full_name": "山田 花子", "email": "hanako@example.jp"})
    assert step.status_code == 302, step.content.decode()[:1000]
    done = client.post(f"/apply/{public_id}/check/", {"consent": "yes"})
    assert done.status_code == 302 and "/done/" in done["Location"], done.status_code


def test_the_confirmation_links_to_the_host_and_port_the_resident_used(form, apply, settings):
    settings.SITE_URL = ""
    body = apply(Client(HTTP_HOST="127.0.0.1:8080"))
    assert "http://127.0.0.1:8080/status/" in body
    assert "127.0.0.1:8000" not in body


def test_an_explicit_site_url_wins_over_the_request(form, apply, settings):
    settings.SITE_URL = "https://tetsuzuki.example.lg.jp/"
    body = apply(Client(HTTP_HOST="127.0.0.1:8080"))
    assert "https://tetsuzuki.example.lg.jp/status/" in body
    assert "127.0.0.1:8080" not in body


def test_a_host_outside_allowed_hosts_gets_no_page_and_no_mail(form, settings):
    settings.SITE_URL = ""
    response = Client(HTTP_HOST="evil.example").post("/procedures/TST/apply/")
    assert response.status_code == 400
    assert mail.outbox == []


def test_behind_a_tls_proxy_the_link_is_https(form, apply, settings):
    settings.SITE_URL = ""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["tetsuzuki.example.lg.jp"]
    body = apply(Client(HTTP_HOST="tetsuzuki.example.lg.jp", HTTP_X_FORWARDED_PROTO="https"))
    assert "https://tetsuzuki.example.lg.jp/status/" in body


def echo(request):
    return HttpResponse(f"{public_url('/status/')} {staff_url('/staff/')}")


@pytest.fixture
def echo_client(settings, monkeypatch):
    module = types.ModuleType("tenohira_test_echo_urls")
    module.urlpatterns = [path("echo/", echo)]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    settings.ROOT_URLCONF = module.__name__
    settings.SITE_URL = settings.STAFF_SITE_URL = ""
    return Client(HTTP_HOST="localhost:8123")


def test_inside_a_request_both_addresses_follow_it(echo_client):
    assert echo_client.get("/echo/").content.decode() == "http://localhost:8123/status/ http://localhost:8123/staff/"


def test_staff_terminals_may_have_their_own_address(echo_client, settings):
    settings.STAFF_SITE_URL = "http://tenohira.lgwan.example/"
    assert echo_client.get("/echo/").content.decode() == (
        "http://localhost:8123/status/ http://tenohira.lgwan.example/staff/"
    )


def test_outside_a_request_a_command_says_where_it_serves(settings):
    settings.SITE_URL = settings.STAFF_SITE_URL = ""
    with serving("http://127.0.0.1:9000/"):
        assert public_url("/status/") == "http://127.0.0.1:9000/status/"
    # And nothing of it leaks once the block ends.
    assert public_url("/status/") == "http://localhost/status/"
