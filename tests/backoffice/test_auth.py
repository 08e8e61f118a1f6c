"""Staff sign-in: password AND the authenticator's code, lockout after repeated failures,
idle timeout, password rules, sign-out, the demo's codes, and /admin/ behind the same door."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from tenohira.audit.models import AuditRecord
from tenohira.audit.services import verify

pytestmark = pytest.mark.django_db

PASSWORD = "kuyakusho-Passw0rd-2026"


def browser() -> Client:
    return Client(HTTP_HOST="localhost")


def sign_in(client, username, code, password=PASSWORD, **extra):
    return client.post("/staff/login/", {"username": username, "password": password, "code": code, **extra})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def is_signed_in(client) -> bool:
    response = client.get("/staff/")
    return response.status_code == 200


# --- password + one-time code -------------------------------------------------------------


def test_the_login_page_asks_for_user_name_password_and_code_with_labels(staff):
    page = browser().get("/staff/login/")
    assert page.status_code == 200
    html = page.content.decode()
    for input_id, label in [("f-username", "ユーザー名"), ("f-password", "パスワード"), ("f-code", "確認コード")]:
        assert re.search(rf'<label[^>]*for="{input_id}"[^>]*>{label}', html), input_id
        assert f'id="{input_id}"' in html
    assert 'autocomplete="one-time-code"' in html
    assert "デモ用アカウントの確認コード" not in html


def test_password_and_the_right_code_sign_in_with_the_second_factor_verified(staff, totp):
    client = browser()
    client.get("/staff/login/")
    before = client.cookies.get("sessionid")
    response = sign_in(client, "tanto", totp(staff.handler))
    assert response.status_code == 302 and response["Location"] == "/staff/"
    assert client.cookies["sessionid"].value != (before.value if before else None)  # new session key
    assert is_signed_in(client)
    record = AuditRecord.objects.get(action="login")
    assert record.actor_id == staff.handler.pk and record.target == "tanto" and record.ip == "127.0.0.1"


def test_a_wrong_code_is_refused_even_with_the_right_password(staff, totp):
    client = browser()
    response = sign_in(client, "tanto", wrong(totp(staff.handler)))
    assert response.status_code == 400
    assert "ユーザー名、パスワード、確認コードのいずれかが正しくありません。" in response.content.decode()
    assert not is_signed_in(client)
    failed = AuditRecord.objects.get(action="login_failed")
    assert failed.target == "tanto" and failed.detail == {"reason": "code"}
    assert not AuditRecord.objects.filter(action="login").exists()


def test_a_wrong_password_is_refused_even_with_the_right_code(staff, totp):
    client = browser()
    response = sign_in(client, "tanto", totp(staff.handler), password="not-the-password-at-all")
    assert response.status_code == 400
    assert not is_signed_in(client)
    assert AuditRecord.objects.get(action="login_failed").detail == {"reason": "password"}


def test_another_users_code_is_not_this_users_code(staff, totp):
    handler_codes = {totp(staff.handler, steps_ahead=n) for n in (-1, 0, 1)}
    code = next(c for n in range(5) if (c := totp(staff.approver, steps_ahead=n)) not in handler_codes)
    response = sign_in(browser(), "tanto", code)
    assert response.status_code == 400


def test_a_code_is_required_and_must_be_digits(staff):
    client = browser()
    response = sign_in(client, "tanto", "")
    assert response.status_code == 400
    assert "確認コード" in response.content.decode()
    response = sign_in(client, "tanto", "abcdef")
    assert "6桁の数字" in response.content.decode()
    assert not is_signed_in(client)


def test_a_code_works_only_once(staff, totp):
    code = totp(staff.handler)
    assert sign_in(browser(), "tanto", code).status_code == 302
    # The same code replayed (shoulder-surfed, or from a proxy log) does not open a session.
    replay = browser()
    assert sign_in(replay, "tanto", code).status_code == 400
    assert not is_signed_in(replay)


def test_next_is_followed_only_within_the_site(staff, totp, make_submission):
    submission = make_submission()
    target = f"/staff/submissions/{submission.receipt_number}/"
    first = browser()
    response = first.get(target)
    assert response.status_code == 302 and response["Location"] == f"/staff/login/?next={target}"
    response = sign_in(first, "tanto", totp(staff.handler), next=target)
    assert response["Location"] == target

    staff.device(staff.approver)  # a fresh device: its first code
    response = sign_in(browser(), "kessai", totp(staff.approver), next="https://evil.example/phish")
    assert response["Location"] == "/staff/"


def test_an_account_without_a_device_cannot_sign_in(staff, totp):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    code = totp(staff.handler)
    TOTPDevice.objects.filter(user=staff.handler).delete()
    response = sign_in(browser(), "tanto", code)
    assert response.status_code == 400
    assert AuditRecord.objects.get(action="login_failed").detail == {"reason": "no_device"}


def test_the_session_expires_with_the_browser_after_idle_minutes_not_two_weeks(staff, totp, settings):
    client = browser()
    sign_in(client, "tanto", totp(staff.handler))
    session = Session.objects.get(session_key=client.cookies["sessionid"].value)
    left = session.expire_date - timezone.now()
    assert dt.timedelta(minutes=settings.STAFF_IDLE_TIMEOUT_MINUTES - 1) < left <= dt.timedelta(
        minutes=settings.STAFF_IDLE_TIMEOUT_MINUTES
    )


# --- lockout -----------------------------------------------------------------------------


@pytest.fixture
def lockout(settings):
    settings.STAFF_LOCKOUT_FAILURES = 3
    settings.STAFF_LOCKOUT_MINUTES = 15
    return settings


def test_after_n_failures_the_account_is_locked_even_for_the_right_password_and_code(staff, totp, lockout):
    client = browser()
    code = totp(staff.handler)
    for attempt in range(3):
        response = sign_in(client, "tanto", code, password=f"guess-number-{attempt}")
        assert response.status_code == 400
    assert "15分間ロックされました" in response.content.decode()

    response = sign_in(client, "tanto", code)
    html = response.content.decode()
    assert response.status_code == 400
    assert "3回続けて失敗したため、このアカウントは一時的にロックされています。" in html
    assert "約15分後" in html
    assert not is_signed_in(client)
    reasons = list(AuditRecord.objects.filter(action="login_failed").values_list("detail__reason", flat=True))
    assert reasons == ["password", "password", "password", "locked"]
    # A locked account's password is not even checked: the right one changes nothing.
    assert not AuditRecord.objects.filter(action="login").exists()
    assert verify().ok


def test_the_warning_comes_before_the_lock(staff, totp, lockout):
    response = sign_in(browser(), "tanto", totp(staff.handler), password="guess")
    assert "あと2回失敗すると、このアカウントは15分間ロックされます。" in response.content.decode()


def test_lockout_is_per_user_name_and_other_staff_can_still_sign_in(staff, totp, lockout):
    for _ in range(3):
        sign_in(browser(), "tanto", "000000", password="guess")
    assert sign_in(browser(), "kessai", totp(staff.approver)).status_code == 302


def test_unknown_user_names_lock_the_same_way_so_the_page_reveals_no_accounts(staff, lockout):
    for _ in range(3):
        response = sign_in(browser(), "nobody-here", "123456", password="guess")
        assert "ユーザー名、パスワード、確認コードのいずれかが正しくありません。" in response.content.decode()
    response = sign_in(browser(), "nobody-here", "123456", password="guess")
    assert "一時的にロックされています" in response.content.decode()


def test_a_successful_sign_in_starts_the_count_again(staff, totp, lockout):
    for _ in range(2):
        sign_in(browser(), "tanto", "000000", password="guess")
    assert sign_in(browser(), "tanto", totp(staff.handler)).status_code == 302
    for _ in range(2):
        sign_in(browser(), "tanto", "000000", password="guess")
    # two failures since the last success: not locked (the third would lock)
    late = browser()
    assert sign_in(late, "tanto", totp(staff.handler, steps_ahead=1)).status_code == 302


def test_the_lock_lifts_when_the_failures_leave_the_window(staff, totp, settings):
    settings.STAFF_LOCKOUT_FAILURES = 2
    settings.STAFF_LOCKOUT_MINUTES = 2 / 60  # a two-second window, to wait it out for real
    for _ in range(2):
        sign_in(browser(), "tanto", "000000", password="guess")
    assert "ロックされています" in sign_in(browser(), "tanto", totp(staff.handler)).content.decode()
    time.sleep(2.2)
    assert sign_in(browser(), "tanto", totp(staff.handler)).status_code == 302


# --- idle timeout, roles, second factor ------------------------------------------------------


def session_of(client) -> Session:
    return Session.objects.get(session_key=client.cookies["sessionid"].value)


def test_every_staff_request_restarts_the_idle_clock(staff, staff_client, settings):
    client = staff_client(staff.handler)
    assert client.get("/staff/").status_code == 200
    # 29 idle minutes later (one left), a click keeps the session for another full period.
    Session.objects.filter(pk=session_of(client).pk).update(expire_date=timezone.now() + dt.timedelta(minutes=1))
    assert client.get("/staff/").status_code == 200
    left = session_of(client).expire_date - timezone.now()
    assert left > dt.timedelta(minutes=settings.STAFF_IDLE_TIMEOUT_MINUTES - 1)


def test_a_session_idle_longer_than_the_timeout_is_signed_out(staff, staff_client, make_submission):
    submission = make_submission()
    client = staff_client(staff.handler)
    assert client.get("/staff/").status_code == 200
    Session.objects.filter(pk=session_of(client).pk).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    detail = f"/staff/submissions/{submission.receipt_number}/"
    response = client.get(detail)
    assert response.status_code == 302
    assert response["Location"] == f"/staff/login/?next={detail}"
    assert not AuditRecord.objects.filter(action="submission_view").exists()


def test_staff_without_a_role_get_403(staff, staff_client):
    response = staff_client(staff.no_role).get("/staff/")
    assert response.status_code == 403


def test_a_password_alone_is_not_enough_for_staff_pages(staff):
    client = browser()
    client.force_login(staff.handler)  # signed in, but no verified device in the session
    response = client.get("/staff/")
    assert response.status_code == 302 and response["Location"].startswith("/staff/login/")


def test_anonymous_visitors_are_sent_to_the_login_page(staff):
    response = browser().get("/staff/")
    assert response.status_code == 302 and response["Location"] == "/staff/login/?next=/staff/"


def test_auditors_and_dx_admins_see_no_queue_but_their_own_links(staff, staff_client):
    html = staff_client(staff.auditor).get("/staff/").content.decode()
    assert "担当する所属（課）の役割がない" in html
    assert 'href="/staff/audit/"' in html and 'href="/admin/"' not in html
    html = staff_client(staff.dx_admin).get("/staff/").content.decode()
    assert 'href="/admin/"' in html and 'href="/staff/audit/"' not in html


# --- sign-out and password ---------------------------------------------------------------------


def test_sign_out_is_a_post_and_ends_the_session(staff, staff_client):
    client = staff_client(staff.handler)
    assert client.get("/staff/logout/").status_code == 405
    response = client.post("/staff/logout/")
    assert response.status_code == 302 and response["Location"] == "/staff/login/?signed_out=1"
    assert not is_signed_in(client)
    assert AuditRecord.objects.filter(action="logout", actor_id=staff.handler.pk).exists()
    assert "ログアウトしました。" in client.get(response["Location"]).content.decode()


def test_password_change_enforces_the_password_rules(staff, staff_client):
    client = staff_client(staff.handler)
    page = client.get("/staff/password/")
    assert page.status_code == 200
    for name in ("old_password", "new_password1", "new_password2"):
        assert f'for="f-{name}"' in page.content.decode()

    short = client.post("/staff/password/", {"old_password": PASSWORD, "new_password1": "Short-1a", "new_password2": "Short-1a"})
    assert short.status_code == 400
    assert "12" in short.content.decode()  # "at least 12 characters"
    digits = client.post("/staff/password/", {"old_password": PASSWORD, "new_password1": "202604011234567", "new_password2": "202604011234567"})
    assert digits.status_code == 400
    wrong_old = client.post("/staff/password/", {"old_password": "nope", "new_password1": "a-long-new-passphrase-2026", "new_password2": "a-long-new-passphrase-2026"})
    assert wrong_old.status_code == 400
    staff.handler.refresh_from_db()
    assert staff.handler.check_password(PASSWORD)

    done = client.post("/staff/password/", {"old_password": PASSWORD, "new_password1": "a-long-new-passphrase-2026", "new_password2": "a-long-new-passphrase-2026"})
    assert done.status_code == 302
    staff.handler.refresh_from_db()
    assert staff.handler.check_password("a-long-new-passphrase-2026")
    assert is_signed_in(client)  # still signed in (and still OTP-verified) after the change
    assert AuditRecord.objects.filter(action="password_change", actor_id=staff.handler.pk).exists()


# --- demo codes ----------------------------------------------------------------------------------


def test_demo_codes_are_shown_only_in_the_demo(staff, settings, totp):
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    demo_user = get_user_model().objects.create_user("kodomo-tanto", password=PASSWORD)
    TOTPDevice.objects.create(user=demo_user, name="demo", confirmed=True)
    settings.DEMO = False
    assert "デモ用アカウントの確認コード" not in browser().get("/staff/login/").content.decode()

    settings.DEMO = True
    html = browser().get("/staff/login/").content.decode()
    assert "デモ用アカウントの確認コード" in html
    shown = re.search(r"<td>kodomo-tanto</td><td class=\"mono\">(\d{6})</td>", html)
    assert shown and shown.group(1) in {totp(demo_user, steps_ahead=n) for n in (0, 1)}
    assert "tanto</td>" not in html.replace("kodomo-tanto</td>", "")  # only the demo accounts


# --- /admin/ -------------------------------------------------------------------------------------


def test_the_admin_needs_the_second_factor_too(staff, staff_client):
    client = browser()
    client.force_login(staff.dx_admin)  # password only
    response = client.get("/admin/")
    assert response.status_code == 302
    login = client.get(response["Location"])
    assert login.status_code == 302 and login["Location"] == "/staff/login/?next=%2Fadmin%2F"

    verified = staff_client(staff.dx_admin)
    assert verified.get("/admin/").status_code == 200


def test_the_admins_own_login_form_is_the_staff_login_with_its_lockout(staff, totp):
    client = browser()
    response = client.get("/admin/login/?next=/admin/backoffice/staffrole/")
    assert response.status_code == 302
    assert response["Location"] == "/staff/login/?next=%2Fadmin%2Fbackoffice%2Fstaffrole%2F"
    response = sign_in(client, "dx", totp(staff.dx_admin), next="/admin/backoffice/staffrole/")
    assert response["Location"] == "/admin/backoffice/staffrole/"
    assert client.get("/admin/backoffice/staffrole/").status_code == 200


def test_staff_who_are_not_admins_get_403_at_the_admin(staff, staff_client):
    client = staff_client(staff.handler)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403


def test_dx_admins_assign_roles_per_section_in_the_admin(staff, staff_client):
    client = staff_client(staff.dx_admin)
    listing = client.get("/admin/backoffice/staffrole/?role=approver")
    html = listing.content.decode()
    assert listing.status_code == 200
    assert "kessai" in html and "hoiku-kessai" in html and "tanto</a>" not in html
    by_section = client.get(f"/admin/backoffice/staffrole/?section__id__exact={staff.other_section.pk}").content.decode()
    assert "hoiku-tanto" in by_section and ">kessai<" not in by_section

    response = client.post("/admin/backoffice/staffrole/add/", {
        "user": staff.no_role.pk, "role": "handler", "section": "",
    })
    assert response.status_code == 200  # a section role needs a section
    assert "この役割には所属が必要です。" in response.content.decode()
    response = client.post("/admin/backoffice/staffrole/add/", {
        "user": staff.no_role.pk, "role": "handler", "section": staff.section.pk,
    })
    assert response.status_code == 302
    # Not effective until a second person approves it (tests/backoffice/test_admin_security.py).
    assert staff_client(staff.no_role).get("/staff/").status_code == 403
    from tenohira.backoffice.models import StaffRole
    from tenohira.backoffice.services import approve_role_grant

    approve_role_grant(staff.section_admin, StaffRole.objects.get(user=staff.no_role))
    assert staff_client(staff.no_role).get("/staff/").status_code == 200
    # TOTP devices are kept in django-otp's admin, on the same (second-factor) site.
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 200


def test_one_address_trying_many_usernames_is_stopped(staff, anonymous_client, settings):
    settings.STAFF_LOGIN_LIMIT_PER_ADDRESS = 3
    answers = [
        anonymous_client.post("/staff/login/", {"username": f"guess{i}", "password": "x" * 12, "code": "123456"})
        for i in range(4)
    ]
    assert [a.status_code for a in answers[:3]] == [400, 400, 400]
    assert answers[3].status_code == 429
    assert "この接続元からのログインの試行が多すぎます" in answers[3].content.decode()


def test_the_admin_also_signs_out_when_idle(staff, staff_client, settings):
    settings.STAFF_IDLE_TIMEOUT_MINUTES = 7
    staff.dx_admin.is_staff = True
    staff.dx_admin.save()
    client = staff_client(staff.dx_admin)
    client.get("/admin/")
    assert client.session.get_expiry_age() == 7 * 60
