"""The demo city (サンプル市): which catalog, forms and staff accounts `tenohira demo` loads.

Kept apart from the command so that tests and the demo's sign-in page can name the same
files and accounts without importing a management command.
"""

from pathlib import Path

_SRC = Path(__file__).resolve().parents[1]

# The catalog and the forms are data of their own apps; the demo only chooses them.
DEMO_CATALOG = _SRC / "catalog" / "demo" / "sample_city.csv"
DEMO_FIRST_STEPS = _SRC / "catalog" / "demo" / "first_steps.csv"
DEMO_FORMS = _SRC / "forms" / "demo"

# Demo-only accounts; the password is printed on purpose and works only on the demo's
# own database (settings keep the demo in a separate data directory). The one-time codes
# of their authenticator devices are shown on the demo's login page (DEMO only).
DEMO_PASSWORD = "tenohira-demo-2026"  # noqa: S105 (printed on purpose; demo database only)
DEMO_ACCOUNTS = [
    # username, full name, [(role, section or None)], what to try
    ("dx-admin", "DX 管理者", [("dx_admin", None)], "管理画面（/admin/）で手続カタログ・フォーム・職員の役割"),
    ("kodomo-tanto", "こども 担当", [("handler", "こども政策課")], "放課後児童クラブの申請の審査・差戻し・窓口受付"),
    ("kodomo-kessai", "こども 決裁者", [("approver", "こども政策課")], "放課後児童クラブの申請の承認・却下"),
    ("shimin-tanto", "市民 担当", [("handler", "市民課"), ("approver", "市民課"), ("handler", "３Ｒ推進課"),
                                  ("approver", "３Ｒ推進課"), ("handler", "生活衛生課"), ("approver", "生活衛生課"),
                                  ("handler", "広聴広報課"), ("approver", "広聴広報課")],
     "住民票・粗大ごみ・犬の登録・公文書開示の申請"),
    ("shimin-kanri", "市民 所属管理者", [("section_admin", "市民課"), ("section_admin", "３Ｒ推進課"),
                                        ("section_admin", "広聴広報課")],
     "フォーム作成（/staff/forms/）・アンケートの集計・手数料の減免と還付の承認"),
    ("kodomo-shien", "こども家庭支援 担当", [("handler", "こども家庭支援課"), ("approver", "こども家庭支援課"),
                                            ("handler", "中央公民館")],
     "予約の管理（/staff/reservations/）: 乳幼児健診・パパママ教室・公民館の部屋の来所・休止・代理予約"),
    ("kaikei", "会計 管理者", [("accountant", None)], "入金明細の取込み（消込）・収納データ・日計表（/staff/accounting/）"),
    ("kansa", "監査 担当", [("auditor", None)], "監査ログ（/staff/audit/）"),
]


# -- the stand-in for デジタル認証アプリ (tenohira.standins.identity_provider) ------------------
#
# The demo runs it as its own process beside the web server, registered as the My Number
# card provider, so that card sign-in and signing can be tried end to end with fictional
# residents. Nothing here is used outside the demo.

DEMO_IDP_CLIENT_ID = "tenohira-demo"
DEMO_IDP_PIN = "1234"
DEMO_IDP_SIGNING_PASSWORD = "ABC123"  # noqa: S105 (the stand-in's printed demo value)


class IdentityProviderStandIn:
    """Start, describe and stop the stand-in for one demo run."""

    START_TIMEOUT = 30

    def __init__(self, data_dir, host: str, port: int, idp_port: int):
        # A browser cannot reach a wildcard address: the stand-in then answers on loopback.
        self.host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104 (compared, not bound)
        self.site = f"http://{host}:{port}"
        self.port = idp_port
        self.data_dir = Path(data_dir)
        self.state_dir = self.data_dir / "identity-provider"
        self.key_file = self.data_dir / "mynumber-card-client.key.pem"
        self.process = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def settings(self) -> dict:
        """What the web process needs to use the stand-in as the My Number card provider."""
        return {
            "MYNUMBER_CARD_ISSUER": self.url,
            "MYNUMBER_CARD_CLIENT_ID": DEMO_IDP_CLIENT_ID,
            "MYNUMBER_CARD_PRIVATE_KEY_FILE": str(self.key_file),
            "MYNUMBER_CARD_TRUSTED_CA_FILE": str(self.state_dir / "root.pem"),
            "MYNUMBER_CARD_STANDIN": True,
        }

    def _client_key_jwks(self) -> dict:
        """The demo client's public key; the private key is made once and kept (0600)."""
        import os

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from joserfc.jwk import RSAKey

        if not self.key_file.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        public = RSAKey.import_key(self.key_file.read_bytes(), {"use": "sig", "alg": "RS256"})
        public.ensure_kid()
        return {"keys": [public.as_dict(private=False)]}

    def start(self) -> None:
        import json
        import subprocess
        import sys
        import time

        self.state_dir.mkdir(parents=True, exist_ok=True)
        clients = self.state_dir / "clients.json"
        # Written on every start: the redirect URIs follow the port the demo serves on.
        clients.write_text(json.dumps([{
            "client_id": DEMO_IDP_CLIENT_ID,
            "redirect_uris": [f"{self.site}/identity/callback/mynumber_card/", f"{self.site}/identity/sign/callback/"],
            "jwks": self._client_key_jwks(),
            "token_endpoint_auth_method": "private_key_jwt",
        }]), encoding="utf-8")
        command = [sys.executable, "-m", "tenohira.standins.identity_provider", "--host", self.host,
                   "--port", str(self.port), "--state-dir", str(self.state_dir), "--clients", str(clients)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603 (our own interpreter and module)
        deadline = time.monotonic() + self.START_TIMEOUT
        line = b""
        while time.monotonic() < deadline and self.process.poll() is None:
            line = self.process.stdout.readline()
            if line.startswith(b"ready "):
                return
        self.stop()
        raise RuntimeError(
            f"デジタル認証アプリの代替サービスを {self.url} で起動できませんでした。"
            "ポートが使われている場合は --idp-port で別のポートを指定してください。"
        )

    def stop(self) -> None:
        import subprocess

        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
