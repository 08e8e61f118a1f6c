"""Writing to and checking the audit chain."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tenohira.audit.models import AuditHead, AuditRecord
from tenohira.core.clients import client_address

GENESIS = "0" * 64


def _digest(prev_hash: str, record: AuditRecord) -> str:
    content = json.dumps(
        {
            "at": record.at.isoformat(), "actor_id": record.actor_id, "actor": record.actor,
            "action": record.action, "target": record.target, "detail": record.detail, "ip": record.ip,
        },
        ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def client_ip(request) -> str:
    # X-Forwarded-For only from the configured proxies (TRUSTED_PROXIES), validated.
    return client_address(request)[:45]


def record(action: str, *, user=None, target: str = "", detail: dict | None = None, request=None) -> AuditRecord:
    """Append one record in the caller's transaction (so a rolled-back change leaves no
    record of having happened, and a committed one always has its record)."""
    with transaction.atomic():
        head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
        entry = AuditRecord(
            at=timezone.now(),
            actor_id=getattr(user, "pk", None),
            actor=getattr(user, "username", "") or "",
            action=action, target=target, detail=detail or {},
            ip=client_ip(request) if request is not None else "",
            prev_hash=head.last_hash,
        )
        # Round-trip the detail through JSON so the stored value hashes the same later.
        entry.detail = json.loads(json.dumps(entry.detail, ensure_ascii=False, default=str))
        entry.hash = _digest(head.last_hash, entry)
        entry.save()
        head.count += 1
        head.last_hash = entry.hash
        head.save(update_fields=["count", "last_hash"])
        return entry


@dataclass
class Verification:
    ok: bool
    checked: int
    problem: str = ""


def verify() -> Verification:
    """Recompute the chain; the first record whose content or link does not match is named."""
    previous = GENESIS
    checked = 0
    for entry in AuditRecord.objects.order_by("id").iterator(chunk_size=2000):
        if entry.prev_hash != previous:
            return Verification(False, checked, f"記録 {entry.pk} の前の記録が一致しません（記録の削除または挿入）。")
        if _digest(previous, entry) != entry.hash:
            return Verification(False, checked, f"記録 {entry.pk}（{entry.at:%Y-%m-%d %H:%M:%S} {entry.action}）の内容が変更されています。")
        previous = entry.hash
        checked += 1
    head = AuditHead.objects.filter(pk=1).first()
    expected_count, expected_hash = (head.count, head.last_hash) if head else (0, GENESIS)
    if checked != expected_count or previous != expected_hash:
        return Verification(False, checked, f"記録の数が合いません（台帳 {expected_count} 件、実際 {checked} 件）。末尾の記録が削除されています。")
    return Verification(True, checked)
