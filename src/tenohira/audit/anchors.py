"""Anchors: the signed chain head, written outside the database.

The key stops a person with database access from recomputing the chain, but not from
cutting its newest records and putting back an older, genuinely signed head. Anchors close
that gap: every so many records (and at least every AUDIT_ANCHOR_INTERVAL_MINUTES when
there is activity) the head — count, newest record's id and hash, time, and an HMAC over
them — is appended to AUDIT_ANCHOR_FILE (0600) and, when AUDIT_ANCHOR_SYSLOG names a
target, sent to syslog. Neither is writable with the database's credentials; the operator
makes the file append-only (chattr +a) or ships it elsewhere. `tenohira audit verify`
checks each anchor against the record at its position.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import logging.handlers
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from tenohira.audit import keys

logger = logging.getLogger(__name__)


def every() -> int:
    return max(1, int(keys.setting("AUDIT_ANCHOR_EVERY", "100")))


def interval() -> dt.timedelta:
    return dt.timedelta(minutes=max(1, int(keys.setting("AUDIT_ANCHOR_INTERVAL_MINUTES", "60"))))


def path() -> Path:
    return Path(keys.setting("AUDIT_ANCHOR_FILE") or Path(settings.DATA_DIR) / "audit-anchors.jsonl")


@dataclass(frozen=True)
class Anchor:
    count: int
    record_id: int
    hash: str
    at: str
    key_id: str
    mac: str
    line: int = 0

    def signed_part(self) -> tuple[str, ...]:
        return ("anchor", str(self.count), str(self.record_id), self.hash, self.at, self.key_id)

    def to_json(self) -> str:
        return json.dumps(
            {"count": self.count, "record_id": self.record_id, "hash": self.hash, "at": self.at,
             "key_id": self.key_id, "mac": self.mac},
            separators=(",", ":"),
        )


def make(count: int, record_id: int, hash_: str, at: dt.datetime | None = None) -> Anchor:
    kid, key = keys.current()
    at_text = (at or timezone.now()).astimezone(dt.UTC).isoformat(timespec="seconds")
    unsigned = Anchor(count, record_id, hash_, at_text, kid, "")
    return Anchor(count, record_id, hash_, at_text, kid, keys.sign(key, *unsigned.signed_part()))


def write(anchor: Anchor) -> None:
    """Append one line (one write, under an exclusive lock: several processes append)."""
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (anchor.to_json() + "\n").encode())
    finally:
        os.close(fd)
    address = keys.setting("AUDIT_ANCHOR_SYSLOG")
    if address:
        _to_syslog(address, anchor)


def _to_syslog(address: str, anchor: Anchor) -> None:
    if address.startswith("/"):
        target = address
    else:
        host, _, port = address.rpartition(":")
        target = (host or address, int(port) if host and port.isdigit() else 514)
    handler = logging.handlers.SysLogHandler(address=target, facility=logging.handlers.SysLogHandler.LOG_AUTH)
    try:
        handler.emit(logging.LogRecord("tenohira.audit", logging.INFO, "", 0, "tenohira-audit-anchor %s",
                                       (anchor.to_json(),), None))
    finally:
        handler.close()


def write_quietly(anchor: Anchor) -> None:
    """After the commit: a failed anchor must not turn a saved change into an error page.
    The next anchor covers the same records; the failure is logged (no record content)."""
    try:
        write(anchor)
    except (OSError, ValueError) as exc:
        logger.error("audit anchor not written (count %s): %s", anchor.count, exc.__class__.__name__)


class AnchorFileError(ValueError):
    pass


def read(source: Path | None = None) -> list[Anchor]:
    """Every anchor in the file (none when it does not exist yet). A line that is not an
    anchor raises AnchorFileError naming it: a damaged file is a finding, not noise."""
    source = source or path()
    if not source.exists():
        return []
    found = []
    with open(source, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            # Lines copied from a syslog carry a prefix before the JSON object.
            start = line.find("{")
            try:
                data = json.loads(line[start:]) if start >= 0 else None
                found.append(Anchor(
                    int(data["count"]), int(data["record_id"]), str(data["hash"]), str(data["at"]),
                    str(data["key_id"]), str(data["mac"]), number,
                ))
            except (TypeError, ValueError, KeyError) as exc:
                raise AnchorFileError(f"{source} の {number} 行目はアンカーとして読めません。") from exc
    return found
