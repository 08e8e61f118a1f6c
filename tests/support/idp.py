"""The demo identity provider (stand-in for デジタル認証アプリ) as a real process for tests.

    idp = start_identity_provider(tmp_path_factory)   # or a directory
    key_pem, client_id = idp.make_client([live_server.url + "/identity/callback/mynumber_card/"])
    ...
    idp.stop()

The process is `python -m tenohira.standins.identity_provider --port 0`: the system picks a
free port, so parallel test workers never collide. Clients can be registered before
start (`clients=`) or at any time (`add_client`, `make_client`), because a client's
redirect URIs name the live server's port, known only once that server runs.
"""

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

DEMO_PIN = "1234"
DEMO_SIGNING_PASSWORD = "ABC123"  # noqa: S105 (the stand-in's printed demo value)
START_TIMEOUT = 30


def make_client_key() -> tuple[str, dict]:
    """A fresh RSA key for a `private_key_jwt` client: (private key PEM, public JWKS)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode("ascii")
    public = RSAKey.import_key(pem, {"use": "sig", "alg": "RS256"})
    public.ensure_kid()
    return pem, {"keys": [public.as_dict(private=False)]}


@dataclass
class IdP:
    url: str
    state_dir: Path
    process: subprocess.Popen
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def root_pem(self) -> Path:
        """The trust anchor for signatures (MYNUMBER_CARD_TRUSTED_CA_FILE)."""
        return self.state_dir / "root.pem"

    def _post(self, path: str, payload) -> dict | list:
        response = self.session.post(f"{self.url}{path}", json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def add_client(self, client: dict | list[dict]) -> None:
        """Register (or replace) clients as the --clients file describes them."""
        self._post("/__standin__/clients", client)

    def make_client(self, redirect_uris: list[str], auth: str = "private_key_jwt",
                    client_id: str | None = None) -> tuple[str, str]:
        """Register a new client; returns (credential, client_id): the private key PEM for
        private_key_jwt, the client secret for client_secret_basic."""
        client_id = client_id or f"tenohira-test-{secrets.token_hex(4)}"
        if auth == "private_key_jwt":
            credential, jwks = make_client_key()
            self.add_client({"client_id": client_id, "redirect_uris": redirect_uris, "jwks": jwks,
                             "token_endpoint_auth_method": auth})
        elif auth == "client_secret_basic":
            credential = secrets.token_urlsafe(24)
            self.add_client({"client_id": client_id, "redirect_uris": redirect_uris, "client_secret": credential,
                             "token_endpoint_auth_method": auth})
        else:
            raise ValueError(auth)
        return credential, client_id

    def fault(self, mode: str | None) -> None:
        """expired_id_token, bad_signature, wrong_issuer, wrong_audience, replay_id_token
        (the next token response), unavailable (every endpoint until fault(None))."""
        self._post("/__standin__/fault", {"mode": mode})

    def revoke(self, resident: str) -> None:
        """Revoke that resident's signing certificate (it appears in the CRL)."""
        self._post("/__standin__/revoke", {"resident": resident})

    def residents(self) -> list[dict]:
        response = self.session.get(f"{self.url}/__standin__/residents", timeout=10)
        response.raise_for_status()
        return response.json()

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


def start_identity_provider(where, clients: list[dict] | None = None, host: str = "127.0.0.1") -> IdP:
    """Start the stand-in in its own process and wait until /healthz answers.

    `where` is a directory or pytest's tmp_path_factory; the state (keys, CA, CRL) and the
    process's log go there."""
    if hasattr(where, "mktemp"):
        where = where.mktemp("idp")
    base = Path(where)
    state_dir = base / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tenohira.standins.identity_provider", "--host", host, "--port", "0",
               "--state-dir", str(state_dir)]
    if clients:
        clients_file = base / "clients.json"
        clients_file.write_text(json.dumps(clients), encoding="utf-8")
        command += ["--clients", str(clients_file)]
    log_path = base / "idp.log"
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=environment)  # noqa: S603
    deadline = time.monotonic() + START_TIMEOUT
    line = process.stdout.readline().decode("ascii", "replace").strip()
    if not line.startswith("ready "):
        process.kill()
        raise RuntimeError(f"identity provider did not start: {line!r}\n{log_path.read_text(errors='replace')}")
    idp = IdP(url=line.split(" ", 1)[1], state_dir=state_dir, process=process, log_path=log_path)
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{idp.url}/healthz", timeout=2).status_code == 200:
                return idp
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    idp.stop()
    raise RuntimeError(f"identity provider at {idp.url} never became healthy\n{idp.log()}")
