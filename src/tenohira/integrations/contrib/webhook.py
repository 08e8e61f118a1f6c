"""Webhook: an HTTPS POST of the document, signed for the receiving system.

Headers: X-Tenohira-Delivery (the delivery id, the same on every try: deduplicate by it),
X-Tenohira-Timestamp (Unix seconds) and X-Tenohira-Signature: sha256=<hex HMAC-SHA256 over
"<timestamp>.<body>"> with the target's key (integrations.services.signing_key). A
receiver checks the signature and refuses a timestamp far from its clock (a replay).

2xx is delivered; 5xx, 429, a timeout or a refused connection is retried later; any other
answer (4xx, a redirect) means the target refuses this document, and it is dead at once
with the reason, since sending it again unchanged would be refused again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from urllib.parse import urlsplit

import requests
from django.core.serializers.json import DjangoJSONEncoder

from tenohira.integrations.registry import DeliveryKind, Outcome, register

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_sessions = threading.local()


def _session() -> requests.Session:
    """One connection pool per thread: a worker sending hundreds of deliveries a second to
    the same system keeps its connections open instead of a TLS handshake each."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = requests.Session()
        session.trust_env = False  # a proxy from the environment must not see the documents
    return session


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def body_of(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), cls=DjangoJSONEncoder).encode()


@register.register
class Webhook(DeliveryKind):
    name = "webhook"
    label = "Webhook（HTTPS POST）"

    def validate(self, config: dict) -> list[str]:
        url = (config or {}).get("url", "")
        if not isinstance(url, str) or not url:
            return ["url（送り先のアドレス）を https:// で始めて入力してください。"]
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return []
        if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
            return []  # a receiver on this machine (tests, the demo)
        return ["url は https:// で始まるアドレスにしてください（http:// はこのサーバー自身の 127.0.0.1 / localhost だけ使えます）。"]

    def send(self, delivery, document: dict) -> Outcome:
        from tenohira.integrations.services import setting, signing_key

        target = delivery.target
        problems = self.validate(target.config)
        if problems:
            return Outcome(False, reason=problems[0] + " 管理画面で連携先を直してから再送してください。")
        body = body_of(document)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Tenohira-Delivery/1",
            "X-Tenohira-Delivery": str(delivery.delivery_id),
            "X-Tenohira-Timestamp": timestamp,
            "X-Tenohira-Signature": sign(signing_key(target), timestamp, body),
        }
        timeout = setting("INTEGRATIONS_WEBHOOK_TIMEOUT_SECONDS", 10.0)
        try:
            response = _session().post(target.config["url"], data=body, headers=headers,
                                        timeout=(min(timeout, 5.0), timeout), allow_redirects=False)
        except requests.Timeout as exc:
            return Outcome(False, retry=True, reason=f"連携先が{timeout:g}秒以内に応答しませんでした。自動で再送します。",
                           detail=type(exc).__name__)
        except requests.ConnectionError as exc:
            return Outcome(False, retry=True, reason="連携先に接続できませんでした（停止中か、ネットワークの問題）。自動で再送します。",
                           detail=type(exc).__name__)
        except requests.RequestException as exc:
            return Outcome(False, retry=True, reason="連携先への送信に失敗しました。自動で再送します。",
                           detail=type(exc).__name__)
        code = response.status_code
        snippet = response.text[:200].replace("\n", " ") if response.content else ""
        response.close()
        if 200 <= code < 300:
            return Outcome(True, status_code=code)
        if code >= 500 or code in (408, 429):
            return Outcome(False, retry=True, status_code=code,
                           reason=f"連携先が一時的なエラー（{code}）を返しました。自動で再送します。",
                           detail=f"HTTP {code} {snippet}")
        return Outcome(False, status_code=code,
                       reason=f"連携先がこの送信を受け付けませんでした（{code}）。連携先の担当者に理由を確かめ、直してから再送してください。",
                       detail=f"HTTP {code} {snippet}")
