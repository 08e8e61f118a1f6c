"""Response headers: no-store on every page with personal data (walked through a real
application and every staff page), the Content Security Policy, Permissions-Policy, HSTS
from the environment, and `check --deploy` clean with the documented production settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.catalog.models import Department, Procedure, Section

SCHEMA = {
    "title": "ヘッダー確認申請",
    "email_field": "email",
    "steps": [{"key": "about", "title": "申請者", "fields": [
        {"key": "full_name", "type": "text", "label": "氏名", "required": True},
        {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
    ]}],
}


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


@pytest.fixture
def procedure(db):
    from tenohira.forms.services import publish

    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    procedure = Procedure.objects.create(code="HDR", section=section, name="ヘッダー確認")
    publish(procedure, SCHEMA)
    return procedure


def test_every_resident_page_with_personal_data_is_no_store(procedure, django_capture_on_commit_callbacks):
    from django.core import mail

    resident = Client(HTTP_HOST="localhost")
    started = resident.post("/procedures/HDR/apply/")
    draft = re.search(r"/apply/([0-9a-f-]{36})/", started["Location"]).group(1)
    pages = [
        resident.get(f"/apply/{draft}/about/"),
        resident.post(f"/apply/{draft}/about/", {"action": "continue", "full_name": "山田 花子",
                                                 "email": "hanako@example.jp"}),
        resident.get(f"/apply/{draft}/check/"),
        resident.get(f"/apply/{draft}/save/"),
        resident.get(f"/apply/{draft}/handoff/"),
        Client(HTTP_HOST="localhost").get(f"/apply/{draft}/check/"),  # not the owner's page
    ]
    with django_capture_on_commit_callbacks(execute=True):
        submitted = resident.post(f"/apply/{draft}/check/", {"consent": "yes"})
    pages += [submitted, resident.get(f"/apply/{draft}/done/"), resident.get(f"/apply/{draft}/receipt.pdf")]
    body = mail.outbox[-1].body
    number = re.search(r"\d{4}-HDR-\d{6}", body).group(0)
    secret = re.search(r"確認コード: (\S+)", body).group(1)
    pages += [
        resident.get("/status/"),
        resident.post("/status/", {"receipt_number": number, "secret": secret}),
        resident.post("/status/", {"receipt_number": number, "secret": "AAAA-BBBB-CCCC"}),
        resident.post("/status/withdraw/", {"receipt_number": number, "secret": secret}),
        resident.get("/resume/not-a-token/"),
        resident.get("/corrections/not-a-token/"),
    ]
    assert [p.status_code for p in pages if not no_store(p)] == []
    assert all(p.status_code < 500 for p in pages)


def _staff_paths(patterns, prefix="") -> list[str]:
    """Every staff URL without parameters, from the URL configuration itself."""
    paths = []
    for entry in patterns:
        route = str(entry.pattern)
        if "<" in route or route.startswith("^"):
            continue
        if isinstance(entry, URLResolver):
            paths += _staff_paths(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            paths.append("/" + prefix + route)
    return paths


def test_every_staff_page_is_no_store(procedure):
    user = get_user_model().objects.create_superuser("dx", password="x" * 16)
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    staff = Client(HTTP_HOST="localhost")
    staff.force_login(user)
    session = staff.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    paths = [p for p in _staff_paths(get_resolver().url_patterns) if p.startswith(("/staff/", "/admin/"))]
    assert len(paths) > 10
    walked = {path: staff.get(path) for path in paths}
    walked["/staff/login/ (signed out)"] = Client(HTTP_HOST="localhost").get("/staff/login/")
    assert [path for path, response in walked.items() if not no_store(response)] == []


def test_csp_and_permissions_policy_on_every_page(db, procedure):
    client = Client(HTTP_HOST="localhost")
    for path in ("/", "/procedures/HDR/", "/status/", "/staff/login/", "/no-such-page/"):
        response = client.get(path)
        csp = response["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["img-src"] == "'self' data:"
        assert directives["form-action"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"
        assert directives["base-uri"] == "'none'"
        assert "unsafe-inline" not in csp
        policy = response["Permissions-Policy"]
        for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
            assert feature in policy
    # The public catalog may be cached (it holds nothing personal).
    assert not no_store(client.get("/procedures/HDR/"))


def test_no_template_has_inline_script_style_or_event_handlers():
    """The policy would block them: scripts and styles live in static files."""
    from pathlib import Path

    import tenohira

    root = Path(tenohira.__file__).parent
    offenders = []
    for template in root.rglob("templates/**/*.html"):
        if template.name == "report_document.html":  # a downloaded file, opened on its own
            continue
        text = template.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"<style\b", text) \
                or re.search(r"\sstyle=", text) or re.search(r"<[^>]*\son[a-z]+\s*=\s*[\"']", text) or "javascript:" in text:
            offenders.append(str(template.relative_to(root)))
    assert offenders == []


PRODUCTION = {
    "HTTPS": "1",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "tetsuzuki.example.lg.jp",
    "CSRF_TRUSTED_ORIGINS": "https://tetsuzuki.example.lg.jp",
    "SITE_URL": "https://tetsuzuki.example.lg.jp",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "AUDIT_KEY": "an-audit-key-kept-outside-the-database-0123456789",
}


def run_tenohira(args, env, cwd=None):
    return subprocess.run([sys.executable, "-m", "tenohira", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENOHIRA_", "SECURE_"))}
    env.pop("DATABASE_URL", None)
    # The browser tests' conftest sets this for the whole test process (Playwright's event
    # loop); a production server never has it, and Django's deploy check rightly refuses it.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(PRODUCTION, TENOHIRA_DATA_DIR=str(tmp_path))
    result = run_tenohira(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_hsts_subdomains_and_preload_come_from_the_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENOHIRA_", "SECURE_"))}
    env.update(PRODUCTION, TENOHIRA_DATA_DIR=str(tmp_path), SECURE_HSTS_SECONDS="600",
               SECURE_HSTS_INCLUDE_SUBDOMAINS="1", SECURE_HSTS_PRELOAD="1")
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**env, "DJANGO_SETTINGS_MODULE": "tenohira.config.settings"})
    assert result.stdout.split() == ["600", "True", "True"], result.stderr
