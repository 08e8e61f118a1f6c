"""Shared fixtures of the back-office tests: two sections with their own staff, platform
roles, OTP-verified clients and applications made through the real resident services.

    def test_something(staff, staff_client, make_submission):
        submission = make_submission(family="山田", family_kana="ヤマダ")
        client = staff_client(staff.handler)            # signed in, second factor verified
        client.get(f"/staff/submissions/{submission.receipt_number}/")

`staff` holds everything (sections, procedures, form versions, users); the users are also
fixtures of their own (`handler`, `approver`, ...). Every user has the password
STAFF_PASSWORD and one confirmed TOTP device (`staff.device(user)`, `staff.code(user)`).

Test modules run with --import-mode=importlib and cannot import this file: what they
need is reached through fixtures (`staff`, `staff_client`, `make_submission`, `totp`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.backoffice.models import Role, StaffRole
from tenohira.catalog.models import Department, Procedure, Section

STAFF_PASSWORD = "kuyakusho-Passw0rd-2026"  # noqa: S105 (test accounts only)

# A small form with what the back office must handle: a name with furigana (queue search),
# an e-mail (notifications), text and a number (corrections, version differences), a
# computed fee and a guidance text (never offered for correction) and an optional file.
STAFF_SCHEMA = {
    "title": "職員テスト申請",
    "email_field": "email",
    "steps": [
        {
            "key": "applicant",
            "title": "申請する方",
            "fields": [
                {"key": "applicant", "type": "name", "label": "氏名", "required": True},
                {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
            ],
        },
        {
            "key": "request",
            "title": "申請の内容",
            "fields": [
                {"key": "note_guide", "type": "guidance", "text": "理由は具体的に書いてください。"},
                {"key": "reason", "type": "textarea", "label": "申請の理由", "required": True},
                {"key": "copies", "type": "number", "label": "通数", "min": 1, "max": 10, "required": True},
                {"key": "fee", "type": "computed", "label": "手数料", "format": "yen",
                 "expression": {"mul": [{"field": "copies"}, 300]}},
                {"key": "document", "type": "file", "label": "添付書類", "accept": ["pdf", "jpeg"]},
            ],
        },
    ],
}

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class StaffWorld:
    """Two sections of one department, each with a procedure, a published form and staff."""

    department: Department
    section: Section
    other_section: Section
    procedure: Procedure
    other_procedure: Procedure
    second_procedure: Procedure  # a second procedure of `section` (queue filter by procedure)
    form: object
    other_form: object
    second_form: object
    handler: object
    approver: object
    section_admin: object
    other_handler: object
    other_approver: object
    auditor: object
    dx_admin: object
    no_role: object  # can sign in (password + device) but holds no staff role
    users: dict = field(default_factory=dict)

    @staticmethod
    def device(user) -> TOTPDevice:
        return TOTPDevice.objects.get(user=user, confirmed=True)

    @staticmethod
    def code(user, *, steps_ahead: int = 0) -> str:
        """The device's current 6-digit code (or the one `steps_ahead` 30-second steps on)."""
        device = TOTPDevice.objects.get(user=user, confirmed=True)
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = totp.time + steps_ahead * device.step
        return f"{totp.token():0{device.digits}d}"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's million rounds cost most of a second per account, and every test here
    makes eight accounts; what is tested is who may sign in, not the hash's strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username: str, full_name: str, roles: list[tuple[str, Section | None]], **extra):
    family, given = full_name.split(" ", 1)
    user = get_user_model().objects.create_user(
        username, password=STAFF_PASSWORD, last_name=family, first_name=given, **extra
    )
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    for role, section in roles:
        StaffRole.objects.create(user=user, role=role, section=section)
    return user


@pytest.fixture
def staff(db) -> StaffWorld:
    from tenohira.forms.services import publish

    department = Department.objects.create(name="こども部")
    section = Section.objects.create(department=department, name="こども政策課")
    other_section = Section.objects.create(department=department, name="保育課")
    procedure = Procedure.objects.create(
        code="BOA", section=section, name="児童手当の認定請求", processing_days=14
    )
    second_procedure = Procedure.objects.create(
        code="BOC", section=section, name="子ども医療費受給資格の申請", processing_days=None
    )
    other_procedure = Procedure.objects.create(
        code="BOB", section=other_section, name="保育所の入所申込", processing_days=30
    )
    form, _ = publish(procedure, STAFF_SCHEMA)
    second_form, _ = publish(second_procedure, STAFF_SCHEMA)
    other_form, _ = publish(other_procedure, STAFF_SCHEMA)
    users = {
        "handler": make_user("tanto", "子供 担当", [(Role.HANDLER, section)]),
        "approver": make_user("kessai", "子供 決裁", [(Role.APPROVER, section)]),
        "section_admin": make_user("kanri", "子供 管理", [(Role.SECTION_ADMIN, section)]),
        "other_handler": make_user("hoiku-tanto", "保育 担当", [(Role.HANDLER, other_section)]),
        "other_approver": make_user("hoiku-kessai", "保育 決裁", [(Role.APPROVER, other_section)]),
        "auditor": make_user("kansa", "監査 担当", [(Role.AUDITOR, None)]),
        "dx_admin": make_user("dx", "DX 管理", [(Role.DX_ADMIN, None)], is_staff=True, is_superuser=True),
        "no_role": make_user("yakuwari-nashi", "役割 なし", []),
    }
    return StaffWorld(
        department=department, section=section, other_section=other_section, procedure=procedure,
        other_procedure=other_procedure, second_procedure=second_procedure, form=form,
        other_form=other_form, second_form=second_form, users=users, **users,
    )


@pytest.fixture
def handler(staff):
    return staff.handler


@pytest.fixture
def approver(staff):
    return staff.approver


@pytest.fixture
def section_admin(staff):
    return staff.section_admin


@pytest.fixture
def other_handler(staff):
    return staff.other_handler


@pytest.fixture
def other_approver(staff):
    return staff.other_approver


@pytest.fixture
def no_role(staff):
    return staff.no_role


@pytest.fixture
def auditor(staff):
    return staff.auditor


@pytest.fixture
def dx_admin(staff):
    return staff.dx_admin


@pytest.fixture
def totp():
    """totp(user) -> the user's current 6-digit code."""
    return StaffWorld.code


def signed_in_client(user) -> Client:
    """A browser signed in as `user` whose second factor is verified, as after the real
    login page: the session names the user's confirmed TOTP device (django-otp reads it)."""
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


@pytest.fixture
def staff_client(db):
    """staff_client(user) -> a django test Client, signed in and OTP-verified."""
    return signed_in_client


@pytest.fixture
def anonymous_client():
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def make_submission(staff):
    """make_submission(procedure=None, *, family="山田", given="花子", family_kana="ヤマダ",
    given_kana="ハナコ", email="hanako@example.jp", reason=..., copies=1, attachment=None,
    submitted_days_ago=0) -> Submission, through start_draft / save_step / submit.

    `attachment` is (file name, bytes) of a PDF or JPEG; `submitted_days_ago` moves the
    submission (and its due date) into the past, to test ages and overdue items."""
    from tenohira.applications import services
    from tenohira.applications.models import Submission
    from tenohira.forms.models import FormVersion

    def make(
        procedure: Procedure | None = None, *, family="山田", given="花子", family_kana="ヤマダ",
        given_kana="ハナコ", email="hanako@example.jp", reason="児童手当を受け取るため", copies=1,
        attachment: tuple[str, bytes] | None = None, submitted_days_ago: int = 0,
    ) -> Submission:
        procedure = procedure or staff.procedure
        version = FormVersion.objects.get(definition__procedure=procedure, status=FormVersion.Status.PUBLISHED)
        schema = version.parsed()
        draft, _secret = services.start_draft(version)
        services.save_step(draft, schema.step("applicant"), {
            "applicant__family": [family], "applicant__given": [given],
            "applicant__family_kana": [family_kana], "applicant__given_kana": [given_kana],
            "email": [email],
        }, {}, [])
        uploads = {}
        if attachment is not None:
            name, content = attachment
            kind = "application/pdf" if content.startswith(b"%PDF") else "image/jpeg"
            uploads = {"document": [SimpleUploadedFile(name, content, content_type=kind)]}
        _run, problems = services.save_step(
            draft, schema.step("request"), {"reason": [reason], "copies": [str(copies)]}, uploads, []
        )
        assert not problems, problems
        submission, _secret = services.submit(draft)
        if submitted_days_ago:
            moved = submission.submitted_at - dt.timedelta(days=submitted_days_ago)
            due = (
                submission.due_date - dt.timedelta(days=submitted_days_ago) if submission.due_date else None
            )
            Submission.objects.filter(pk=submission.pk).update(submitted_at=moved, due_date=due)
            submission.refresh_from_db()
        return submission

    return make


@pytest.fixture
def pdf_bytes():
    return PDF
