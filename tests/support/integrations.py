"""Helpers of the delivery tests: a webhook receiver run as its own process, and a small
world of two sections with staff and applications made through the real services."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

RECEIVER = Path(__file__).with_name("receiver.py")

SCHEMA = {
    "title": "連携テスト申請",
    "email_field": "email",
    "steps": [
        {"key": "applicant", "title": "申請する方", "fields": [
            {"key": "applicant", "type": "name", "label": "氏名", "required": True},
            {"key": "birth_date", "type": "date", "label": "生年月日", "required": True},
            {"key": "address", "type": "address", "label": "住所", "required": True},
            {"key": "phone", "type": "phone", "label": "電話番号", "required": True},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
        ]},
        {"key": "request", "title": "申請の内容", "fields": [
            {"key": "reason", "type": "textarea", "label": "申請の理由", "required": True},
            {"key": "document", "type": "file", "label": "添付書類", "accept": ["pdf"]},
        ]},
    ],
}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    def __init__(self, process: subprocess.Popen, port: int):
        self.process, self.port = process, port
        self.url = f"http://127.0.0.1:{port}/hook"

    def state(self) -> dict:
        return requests.get(f"http://127.0.0.1:{self.port}/_state", timeout=5).json()

    def mode(self, mode: str) -> None:
        requests.post(f"http://127.0.0.1:{self.port}/_mode", data=mode, timeout=5)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def running_receiver(key_hex: str, *, port: int = 0, mode: str = "ok"):
    process = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--key", key_hex, "--port", str(port), "--mode", mode],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("PORT "), f"receiver did not start: {line!r}"
        receiver = Receiver(process, int(line.split()[1]))
        yield receiver
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


@dataclass
class World:
    section: object
    other_section: object
    procedure: object
    other_procedure: object
    handler: object
    other_handler: object
    dx_admin: object


def make_world():
    from tenohira.backoffice.models import Role, StaffRole
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms.services import publish

    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    other_section = Section.objects.create(department=department, name="保険年金課")
    procedure = Procedure.objects.create(code="INA", section=section, name="連携テストの届出", processing_days=7)
    other_procedure = Procedure.objects.create(code="INB", section=other_section, name="国保の届出", processing_days=7)
    publish(procedure, SCHEMA)
    publish(other_procedure, SCHEMA)

    def user(name, role, sect):
        account = get_user_model().objects.create_user(name, password="x-Passw0rd-long-enough",
                                                       last_name=name, first_name="職員",
                                                       is_staff=role == Role.DX_ADMIN, is_superuser=role == Role.DX_ADMIN)
        TOTPDevice.objects.create(user=account, name="authenticator", confirmed=True)
        StaffRole.objects.create(user=account, role=role, section=sect)
        return account

    return World(section, other_section, procedure, other_procedure,
                 user("shimin", Role.HANDLER, section), user("hoken", Role.HANDLER, other_section),
                 user("dxkanri", Role.DX_ADMIN, None))


def submit(procedure, *, family="山田", given="花子", street="1-2-3", attachment: bytes | None = None):
    """A submission through start_draft / save_step / submit (the resident's path)."""
    from tenohira.applications import services
    from tenohira.forms.models import FormVersion

    version = FormVersion.objects.get(definition__procedure=procedure, status=FormVersion.Status.PUBLISHED)
    schema = version.parsed()
    draft, _secret = services.start_draft(version)
    _run, problems = services.save_step(draft, schema.step("applicant"), {
        "applicant__family": [family], "applicant__given": [given],
        "applicant__family_kana": ["ヤマダ"], "applicant__given_kana": ["ハナコ"],
        "birth_date": ["1990-04-01"],
        "address__postal_code": ["100-0001"], "address__prefecture": ["東京都"], "address__city": ["千代田区"],
        "address__town": ["千代田"], "address__street": [street], "address__building": [""],
        "phone": ["03-1234-5678"], "email": ["hanako@example.jp"],
    }, {}, [])
    assert not problems, problems
    uploads = {}
    if attachment is not None:
        uploads = {"document": [SimpleUploadedFile("証明書.pdf", attachment, content_type="application/pdf")]}
    _run, problems = services.save_step(draft, schema.step("request"), {"reason": ["転入のため"]}, uploads, [])
    assert not problems, problems
    submission, _secret = services.submit(draft)
    return submission


def staff_client(user) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
