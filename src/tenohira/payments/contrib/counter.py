"""Payment at the counter (窓口), recorded by staff: no provider is called.

A clerk takes the fee in cash, by card, by QR code or by e-money at the city's own
terminal and records it (the staff pages call payments' services with one of METHODS and
the facility); the Payment is captured at once. The terminal's own settlement is the
terminal vendor's business, not this provider's: nothing here talks to a network.

METHODS says which ways count as cashless, for the cashless figures (キャッシュレス比率)
by fee item and facility.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tenohira.payments.registry import InvalidWebhook, Provider, ProviderError, register


@dataclass(frozen=True)
class Method:
    label: str       # shown to staff and on receipts
    cashless: bool   # counted as キャッシュレス in the figures

    def __str__(self) -> str:
        return self.label


METHODS: dict[str, Method] = {
    "cash": Method("現金", cashless=False),
    "card": Method("クレジットカード", cashless=True),
    "qr": Method("QRコード決済", cashless=True),
    "emoney": Method("電子マネー", cashless=True),
}
CASHLESS_METHODS = frozenset(code for code, method in METHODS.items() if method.cashless)


def method_choices() -> list[tuple[str, str]]:
    """For a form's select: [(code, label), …] in the order above."""
    return [(code, method.label) for code, method in METHODS.items()]


def is_cashless(method: str) -> bool:
    return method in CASHLESS_METHODS


class CounterProvider(Provider):
    name = "counter"
    label = "窓口での支払い"
    online = False  # never offered on the resident's payment page

    _NOT_ONLINE = "窓口での支払いは職員が記録します。オンラインの手続きはありません。"

    def create_checkout(self, payment, *, return_url: str, cancel_url: str):
        raise ProviderError(self._NOT_ONLINE)

    def retrieve(self, payment):
        raise ProviderError(self._NOT_ONLINE)

    def refund(self, payment, amount: Decimal, *, idempotency_key: str) -> str:
        # Money taken at the counter goes back at the counter (現金還付) or by transfer,
        # recorded by staff: there is nobody to ask.
        raise ProviderError("窓口で受け取った手数料の還付は、窓口または口座振込で行い、職員が記録します。")

    def cancel(self, payment) -> None:
        return None  # nothing is open anywhere

    def parse_webhook(self, body: bytes, headers: dict[str, str]):
        raise InvalidWebhook("the counter sends no webhooks")


register.register(CounterProvider)
