"""Fixtures of the resident-side tests: real procedures, published forms, HTTP clients.

Every client sends HTTP_HOST="localhost" (ALLOWED_HOSTS has no "testserver"). A draft is
owned by the browser holding its `tnh_draft` cookie, so a "resident" here is one Client.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client

import tenohira.catalog
import tenohira.forms
from tenohira.catalog.models import Department, Procedure, Section

DEMO_CATALOG = Path(tenohira.catalog.__file__).resolve().parent / "demo" / "sample_city.csv"
DEMO_FORMS = Path(tenohira.forms.__file__).resolve().parent / "demo"

# A small form used by the flow, draft and submission tests: two steps, a condition
# from the first step on the second, an e-mail for the confirmation.
TINY_SCHEMA = {
    "title": "テスト申請",
    "intro": "テストのための申請です。",
    "you_need": ["メールアドレス"],
    "minutes": 3,
    "email_field": "email",
    "steps": [
        {
            "key": "about",
            "title": "申請する方について",
            "fields": [
                {"key": "full_name", "type": "text", "label": "氏名", "required": True, "max_length": 40},
                {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
                {"key": "has_pet", "type": "yesno", "label": "犬を飼っていますか", "required": True},
            ],
        },
        {
            "key": "pet",
            "title": "犬について",
            "show_if": {"field": "has_pet", "equals": True},
            "fields": [
                {"key": "pet_name", "type": "text", "label": "犬の名前", "required": True},
                {"key": "copies", "type": "number", "label": "通数", "min": 1, "max": 10, "required": True},
                {"key": "fee", "type": "computed", "label": "手数料", "format": "yen",
                 "expression": {"mul": [{"field": "copies"}, 300]}},
            ],
        },
        {
            "key": "confirm",
            "title": "同意",
            "fields": [
                {"key": "consent", "type": "consent", "label": "内容に誤りがないことを確認しました", "required": True},
            ],
        },
    ],
}

# Answers that complete TINY_SCHEMA, as a browser posts them, step by step.
TINY_ANSWERS = {
    "about": {"full_name": "山田 花子", "email": "hanako@example.jp", "has_pet": "yes"},
    "pet": {"pet_name": "ポチ", "copies": "2"},
    "confirm": {"consent": "yes"},
}


def make_client() -> Client:
    """A fresh browser: no cookies, talking to the host the settings allow."""
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def browser():
    return make_client()


def make_procedure(code: str, name: str | None = None) -> Procedure:
    department, _ = Department.objects.get_or_create(name="テスト部")
    section, _ = Section.objects.get_or_create(department=department, name="テスト課")
    return Procedure.objects.create(code=code, section=section, name=name or f"テスト手続き{code}")


@pytest.fixture
def publish_form(db):
    """publish_form(schema, code="TST") -> FormVersion, through forms.services.publish."""
    from tenohira.forms.services import publish

    def publish_it(schema: dict, code: str = "TST"):
        procedure = Procedure.objects.filter(code=code).first() or make_procedure(code)
        version, _created = publish(procedure, schema)
        return version

    return publish_it


@pytest.fixture
def tiny_form(publish_form):
    return publish_form(TINY_SCHEMA)


@pytest.fixture
def hkc_form(db):
    """The demo catalog imported and 放課後児童クラブ入所申請 (HKC.json) published."""
    from tenohira.catalog.services import import_catalog
    from tenohira.forms.services import publish

    import_catalog(DEMO_CATALOG)
    procedure = Procedure.objects.get(code="HKC")
    schema = json.loads((DEMO_FORMS / "HKC.json").read_text(encoding="utf-8"))
    version, _created = publish(procedure, schema)
    return version


class Flow:
    """Helpers for walking a form through the test client (a fixture, because test
    modules run with --import-mode=importlib and cannot import this conftest)."""

    TINY_SCHEMA = TINY_SCHEMA
    TINY_ANSWERS = TINY_ANSWERS

    @staticmethod
    def client() -> Client:
        return make_client()

    @staticmethod
    def draft_id_of(response) -> str:
        return draft_id_of(response)

    @staticmethod
    def start(client: Client, code: str = "TST") -> str:
        return start(client, code)

    @staticmethod
    def post_step(client: Client, draft_id: str, step: str, data: dict, **extra):
        return post_step(client, draft_id, step, data, **extra)

    @staticmethod
    def fill_tiny(client: Client, draft_id: str, steps=("about", "pet", "confirm")) -> None:
        fill_tiny(client, draft_id, steps)

    @staticmethod
    def ids_in(html: str) -> set[str]:
        return ids_in(html)

    @staticmethod
    def error_links(html: str) -> list[str]:
        return error_links(html)


@pytest.fixture
def flow():
    return Flow


def draft_id_of(response) -> str:
    """The draft's public id from a redirect to /apply/<id>/<step>/."""
    match = re.search(r"/apply/([0-9a-f-]{36})/", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def start(client: Client, code: str = "TST") -> str:
    """Press 申請を始める; returns the new draft's public id."""
    response = client.post(f"/procedures/{code}/apply/")
    assert response.status_code == 302, response.status_code
    return draft_id_of(response)


def post_step(client: Client, draft_id: str, step: str, data: dict, **extra):
    return client.post(f"/apply/{draft_id}/{step}/", {"action": "continue", **data}, **extra)


def fill_tiny(client: Client, draft_id: str, steps=("about", "pet", "confirm")) -> None:
    for step in steps:
        response = post_step(client, draft_id, step, TINY_ANSWERS[step])
        assert response.status_code == 302, (step, response.content.decode()[:2000])


def ids_in(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def error_links(html: str) -> list[str]:
    """Anchors of the error summary's links, in order."""
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert summary, "no error summary on the page"
    return re.findall(r'href="#([^"]+)"', summary.group(0))
