"""The counter provider: payments recorded by staff; it calls nobody."""

from decimal import Decimal

import pytest

from tenohira.payments.contrib import counter
from tenohira.payments.contrib.counter import CASHLESS_METHODS, METHODS, CounterProvider
from tenohira.payments.models import Payment
from tenohira.payments.registry import InvalidWebhook, ProviderError, register


def payment() -> Payment:
    return Payment(provider="counter", method="cash", amount=600, idempotency_key="counter-1")


def test_registered_but_never_offered_online():
    provider = register.get("counter")
    assert isinstance(provider, CounterProvider)
    assert provider.label == "窓口での支払い"
    assert provider.online is False
    assert provider not in register.online()


def test_methods_have_japanese_labels_and_say_whether_cashless():
    assert {code: (method.label, method.cashless) for code, method in METHODS.items()} == {
        "cash": ("現金", False),
        "card": ("クレジットカード", True),
        "qr": ("QRコード決済", True),
        "emoney": ("電子マネー", True),
    }
    assert set(CASHLESS_METHODS) == {"card", "qr", "emoney"}
    assert counter.is_cashless("qr") and not counter.is_cashless("cash") and not counter.is_cashless("cheque")
    assert counter.method_choices()[0] == ("cash", "現金")
    assert str(METHODS["emoney"]) == "電子マネー"


def test_method_codes_fit_the_payments_method_field():
    limit = Payment._meta.get_field("method").max_length
    assert all(len(code) <= limit for code in METHODS)


@pytest.mark.parametrize("call", [
    lambda p: p.create_checkout(payment(), return_url="https://x.example/r", cancel_url=""),
    lambda p: p.retrieve(payment()),
    lambda p: p.refund(payment(), Decimal(600), idempotency_key="r-1"),
])
def test_no_provider_calls(call, monkeypatch):
    # Nothing here may touch a network: any attempt would fail loudly.
    import requests

    def no_network(*args, **kwargs):
        raise AssertionError("the counter provider made an HTTP call")

    monkeypatch.setattr(requests.Session, "request", no_network)
    with pytest.raises(ProviderError) as caught:
        call(CounterProvider())
    assert not caught.value.retry
    assert "窓口" in str(caught.value)


def test_cancel_is_nothing_and_no_webhooks():
    provider = CounterProvider()
    assert provider.cancel(payment()) is None
    with pytest.raises(InvalidWebhook):
        provider.parse_webhook(b"{}", {})
