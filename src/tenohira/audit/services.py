"""Writing to and checking the audit chain (see models for what the chain guarantees)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tenohira.audit import anchors, keys
from tenohira.audit.models import AuditHead, AuditRecord
from tenohira.core.clients import client_address

GENESIS = "0" * 64


def _content(record: AuditRecord) -> str:
    return json.dumps(
        {
            "at": record.at.isoformat(), "actor_id": record.actor_id, "actor": record.actor,
            "action": record.action, "target": record.target, "detail": record.detail, "ip": record.ip,
        },
        ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str,
    )


def _digest(prev_hash: str, record: AuditRecord) -> str:
    """The link of a record written before keys existed (key_id empty): plain SHA-256."""
    return hashlib.sha256(f"{prev_hash}\n{_content(record)}".encode()).hexdigest()


def _link(key: bytes, prev_hash: str, record: AuditRecord) -> str:
    return keys.sign(key, "record", record.key_id, prev_hash, _content(record))


def _head_mac(key: bytes, kid: str, count: int, last_hash: str) -> str:
    return keys.sign(key, "head", kid, str(count), last_hash)


def client_ip(request) -> str:
    # X-Forwarded-For only from the configured proxies (TRUSTED_PROXIES), validated.
    return client_address(request)[:45]


def record(action: str, *, user=None, target: str = "", detail: dict | None = None, request=None) -> AuditRecord:
    """Append one record in the caller's transaction (so a rolled-back change leaves no
    record of having happened, and a committed one always has its record)."""
    kid, key = keys.current()
    with transaction.atomic():
        head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
        entry = AuditRecord(
            at=timezone.now(),
            actor_id=getattr(user, "pk", None),
            actor=getattr(user, "username", "") or "",
            action=action, target=target, detail=detail or {},
            ip=client_ip(request) if request is not None else "",
            prev_hash=head.last_hash,
            key_id=kid,
        )
        # Round-trip the detail through JSON so the stored value hashes the same later.
        entry.detail = json.loads(json.dumps(entry.detail, ensure_ascii=False, default=str))
        entry.hash = _link(key, head.last_hash, entry)
        entry.save()
        head.count += 1
        head.last_hash = entry.hash
        head.key_id = kid
        head.mac = _head_mac(key, kid, head.count, head.last_hash)
        fields = ["count", "last_hash", "key_id", "mac"]
        if (
            head.anchored_at is None
            or head.count - head.anchored_count >= anchors.every()
            or entry.at - head.anchored_at >= anchors.interval()
        ):
            head.anchored_count, head.anchored_at = head.count, entry.at
            fields += ["anchored_count", "anchored_at"]
            # Only a committed head may be anchored: an anchor naming a rolled-back record
            # would make the intact chain fail verification.
            anchor = anchors.make(head.count, entry.pk, entry.hash, entry.at)
            transaction.on_commit(lambda: anchors.write_quietly(anchor))
        head.save(update_fields=fields)
        return entry


def anchor_now() -> anchors.Anchor | None:
    """Anchor the current head at once (`tenohira audit anchor`, e.g. from cron)."""
    with transaction.atomic():
        head = AuditHead.objects.select_for_update().filter(pk=1).first()
        newest = AuditRecord.objects.order_by("-id").first()
        if head is None or newest is None or head.count == 0:
            return None
        anchor = anchors.make(head.count, newest.pk, head.last_hash)
        anchors.write(anchor)
        head.anchored_count, head.anchored_at = head.count, timezone.now()
        head.save(update_fields=["anchored_count", "anchored_at"])
        return anchor


@dataclass
class Verification:
    ok: bool
    checked: int
    problem: str = ""
    #: The first record found wrong (None when the problem is not one record's).
    record_id: int | None = None
    #: Which check failed: link, content, key, legacy, anchor, anchor_signature,
    #: anchor_file, truncated, head, head_signature.
    check: str = ""
    anchors: int = 0


def verify(extra_anchor_files=()) -> Verification:
    """Check every record's link (HMAC, or SHA-256 for the legacy prefix), the chain, the
    signed head and every anchor; name the first record that fails and the check."""
    known = keys.known()
    try:
        found = anchors.read()
        for extra in extra_anchor_files:
            found += anchors.read(extra)
    except anchors.AnchorFileError as exc:
        return Verification(False, 0, str(exc), check="anchor_file")
    by_count: dict[int, list[anchors.Anchor]] = {}
    for anchor in found:
        key = known.get(anchor.key_id)
        if key is None or keys.sign(key, *anchor.signed_part()) != anchor.mac:
            return Verification(
                False, 0, f"アンカー（{anchor.line} 行目、{anchor.count} 件目）の署名が一致しません。", check="anchor_signature",
            )
        by_count.setdefault(anchor.count, []).append(anchor)

    def failed(entry, check, problem):
        return Verification(False, checked, f"記録 {entry.pk}（{entry.at:%Y-%m-%d %H:%M:%S} {entry.action}）{problem}",
                            record_id=entry.pk, check=check, anchors=len(found))

    previous = GENESIS
    checked = 0
    keyed = False
    for entry in AuditRecord.objects.order_by("id").iterator(chunk_size=2000):
        if entry.prev_hash != previous:
            return failed(entry, "link", "は前の記録とつながっていません（記録の削除または挿入）。")
        if entry.key_id:
            key = known.get(entry.key_id)
            if key is None:
                return failed(entry, "key", f"に署名した鍵（{entry.key_id}）が設定にありません（AUDIT_KEYS）。")
            expected = _link(key, previous, entry)
            keyed = True
        elif keyed:
            return failed(entry, "legacy", "は鍵のない記録なのに、鍵付きの記録の後にあります（鍵を使わずに作り直されています）。")
        else:
            expected = _digest(previous, entry)
        if expected != entry.hash:
            return failed(entry, "content", "の内容が変更されています（署名が一致しません）。")
        checked += 1
        for anchor in by_count.get(checked, ()):
            if anchor.record_id != entry.pk or anchor.hash != entry.hash:
                return failed(entry, "anchor", f"が外部のアンカー（{anchor.at}、{anchor.count} 件目）と一致しません。")
        previous = entry.hash
    beyond = [anchor for anchor in found if anchor.count > checked]
    if beyond:
        last = max(beyond, key=lambda anchor: anchor.count)
        return Verification(
            False, checked,
            f"記録が {checked} 件しかありませんが、外部のアンカー（{last.at}）は {last.count} 件目（記録 {last.record_id}）までを記録しています。末尾の記録が削除されています。",
            record_id=last.record_id, check="truncated", anchors=len(found),
        )
    head = AuditHead.objects.filter(pk=1).first()
    expected_count, expected_hash = (head.count, head.last_hash) if head else (0, GENESIS)
    if checked != expected_count or previous != expected_hash:
        return Verification(False, checked, f"記録の数が合いません（台帳 {expected_count} 件、実際 {checked} 件）。末尾の記録が削除されています。",
                            check="head", anchors=len(found))
    if keyed or found:
        key = known.get(head.key_id) if head else None
        if key is None or head.mac != _head_mac(key, head.key_id, head.count, head.last_hash):
            return Verification(False, checked, "台帳（件数と最新の記録）の署名が一致しません。鍵を使わずに書き換えられています。",
                                check="head_signature", anchors=len(found))
    return Verification(True, checked, anchors=len(found))
