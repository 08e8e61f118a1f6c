"""The demo payment service (Stripe-speaking stand-in) as a real process for tests.

    service = start_payment_service(tmp_path_factory, webhook_url=receiver_url)
    settings.PAYMENTS_STRIPE_API_BASE = service.url   # or: for name, value in service.settings().items()
    service.control(decline_next=True)
    ...
    service.stop()

or the `payment_service` fixture below (one process per test module; the controls are
reset before each test). The process is `python -m tenohira.standins.payment_service
--port 0`: the system picks a free port, so parallel test workers never collide.
"""

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

START_TIMEOUT = 30
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"


@dataclass
class PaymentService:
    url: str
    secret_key: str
    webhook_secret: str
    process: subprocess.Popen
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)

    def settings(self) -> dict:
        """What Tenohira needs to use this process as its card provider."""
        return {"PAYMENTS_STRIPE_API_BASE": self.url, "PAYMENTS_STRIPE_SECRET_KEY": self.secret_key,
                "PAYMENTS_STRIPE_WEBHOOK_SECRET": self.webhook_secret}

    def control(self, **controls) -> dict:
        """decline_next, webhook_delay_seconds, webhook_twice, no_redirect, webhook_amount,
        webhook_url, reset (see docs/payments-standin.md)."""
        response = self.session.post(f"{self.url}/_control", json=controls, timeout=10)
        response.raise_for_status()
        return response.json()["controls"]

    def deliveries(self) -> list[dict]:
        """Every webhook attempt so far: {"event", "type", "attempt", "status"}."""
        response = self.session.get(f"{self.url}/_control", timeout=10)
        response.raise_for_status()
        return response.json()["deliveries"]

    def pay(self, session_url: str, card: str = CARD_OK) -> requests.Response:
        """Pay on the hosted page as a browser without JavaScript would (no redirect followed)."""
        return self.session.post(session_url, data={"card_number": card}, allow_redirects=False, timeout=10)

    def settlement(self, day) -> bytes:
        response = self.session.get(f"{self.url}/v1/_settlements/{day}.csv", timeout=10,
                                    headers={"Authorization": f"Bearer {self.secret_key}"})
        response.raise_for_status()
        return response.content

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.session.close()


def start_payment_service(where, *, webhook_url: str = "", host: str = "127.0.0.1") -> PaymentService:
    """Start the stand-in in its own process and wait until /healthz answers. `where` is
    a directory or pytest's tmp_path_factory; the process's log goes there."""
    if hasattr(where, "mktemp"):
        where = where.mktemp("payment-service")
    base = Path(where)
    base.mkdir(parents=True, exist_ok=True)
    secret_key = "sk_test_" + secrets.token_hex(12)
    webhook_secret = "whsec_" + secrets.token_hex(16)
    command = [sys.executable, "-m", "tenohira.standins.payment_service", "--host", host, "--port", "0",
               "--secret-key", secret_key, "--webhook-secret", webhook_secret, "--webhook-url", webhook_url]
    log_path = base / "payment-service.log"
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=environment)  # noqa: S603
    line = process.stdout.readline().decode("ascii", "replace").strip()
    if not line.startswith("ready "):
        process.kill()
        raise RuntimeError(f"payment service did not start: {line!r}\n{log_path.read_text(errors='replace')}")
    service = PaymentService(url=line.split(" ", 1)[1], secret_key=secret_key, webhook_secret=webhook_secret,
                             process=process, log_path=log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{service.url}/healthz", timeout=2).status_code == 200:
                return service
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    service.stop()
    raise RuntimeError(f"payment service at {service.url} never became healthy\n{service.log()}")


@pytest.fixture(scope="module")
def payment_service_process(tmp_path_factory):
    service = start_payment_service(tmp_path_factory)
    yield service
    service.stop()


@pytest.fixture
def payment_service(payment_service_process, settings):
    """The stand-in, reset, and Tenohira's card provider pointed at it for this test."""
    payment_service_process.control(reset=True, webhook_url="")
    for name, value in payment_service_process.settings().items():
        setattr(settings, name, value)
    return payment_service_process
