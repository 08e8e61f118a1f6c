"""The client address behind a request (X-Forwarded-For only from trusted proxies) and the
rate limits and audit records that use it; the status page's limits never lock a receipt
number."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory, override_settings

from tenohira.applications import services
from tenohira.audit.models import AuditRecord
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.core.clients import client_address
from tenohira.core.models import RateLimitHit

SCHEMA = {
    "title": "照会テスト申請",
    "email_field": "email",
    "steps": [{"key": "about", "title": "申請者", "fields": [
        {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
    ]}],
}


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


# --- the address ---------------------------------------------------------------------------


@override_settings(TRUSTED_PROXIES=[])
def test_without_trusted_proxies_the_header_is_ignored():
    assert client_address(request_from("198.51.100.7", "203.0.113.9")) == "198.51.100.7"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_a_header_from_an_untrusted_client_is_ignored():
    assert client_address(request_from("198.51.100.7", "203.0.113.9, 10.0.0.1")) == "198.51.100.7"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8", "192.168.1.5"])
def test_a_trusted_proxy_is_believed_and_the_rightmost_untrusted_address_is_taken():
    # The client wrote "1.2.3.4" itself; our proxies appended 203.0.113.9 and 10.1.1.1.
    request = request_from("192.168.1.5", "1.2.3.4, 203.0.113.9, 10.1.1.1")
    assert client_address(request) == "203.0.113.9"
    assert client_address(request_from("10.0.0.3", "2001:db8::5")) == "2001:db8::5"
    assert client_address(request_from("10.0.0.3", "203.0.113.9:51234")) == "203.0.113.9"
    assert client_address(request_from("10.0.0.3", "[2001:db8::5]:443")) == "2001:db8::5"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
@pytest.mark.parametrize("garbage", ["", "unknown", "<script>", "999.1.1.1", "a" * 5000, ",,,", "1.2.3.4 5.6.7.8"])
def test_garbage_in_the_header_falls_back_to_the_proxy(garbage):
    assert client_address(request_from("10.0.0.3", garbage)) == "10.0.0.3"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_garbage_left_of_a_good_address_is_never_reached():
    assert client_address(request_from("10.0.0.3", "nonsense, 203.0.113.9")) == "203.0.113.9"


def test_no_request_and_a_bad_peer_give_no_address():
    assert client_address(None) == ""
    assert client_address(request_from("not-an-ip")) == ""
    assert client_address(request_from("::ffff:198.51.100.7")) == "198.51.100.7"


def test_a_bad_trusted_proxies_setting_stops_the_start(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "TENOHIRA_DATA_DIR": str(tmp_path), "TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; "
         "import os; os.environ['DJANGO_SETTINGS_MODULE']='tenohira.config.settings'; settings.SECRET_KEY"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "TRUSTED_PROXIES" in result.stderr


# --- rate limits and audit records ----------------------------------------------------------


@pytest.fixture
def submission(db, django_capture_on_commit_callbacks):
    from tenohira.forms.services import publish

    department = Department.objects.create(name="照会部")
    section = Section.objects.create(department=department, name="照会課")
    procedure = Procedure.objects.create(code="LKP", section=section, name="照会テスト")
    version, _ = publish(procedure, SCHEMA)
    draft, _owner = services.start_draft(version)
    services.save_step(draft, version.parsed().step("about"), {"email": ["a@example.jp"]}, {}, [])
    draft.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        submitted, secret = services.submit(draft)
    RateLimitHit.objects.all().delete()
    return submitted, secret


def lookup(client, number, secret, **extra):
    return client.post("/status/", {"receipt_number": number, "secret": secret}, **extra)


WRONG = "AAAA-BBBB-CCCC"


@override_settings(STATUS_LOOKUP_LIMIT_PER_HOUR=20, TRUSTED_PROXIES=[])
def test_twenty_wrong_codes_from_one_address_do_not_lock_the_resident_out(submission):
    number, secret = submission[0].receipt_number, submission[1]
    attacker = Client(HTTP_HOST="localhost", REMOTE_ADDR="198.51.100.66")
    answers = {lookup(attacker, number, WRONG).status_code for _ in range(20)}
    assert answers == {400}
    assert lookup(attacker, number, secret).status_code == 429  # the guesser is stopped
    resident = Client(HTTP_HOST="localhost", REMOTE_ADDR="203.0.113.10")
    response = lookup(resident, number, secret)
    assert response.status_code == 200
    assert number in response.content.decode()


@override_settings(STATUS_LOOKUP_LIMIT_PER_HOUR=3, TRUSTED_PROXIES=[])
def test_changing_a_spoofed_header_does_not_reset_the_limit(submission):
    number = submission[0].receipt_number
    attacker = Client(HTTP_HOST="localhost", REMOTE_ADDR="198.51.100.66")
    codes = [
        lookup(attacker, number, WRONG, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(5)
    ]
    assert codes == [400, 400, 400, 429, 429]


@override_settings(STATUS_LOOKUP_LIMIT_PER_HOUR=3, TRUSTED_PROXIES=["10.0.0.0/8"])
def test_behind_a_trusted_proxy_each_resident_has_their_own_count(submission):
    number, secret = submission[0].receipt_number, submission[1]
    proxy = Client(HTTP_HOST="localhost", REMOTE_ADDR="10.0.0.2")
    codes = [lookup(proxy, number, WRONG, HTTP_X_FORWARDED_FOR="198.51.100.66").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    assert lookup(proxy, number, secret, HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 200


@override_settings(STATUS_LOOKUP_LIMIT_PER_HOUR=100, STATUS_LOOKUP_GLOBAL_PER_MINUTE=5, TRUSTED_PROXIES=[])
def test_guessing_from_many_addresses_meets_the_global_budget(submission):
    import time

    number = submission[0].receipt_number
    # The budget counts per fixed minute; should the minute turn during the attempts,
    # start again in the new one (at most once).
    for _try in range(2):
        RateLimitHit.objects.all().delete()
        minute = int(time.time()) // 60
        responses = [
            lookup(Client(HTTP_HOST="localhost", REMOTE_ADDR=f"198.51.100.{i}"), number, WRONG)
            for i in range(1, 8)
        ]
        if minute == int(time.time()) // 60:
            break
    assert [r.status_code for r in responses] == [400] * 5 + [429] * 2
    assert "しばらくしてからお試しください" in responses[-1].content.decode()


@override_settings(TRUSTED_PROXIES=[], STAFF_LOGIN_LIMIT_PER_ADDRESS=2)
def test_sign_in_limit_ignores_a_spoofed_header_and_audit_stores_the_real_address(db):
    get_user_model().objects.create_user("kakari", password="correct horse battery")
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR="198.51.100.66")
    codes = [
        client.post("/staff/login/", {"username": "kakari", "password": "wrong", "code": "123456"},
                    HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(3)
    ]
    assert codes[-1] == 429
    ips = set(AuditRecord.objects.filter(action="login_failed").values_list("ip", flat=True))
    assert ips == {"198.51.100.66"}


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_audit_stores_the_address_a_trusted_proxy_reports(db):
    get_user_model().objects.create_user("kakari", password="correct horse battery")
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR="10.0.0.2")
    client.post("/staff/login/", {"username": "kakari", "password": "wrong", "code": "123456"},
                HTTP_X_FORWARDED_FOR="spoofed, 203.0.113.10")
    assert list(AuditRecord.objects.filter(action="login_failed").values_list("ip", flat=True)) == ["203.0.113.10"]
