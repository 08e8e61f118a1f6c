"""Start, describe and stop the demo payment service for one `tenohira demo` run."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"


class PaymentServiceStandIn:
    START_TIMEOUT = 30

    def __init__(self, data_dir, host: str, port: int, service_port: int):
        # A browser cannot reach a wildcard address: the stand-in then answers on loopback.
        self.host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104 (compared, not bound)
        self.site = f"http://{self.host}:{port}"
        self.port = service_port
        self.state_dir = Path(data_dir) / "payment-service"
        self.process = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _secret(self, name: str, prefix: str) -> str:
        """Made once per data directory and kept (0600), so sessions survive a restart."""
        import os

        path = self.state_dir / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(prefix + secrets.token_hex(16))
        return path.read_text().strip()

    def settings(self) -> dict:
        """What the web process needs to use the stand-in as its card provider."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return {
            "PAYMENTS_STRIPE_API_BASE": self.url,
            "PAYMENTS_STRIPE_SECRET_KEY": self._secret("secret-key", "sk_test_"),
            "PAYMENTS_STRIPE_WEBHOOK_SECRET": self._secret("webhook-secret", "whsec_"),
        }

    def start(self) -> None:
        values = self.settings()
        command = [sys.executable, "-m", "tenohira.standins.payment_service", "--host", self.host,
                   "--port", str(self.port), "--secret-key", values["PAYMENTS_STRIPE_SECRET_KEY"],
                   "--webhook-secret", values["PAYMENTS_STRIPE_WEBHOOK_SECRET"],
                   "--webhook-url", f"{self.site}/api/v1/payments/webhooks/stripe_card",
                   "--state-file", str(self.state_dir / "state.json")]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603 (our own interpreter and module)
        deadline = time.monotonic() + self.START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.process.stdout.readline().startswith(b"ready "):
                return
        self.stop()
        raise RuntimeError(
            f"デモ用の決済サービスを {self.url} で起動できませんでした。"
            "ポートが使われている場合は --payment-port で別のポートを指定してください。"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
