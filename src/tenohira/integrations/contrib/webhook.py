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
import http.client
import json
import select
import socket
import ssl
import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder

from tenohira.integrations.registry import DeliveryKind, Outcome, register

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# What is read of an answer: the status and a snippet for the operator. A target answering
# more is not read further, and its connection is not kept.
ANSWER_LIMIT = 64 * 1024
CONNECTIONS_KEPT = 16  # per thread: the targets a worker sends to most recently

_local = threading.local()
_tls_context: ssl.SSLContext | None = None


class _Answer:
    def __init__(self, status: int, body: bytes):
        self.status, self.body = status, body


def _context() -> ssl.SSLContext:
    """Certificates checked against the authorities a requests call trusts (the certifi
    bundle it ships), so the choice of client changes nothing for a target; host names
    checked."""
    global _tls_context
    if _tls_context is None:
        from requests.certs import where

        _tls_context = ssl.create_default_context(cafile=where())
    return _tls_context


def _connections() -> OrderedDict:
    pool = getattr(_local, "connections", None)
    if pool is None:
        pool = _local.connections = OrderedDict()
    return pool


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """A kept connection the target has closed (or sent something unasked on) since."""
    sock = connection.sock
    if sock is None:
        return True
    poller = select.poll()  # not select(): a busy worker may hold descriptors past 1024
    poller.register(sock, select.POLLIN)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True


def post(url: str, body: bytes, headers: dict, *, timeout: float) -> _Answer:
    """POST over a connection kept open per thread and target, so a worker sending hundreds
    of deliveries a second to one system pays neither a TCP nor a TLS handshake for each.
    The standard library's client: the requests package spent three times the CPU of the
    call itself merging settings, hooks and cookies a signed POST does not use. No proxy
    from the environment (the documents must not pass through one), no redirect followed.
    Raises TimeoutError, OSError or http.client.HTTPException."""
    parts = urlsplit(url)
    key = (parts.scheme, parts.hostname, parts.port)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    pool = _connections()
    kept = pool.pop(key, None)
    if kept is not None and _dropped(kept):
        kept.close()
        kept = None
    if kept is not None:
        try:
            return _exchange(pool, key, kept, path, body, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The target closed the kept connection just as it was used: once more on a
            # new one. (Had it read the request after all, the receiver drops the repeat
            # by its delivery id.)
            pass
    connect = min(timeout, 5.0)
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=connect, context=_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=connect)
    try:
        connection.connect()
        connection.sock.settimeout(timeout)
        # The headers and the body go out in two writes: without this, Nagle's algorithm
        # holds the body until the target acknowledges the headers.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        connection.close()
        raise
    return _exchange(pool, key, connection, path, body, headers)


def _exchange(pool: OrderedDict, key, connection: http.client.HTTPConnection, path: str, body: bytes,
              headers: dict) -> _Answer:
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        answer = _Answer(response.status, response.read(ANSWER_LIMIT + 1))
        keep = not response.will_close and len(answer.body) <= ANSWER_LIMIT
    except BaseException:
        connection.close()
        raise
    if keep:
        pool[key] = connection
        while len(pool) > CONNECTIONS_KEPT:
            pool.popitem(last=False)[1].close()
    else:
        connection.close()
    return answer


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
            answer = post(target.config["url"], body, headers, timeout=timeout)
        except TimeoutError as exc:
            return Outcome(False, retry=True, reason=f"連携先が{timeout:g}秒以内に応答しませんでした。自動で再送します。",
                           detail=type(exc).__name__)
        except OSError as exc:  # refused, reset, no such host, a certificate refused
            return Outcome(False, retry=True, reason="連携先に接続できませんでした（停止中か、ネットワークの問題）。自動で再送します。",
                           detail=type(exc).__name__)
        except http.client.HTTPException as exc:  # an answer that is not HTTP
            return Outcome(False, retry=True, reason="連携先への送信に失敗しました。自動で再送します。",
                           detail=type(exc).__name__)
        code = answer.status
        snippet = answer.body[:600].decode("utf-8", "replace")[:200].replace("\n", " ")
        if 200 <= code < 300:
            return Outcome(True, status_code=code)
        if code >= 500 or code in (408, 429):
            return Outcome(False, retry=True, status_code=code,
                           reason=f"連携先が一時的なエラー（{code}）を返しました。自動で再送します。",
                           detail=f"HTTP {code} {snippet}")
        return Outcome(False, status_code=code,
                       reason=f"連携先がこの送信を受け付けませんでした（{code}）。連携先の担当者に理由を確かめ、直してから再送してください。",
                       detail=f"HTTP {code} {snippet}")
