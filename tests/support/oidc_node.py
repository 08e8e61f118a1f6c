"""Start and stop the second OpenID provider (tests/support/oidc_node: node's oidc-provider).

    with running_node_provider(["http://localhost/identity/callback/kenmin/"]) as provider:
        provider.issuer, provider.client_id, provider.client_secret, provider.username, …

The provider picks its own free port (it listens on port 0 and reports the port it got),
so parallel test workers never race for a port. Its packages are installed by
`scripts/bootstrap --test`; when they are missing the test fails and says so (a missing
piece of the test set-up must fail, not skip).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

NODE_DIR = Path(__file__).resolve().parent / "oidc_node"
START_TIMEOUT = 20.0


class NodeProviderError(RuntimeError):
    pass


@dataclass
class NodeProvider:
    issuer: str
    client_id: str
    client_secret: str
    username: str
    password: str
    name: str
    email: str
    process: subprocess.Popen = field(repr=False)
    log_path: Path = field(repr=False)

    def log(self) -> str:
        """What the provider wrote on stderr (for a failing test's message)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()


def _check_installed() -> str:
    node = shutil.which("node")
    if node is None:
        raise NodeProviderError("Node.js is not installed: run scripts/bootstrap --test")
    if not (NODE_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        raise NodeProviderError(f"{NODE_DIR / 'node_modules'} is missing: run scripts/bootstrap --test")
    return node


def start_node_provider(redirect_uris: list[str], client_id: str = "tenohira-test",
                        client_secret: str | None = None) -> NodeProvider:
    """Start the provider with one client for these redirect URIs; returns once its
    discovery document answers."""
    node = _check_installed()
    client_secret = client_secret or secrets.token_urlsafe(24)
    # `--name=value`: a random secret may begin with "-", which Node's parseArgs would take
    # for another option (the provider then never started, about one run in 64).
    command = [node, "server.js", f"--client-id={client_id}", f"--client-secret={client_secret}"]
    for uri in redirect_uris:
        command += ["--redirect-uri", uri]
    with tempfile.NamedTemporaryFile(prefix="oidc-node-", suffix=".log", delete=False) as log_file:
        log_path = Path(log_file.name)
        process = subprocess.Popen(command, cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=log_file,
                                   stdin=subprocess.DEVNULL)

    # The first stdout line says where it listens; read it on a thread so a provider that
    # never prints cannot hang the test past the timeout.
    first_line: list[bytes] = []
    reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)

    def fail(why: str):
        process.kill()
        process.wait(timeout=5)
        log = log_path.read_text(encoding="utf-8", errors="replace")
        raise NodeProviderError(f"the node OpenID provider did not start ({why}); its log:\n{log}")

    if not first_line or not first_line[0]:
        fail("no start line")
    try:
        started = json.loads(first_line[0])
    except ValueError:
        fail(f"unexpected start line {first_line[0][:200]!r}")
    provider = NodeProvider(
        issuer=started["issuer"], client_id=started["client_id"], client_secret=client_secret,
        username=started["username"], password=started["password"], name=started["name"],
        email=started["email"], process=process, log_path=log_path,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=2).ok:
                return provider
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            fail("discovery did not answer")
        time.sleep(0.05)


@contextlib.contextmanager
def running_node_provider(redirect_uris: list[str], **kwargs):
    provider = start_node_provider(redirect_uris, **kwargs)
    try:
        yield provider
    finally:
        provider.stop()
        provider.log_path.unlink(missing_ok=True)
