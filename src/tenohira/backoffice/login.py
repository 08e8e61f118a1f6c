"""Staff sign-in: password AND a one-time code from the authenticator (TOTP), with lockout.

Lockout counts the failed attempts for a username in the audit log itself (the records
"login_failed" are written anyway, are append-only and shared by every web worker): after
STAFF_LOCKOUT_FAILURES failures within STAFF_LOCKOUT_MINUTES, with no successful sign-in
since, the username is refused without even checking the password, until the oldest of
those failures leaves the window. Unknown usernames are counted and locked the same way,
so the page never tells whether an account exists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth import login as auth_login
from django.db import transaction
from django.utils import timezone
from django_otp import login as otp_login
from django_otp import verify_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.audit.models import AuditRecord
from tenohira.audit.services import record as audit

# Counted failures carry one of these reasons; refusals of a locked account do not count
# (they would otherwise keep an account locked for ever once an attacker found it).
LOCKED = "locked"
TARGET_LENGTH = AuditRecord._meta.get_field("target").max_length

FAILED_MESSAGE = "ユーザー名、パスワード、確認コードのいずれかが正しくありません。"


def _target(username: str) -> str:
    return username[:TARGET_LENGTH]


def _window() -> dt.timedelta:
    return dt.timedelta(minutes=settings.STAFF_LOCKOUT_MINUTES)


def recent_failures(username: str) -> list[dt.datetime]:
    """Times of the counted failures for `username` inside the window, since its last
    successful sign-in, oldest first."""
    since = timezone.now() - _window()
    last_login = (
        AuditRecord.objects.filter(action="login", target=_target(username), at__gte=since)
        .order_by("-id").values_list("at", flat=True).first()
    )
    if last_login is not None:
        since = max(since, last_login)
    failures = (
        AuditRecord.objects.filter(action="login_failed", target=_target(username), at__gt=since)
        .exclude(detail__reason=LOCKED)
        .order_by("at").values_list("at", flat=True)
    )
    return list(failures)


def locked_until(username: str) -> dt.datetime | None:
    """When the username may try again, or None when it is not locked."""
    failures = recent_failures(username)
    limit = settings.STAFF_LOCKOUT_FAILURES
    if len(failures) < limit:
        return None
    # The lock lifts when enough of the failures have left the window.
    return failures[len(failures) - limit] + _window()


@dataclass
class Outcome:
    ok: bool
    message: str = ""
    user: object = None


def sign_in(request, username: str, password: str, code: str) -> Outcome:
    """Check password and code; on success the session is signed in and OTP-verified."""
    username = username.strip()
    until = locked_until(username)
    if until is not None:
        audit("login_failed", target=_target(username), detail={"reason": LOCKED}, request=request)
        minutes = max(1, int((until - timezone.now()).total_seconds() + 59) // 60)
        return Outcome(False, (
            f"ログインに{settings.STAFF_LOCKOUT_FAILURES}回続けて失敗したため、このアカウントは一時的にロックされています。"
            f"約{minutes}分後にもう一度お試しください。急ぐ場合は所属管理者またはDX推進課に連絡してください。"
        ))
    user = authenticate(request, username=username, password=password)
    device = None
    reason = "password"
    if user is not None:
        devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
        reason = "code" if devices else "no_device"
        code = code.strip().replace(" ", "")
        for candidate in devices if code.isdigit() else []:
            device = verify_token(user, candidate.persistent_id, code)
            if device is not None:
                break
    if user is None or device is None:
        audit("login_failed", user=user, target=_target(username), detail={"reason": reason}, request=request)
        left = settings.STAFF_LOCKOUT_FAILURES - len(recent_failures(username))
        message = FAILED_MESSAGE
        if 0 < left <= 2:
            message += f"あと{left}回失敗すると、このアカウントは{settings.STAFF_LOCKOUT_MINUTES}分間ロックされます。"
        elif left <= 0:
            message += f"このアカウントは{settings.STAFF_LOCKOUT_MINUTES}分間ロックされました。"
        return Outcome(False, message)
    with transaction.atomic():
        auth_login(request, user)
        otp_login(request, device)
        request.session.set_expiry(settings.STAFF_IDLE_TIMEOUT_MINUTES * 60)
        audit("login", user=user, target=_target(username), detail={"device": device.name}, request=request)
    return Outcome(True, user=user)


def demo_codes() -> list[tuple[str, str]]:
    """(username, current code) of the demo accounts; only ever in the demo (settings.DEMO)."""
    if not settings.DEMO:
        return []
    from django_otp.oath import TOTP

    # `tenohira demo` names its accounts' devices "demo" (in the order it creates them), so
    # the back office needs no list of accounts from the platform that sits above it.
    devices = TOTPDevice.objects.filter(name="demo", confirmed=True).select_related("user").order_by("user_id")
    codes = []
    for device in devices:
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        codes.append((device.user.username, f"{totp.token():0{device.digits}d}"))
    return codes
