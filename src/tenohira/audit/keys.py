"""The audit key: held outside the database, so a person who can only write rows cannot
make a rewritten chain verify.

Where it comes from, first match wins:

- `AUDIT_KEY` (environment or settings): the key itself, at least 32 characters;
- `AUDIT_KEY_FILE`: a file holding it (readable only by the application's user);
- otherwise `audit_key` in the data directory, created 0600 on first use (the demo and the
  tests; `check --deploy` warns about it, since it sits next to the data it protects).

Older keys stay usable for verification in `AUDIT_KEYS` (comma-separated). Every record
carries the id of the key that signed it: a fingerprint of the key, so rotating is only
"move the old key into AUDIT_KEYS, set the new one".
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MIN_KEY_LENGTH = 32


def setting(name: str, default: str = "") -> str:
    """A setting if the settings module defines it (tests override it), else the environment."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return value


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"tenohira audit key id\n" + key).hexdigest()[:16]


def default_key_path() -> Path:
    return Path(settings.DATA_DIR) / "audit_key"


def _from_file(path: Path, *, create: bool) -> bytes:
    if create and not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    try:
        return path.read_bytes().strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"The audit key file {path} cannot be read: {exc.strerror}") from exc


@lru_cache(maxsize=8)
def _load(key_value: str, key_file: str, older: str, data_dir: str) -> tuple[tuple[str, bytes], dict[str, bytes]]:
    if key_value:
        key = key_value.encode()
    elif key_file:
        key = _from_file(Path(key_file), create=False)
    else:
        key = _from_file(default_key_path(), create=True)
    if len(key) < MIN_KEY_LENGTH:
        raise ImproperlyConfigured(f"The audit key must be at least {MIN_KEY_LENGTH} characters long.")
    keys = {key_id(key): key}
    for item in older.split(","):
        item = item.strip()
        if item:
            keys.setdefault(key_id(item.encode()), item.encode())
    return (key_id(key), key), keys


def _config():
    return _load(setting("AUDIT_KEY"), setting("AUDIT_KEY_FILE"), setting("AUDIT_KEYS"), str(settings.DATA_DIR))


def current() -> tuple[str, bytes]:
    """(key id, key) that signs new records."""
    return _config()[0]


def known() -> dict[str, bytes]:
    """Every key that may have signed a record: the current one and AUDIT_KEYS."""
    return _config()[1]


def sign(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\n".join(parts).encode(), hashlib.sha256).hexdigest()


def uses_default_key() -> bool:
    return not setting("AUDIT_KEY") and not setting("AUDIT_KEY_FILE")
