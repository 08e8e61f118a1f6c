"""Fixtures of the payments tests: a fake provider at the registry's boundary, a procedure
with a fee (the tiny form: 2 copies × ¥300 = ¥600) and submissions made by the real
submit service.

The fake provider keeps its attempts in memory and signs its webhooks with HMAC-SHA256
(header X-Fake-Signature: "t=<unix time>,v1=<hex>"), the way real providers do, so the
webhook view's verification, replay and bounds are exercised through the real view.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from django.test import Client

from tenohira.catalog.models import Department, Procedure, Section
from tenohira.payments.models import FeeItem, FeeSetting
from tenohira.payments.registry import (
    Checkout,
    InvalidWebhook,
    Provider,
    ProviderError,
    Snapshot,
    WebhookEvent,
    register,
)

SECRET = b"whsec_test_only"

TINY_SCHEMA = {
    "title": "テスト申請",
    "email_field": "email",
    "steps": [
        {"key": "about", "title": "申請する方について", "fields": [
            {"key": "full_name", "type": "name", "label": "氏名", "required": True},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
            {"key": "wants_copy", "type": "yesno", "label": "写しが必要ですか", "required": True},
        ]},
        {"key": "copy", "title": "写し", "show_if": {"field": "wants_copy", "equals": True}, "fields": [
            {"key": "copies", "type": "number", "label": "通数", "min": 1, "max": 10, "required": True},
            {"key": "fee", "type": "computed", "label": "手数料", "format": "yen",
             "expression": {"mul": [{"field": "copies"}, 300]}},
        ]},
    ],
}

NAME = {"full_name__family": ["山田"], "full_name__given": ["花子"], "full_name__family_kana": ["ヤマダ"],
        "full_name__given_kana": ["ハナコ"]}

RAW = {
    "about": {**NAME, "email": ["hanako@example.jp"], "wants_copy": ["yes"]},
    "copy": {"copies": ["2"]},
}


class FakeProvider(Provider):
    name = "fakepay"
    label = "テスト払い"
    online = True

    def __init__(self):
        self.attempts: dict[str, dict] = {}
        self.cancelled: list[str] = []
        self.calls: list[str] = []

    def create_checkout(self, payment, *, return_url, cancel_url):
        self.calls.append("create")
        ref = f"fp_{payment.idempotency_key[:16]}"
        self.attempts[ref] = {"state": "awaiting", "amount": Decimal(payment.amount), "currency": "JPY",
                              "return_url": return_url}
        return Checkout(provider_ref=ref, redirect_url=f"https://pay.example.test/checkout/{ref}")

    def retrieve(self, payment):
        self.calls.append("retrieve")
        attempt = self.attempts.get(payment.provider_ref)
        if attempt is None:
            raise ProviderError("unknown attempt")
        return Snapshot(provider_ref=payment.provider_ref, state=attempt["state"], amount=attempt["amount"],
                        currency=attempt["currency"], method="card",
                        failure_reason=attempt.get("failure_reason", ""))

    def refund(self, payment, amount, *, idempotency_key):  # pragma: no cover - not used here
        return "re_1"

    def cancel(self, payment):
        self.calls.append("cancel")
        self.cancelled.append(payment.provider_ref)
        attempt = self.attempts.get(payment.provider_ref)
        if attempt is not None and attempt["state"] in {"created", "awaiting"}:
            attempt["state"] = "cancelled"

    def parse_webhook(self, body, headers):
        signature = headers.get("X-Fake-Signature", "")
        parts = dict(part.split("=", 1) for part in signature.split(",") if "=" in part)
        try:
            stamp = int(parts.get("t", ""))
        except ValueError:
            raise InvalidWebhook("no timestamp") from None
        if abs(time.time() - stamp) > 300:
            raise InvalidWebhook("stale timestamp")
        expected = hmac.new(SECRET, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise InvalidWebhook("bad signature")
        data = json.loads(body)
        snapshot = Snapshot(provider_ref=data["ref"], state=data["state"], amount=Decimal(str(data["amount"])),
                            currency=data.get("currency", "JPY"), method="card")
        return WebhookEvent(event_id=data["id"], type=data.get("type", "payment"), snapshot=snapshot)

    # Helpers of the tests: what the resident did at the provider.
    def pay(self, ref, *, amount=None):
        self.attempts[ref]["state"] = "captured"
        if amount is not None:
            self.attempts[ref]["amount"] = Decimal(amount)

    def decline(self, ref):
        self.attempts[ref].update(state="failed", failure_reason="カードが使えませんでした。")




@pytest.fixture
def fake_provider():
    register.register(FakeProvider)
    provider = register.get("fakepay")
    yield provider
    register._providers.pop("fakepay", None)


@pytest.fixture
def fee_item(db):
    return FeeItem.objects.create(code="1401", name="住民票等交付手数料", account="使用料及び手数料")


@pytest.fixture
def fee_form(db):
    """publish the tiny form for procedure FEE; returns the FormVersion."""
    from tenohira.forms.services import publish

    department, _ = Department.objects.get_or_create(name="テスト部")
    section, _ = Section.objects.get_or_create(department=department, name="市民課", defaults={"phone": "024-000-0000"})
    procedure = Procedure.objects.create(code="FEE", section=section, name="住民票の写しの交付申請")
    version, _created = publish(procedure, TINY_SCHEMA)
    return version


@pytest.fixture
def fee_setting(fee_form, fee_item, fake_provider):
    def make(timing="at_submission", **extra):
        return FeeSetting.objects.create(procedure=fee_form.definition.procedure, timing=timing, fee_item=fee_item,
                                         providers=["fakepay"], **extra)
    return make


@pytest.fixture
def submit(fee_form):
    """submit(raw=RAW) -> Submission, through applications.services.submit."""
    from tenohira.applications import services

    def submit_it(raw=None):
        draft, _secret = services.start_draft(fee_form)
        draft.raw = raw if raw is not None else RAW
        draft.save(update_fields=["raw"])
        submission, _secret = services.submit(draft)
        return submission

    return submit_it


@pytest.fixture
def client():
    return Client(HTTP_HOST="localhost")
