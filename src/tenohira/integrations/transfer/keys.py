"""The keys of the three-segment transfer, one pair per role and direction.

Inward (インターネット側 → LGWAN側), submissions: the intake signs with its Ed25519 key and
encrypts to the inside's X25519 key. Outward (LGWAN側 → インターネット側), statuses: the
inside signs with an Ed25519 key of its own. Each side makes its private keys on its own
machine (`tenohira transfer keys --side intake|inside`); only the .pub files are carried
to the other side. A leaked intake key cannot sign statuses, and the inside's signing key
cannot read what the intake sends.

Keys are raw 32-byte values, base64 in one-line text files; private ones 0600.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from django.conf import settings

_RAW = {"encoding": serialization.Encoding.Raw, "format": serialization.PublicFormat.Raw}

# File names `keys` writes; the settings below point at them (or at other names).
FILES = {
    "intake": {
        "intake-signing.key": "TRANSFER_SIGNING_KEY_FILE",
        "intake-signing.pub": "TRANSFER_INTAKE_PUBLIC_KEY_FILE",  # carried to the inside
    },
    "inside": {
        "inside-encryption.key": "TRANSFER_INSIDE_PRIVATE_KEY_FILE",
        "inside-encryption.pub": "TRANSFER_INSIDE_PUBLIC_KEY_FILE",  # carried to the intake
        "inside-status-signing.key": "TRANSFER_STATUS_SIGNING_KEY_FILE",
        "inside-status-signing.pub": "TRANSFER_STATUS_PUBLIC_KEY_FILE",  # carried to the intake
    },
}


class KeyProblem(Exception):
    """A key that is not configured or cannot be read; the message says what to do."""


def setting(name: str) -> str:
    """A transfer setting from the Django settings, else from the environment."""
    return str(getattr(settings, name, "") or os.environ.get(name, "") or "")


def key_id(public_raw: bytes) -> str:
    """A short name for a public key, written into manifests (which key signed, for which)."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _write(path: Path, raw: bytes, private: bool) -> None:
    if path.exists():
        raise KeyProblem(f"{path.name} はすでにあります。上書きしません。別のフォルダを指定してください。")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(raw).decode() + "\n")


def generate(out: Path, side: str) -> list[Path]:
    """Make `side`'s key pairs ('intake', 'inside' or 'both') in `out`; the written paths."""
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    pairs = []
    if side in ("intake", "both"):
        pairs.append(("intake-signing", Ed25519PrivateKey.generate()))
    if side in ("inside", "both"):
        pairs.append(("inside-encryption", X25519PrivateKey.generate()))
        pairs.append(("inside-status-signing", Ed25519PrivateKey.generate()))
    for stem, private in pairs:
        private_raw = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        _write(out / f"{stem}.key", private_raw, private=True)
        _write(out / f"{stem}.pub", private.public_key().public_bytes(**_RAW), private=False)
        written += [out / f"{stem}.key", out / f"{stem}.pub"]
    return written


def _read(name: str) -> bytes:
    path = setting(name)
    if not path:
        raise KeyProblem(f"{name} が設定されていません。tenohira transfer keys で作った鍵ファイルの場所を設定してください。")
    try:
        text = Path(path).read_text().strip()
        raw = base64.b64decode(text, validate=True)
    except (OSError, ValueError):
        raise KeyProblem(f"{name} の鍵ファイルを読めません。ファイルの場所と中身を確かめてください。") from None
    if len(raw) != 32:
        raise KeyProblem(f"{name} の鍵ファイルの中身が鍵ではありません（32 バイトの鍵が必要です）。")
    return raw


def signing_key(name: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_read(name))


def verify_key(name: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_read(name))


def decryption_key(name: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_read(name))


def encryption_key(name: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(_read(name))


def public_raw(key) -> bytes:
    """The raw public key of a public or private key."""
    if hasattr(key, "public_key"):
        key = key.public_key()
    return key.public_bytes(**_RAW)
