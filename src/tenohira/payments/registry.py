"""Payment providers behind one interface, one module per provider under contrib/.

A provider takes a Payment (one attempt to collect an Assessment's amount) to the
resident's way of paying and reports what happened, in the same few words whatever the
provider: the state machine, idempotency, webhook replay protection and the records are
the same for every provider (payments.services).

    register = Registry(); @register.register class MyProvider(Provider): name = "my" …

Every call that changes something at the provider carries `idempotency_key` (the
Payment's or the Refund's own key), so a retried call never charges or refunds twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


class ProviderError(Exception):
    """The provider could not be reached or refused the call; `retry` says whether the
    same call (same idempotency key) may be tried again."""

    def __init__(self, message: str, *, retry: bool = False):
        super().__init__(message)
        self.retry = retry


class InvalidWebhook(Exception):
    """A webhook that is not the provider's: bad signature, stale timestamp, malformed."""


@dataclass
class Checkout:
    """Where to send the resident, and the provider's reference for the attempt."""

    provider_ref: str
    redirect_url: str = ""           # hosted payment page (card, PayPay); empty for konbini
    payment_number: str = ""         # konbini / Pay-easy: 払込番号 (お客様番号 etc.)
    payment_extra: dict = field(default_factory=dict)  # e.g. 収納機関番号, 確認番号
    expires_at: dt.datetime | None = None


@dataclass
class Snapshot:
    """What the provider says about one attempt now (polling, the return from a hosted
    page, or a verified webhook)."""

    provider_ref: str
    state: str                       # one of Payment.State values below
    amount: Decimal | None = None
    currency: str = "JPY"
    method: str = ""                 # card, paypay, konbini, payeasy …
    paid_at: dt.datetime | None = None
    failure_reason: str = ""         # plain Japanese for the resident, when failed


@dataclass
class WebhookEvent:
    event_id: str                    # the provider's id: a second delivery is a replay
    type: str
    snapshot: Snapshot | None
    received_at: dt.datetime | None = None
    # With no snapshot: the attempt the event is about, to be asked about now (a provider
    # whose notification is only a hint, not a signed state).
    provider_ref: str = ""


@dataclass
class SettlementLine:
    """One line of a provider's settlement file (入金明細)."""

    line_number: int
    transaction_id: str              # the provider's reference of the payment
    amount: Decimal
    fee: Decimal
    settled_on: dt.date
    raw: dict = field(default_factory=dict)


class Provider:
    name: str = ""
    label: str = ""                  # shown to residents (クレジットカード, PayPay …)
    online: bool = True              # False: recorded by staff at the counter

    def create_checkout(self, payment, *, return_url: str, cancel_url: str) -> Checkout:  # pragma: no cover
        raise NotImplementedError

    def retrieve(self, payment) -> Snapshot:  # pragma: no cover
        raise NotImplementedError

    def refund(self, payment, amount: Decimal, *, idempotency_key: str) -> str:  # pragma: no cover
        """Refund `amount` of a captured payment; returns the provider's refund reference."""
        raise NotImplementedError

    def cancel(self, payment) -> None:  # pragma: no cover
        """Stop an attempt still open at the provider (expiry, a new attempt)."""
        raise NotImplementedError

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> WebhookEvent:  # pragma: no cover
        """Verify (signature, timestamp) and read a webhook; InvalidWebhook otherwise."""
        raise NotImplementedError

    def parse_settlement(self, data: bytes) -> list[SettlementLine]:  # pragma: no cover
        raise NotImplementedError


class Registry:
    def __init__(self):
        self._providers: dict[str, Provider] = {}

    def register(self, provider_class):
        provider = provider_class()
        self._providers[provider.name] = provider
        return provider_class

    def get(self, name: str) -> Provider | None:
        return self._providers.get(name)

    def names(self) -> list[str]:
        return sorted(self._providers)

    def online(self) -> list[Provider]:
        return [p for _, p in sorted(self._providers.items()) if p.online]


register = Registry()
