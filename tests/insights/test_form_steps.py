"""Step statistics: counts equal those computed independently from generated drafts (the
cohort of drafts started in the period), the page is scoped (DX管理者 all forms,
所属管理者 their sections', anyone else refused), CSV, and no personal data."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.applications import services, steps
from tenohira.applications.models import StepReached
from tenohira.backoffice.models import Role, StaffRole
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.forms.services import publish
from tenohira.insights.form_steps import form_steps

pytestmark = pytest.mark.django_db

SCHEMA = {
    "title": "テスト申請",
    "steps": [
        {"key": f"s{i}", "title": f"ページ{i}", "fields": [{"key": f"q{i}", "type": "text", "label": f"質問{i}"}]}
        for i in range(1, 4)
    ],
}


@pytest.fixture
def world():
    department = Department.objects.create(name="テスト部")
    mine = Section.objects.create(department=department, name="担当課")
    other = Section.objects.create(department=department, name="別の課")
    forms = {}
    for code, section in (("STA", mine), ("STB", other)):
        version, _ = publish(Procedure.objects.create(code=code, section=section, name=f"手続き{code}"), SCHEMA)
        forms[code] = version
    return {"mine": mine, "other": other, "forms": forms}


def signed_in(username, roles):
    user = get_user_model().objects.create_user(username, password="x-Passw0rd-2026")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    for role, section in roles:
        StaffRole.objects.create(user=user, role=role, section=section)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


def generate(version, count: int, rng: random.Random, today: dt.date):
    """Drafts that go a random way into the form, some started before the period;
    returns the expected counts per stage for drafts started within the last 30 days."""
    order = ["start", "s1", "s2", "s3", "check", "submitted"]
    expected = dict.fromkeys(order, 0)
    for _ in range(count):
        draft, _secret = services.start_draft(version)
        days_ago = rng.randint(0, 59)
        StepReached.objects.filter(token=steps.token_of(draft.public_id)).update(
            day=today - dt.timedelta(days=days_ago))
        depth = rng.randint(0, len(order) - 1)
        for key in order[1:depth + 1]:
            steps.reached(draft, key)
            steps.reached(draft, key)  # shown again: still once
        if days_ago < 30:
            for key in order[:depth + 1]:
                expected[key] += 1
    return order, expected


def test_counts_equal_an_independent_count(world):
    today = timezone.localdate()
    order, expected = generate(world["forms"]["STA"], 150, random.Random(5), today)
    stages = form_steps(world["forms"]["STA"].definition, today - dt.timedelta(days=29), today)
    assert [s.key for s in stages] == order
    assert {s.key: s.reached for s in stages} == expected
    for before, after in zip(stages, stages[1:]):
        assert after.dropped == before.reached - after.reached
    assert stages[0].label == "開始" and stages[1].label == "ページ1" and stages[-1].label == "送信"


def test_rows_hold_no_personal_data(world):
    draft, _ = services.start_draft(world["forms"]["STA"])
    steps.reached(draft, "s1")
    columns = {f.attname for f in StepReached._meta.concrete_fields}
    assert columns == {"id", "definition_id", "form_version_id", "step_key", "token", "day"}
    assert str(draft.public_id).replace("-", "") not in "".join(StepReached.objects.values_list("token", flat=True))


def test_scoping_and_csv(world):
    today = timezone.localdate()
    generate(world["forms"]["STA"], 20, random.Random(1), today)
    generate(world["forms"]["STB"], 20, random.Random(2), today)
    dx = signed_in("dx", [(Role.DX_ADMIN, None)])
    admin = signed_in("kanri", [(Role.SECTION_ADMIN, world["mine"])])
    handler = signed_in("tanto", [(Role.HANDLER, world["mine"])])

    index = dx.get("/staff/insights/form-steps/").content.decode()
    assert "STA" in index and "STB" in index
    index = admin.get("/staff/insights/form-steps/").content.decode()
    assert "STA" in index and "STB" not in index
    assert admin.get("/staff/insights/form-steps/STB/").status_code == 404
    assert handler.get("/staff/insights/form-steps/").status_code == 403
    assert handler.get("/staff/insights/form-steps/STA/").status_code == 403

    page = admin.get("/staff/insights/form-steps/STA/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'role="img"' in html and "steps-table" in html

    response = dx.get("/staff/insights/form-steps/STB/", {"format": "csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    stages = form_steps(world["forms"]["STB"].definition, today - dt.timedelta(days=29), today)
    assert [int(r[5]) for r in rows[1:]] == [s.reached for s in stages]

    bad = admin.get("/staff/insights/form-steps/STA/", {"from": "2024-13-01"})
    assert bad.status_code == 400 and "2024-13-01" in bad.content.decode()
