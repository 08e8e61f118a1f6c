"""Statuses outward: the inside's status changes of transferred applications, back to the
intake where the resident's status page is.

Only what the status page shows crosses: receipt number, the new status, its time and
the message to the resident (the comment of the statuses whose comment the resident
sees, applications.progress). No name, no answers, no staff member. The bundle is signed
with the inside's own status key (not the intake's), and not encrypted: it holds no
personal data. The intake applies it through applications.history.record_event, once
and in sequence, or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenohira.applications.history import record_event
from tenohira.applications.models import Submission, SubmissionEvent
from tenohira.applications.services import COMMENTED_STATUSES
from tenohira.audit.services import record
from tenohira.integrations.models import TransferBundle, TransferredSubmission
from tenohira.integrations.models_transfer import TransferredEvent
from tenohira.integrations.transfer import bundle, keys
from tenohira.integrations.transfer.bundle import Refused
from tenohira.integrations.transfer.export import finish_interrupted, next_sequence
from tenohira.integrations.transfer.importer import check_sequence

logger = logging.getLogger("tenohira.transfer")

KIND = "status"
DEFAULT_LIMIT = 20000


@dataclass
class Result:
    path: Path | None
    sequence: int
    items: int


class _Nothing(Exception):
    pass


def _for_resident(event: SubmissionEvent) -> bool:
    """Whether the resident sees the step's comment (as applications.services.public_history):
    staff's reasons of 差戻し, 却下 and 承認, and a business system's message."""
    by_system = event.actor_id is None and event.actor_label not in {"申請者", "窓口"}
    return by_system or event.to_status in COMMENTED_STATUSES


def export_status(directory: Path, *, limit: int = DEFAULT_LIMIT) -> Result | None:
    signer = keys.signing_key("TRANSFER_STATUS_SIGNING_KEY_FILE")
    direction = TransferBundle.Direction.STATUS_OUT
    directory.mkdir(parents=True, exist_ok=True)
    finish_interrupted(directory, KIND, direction)
    writer = None
    try:
        with transaction.atomic():
            events = list(
                SubmissionEvent.objects.filter(
                    transfer__isnull=True,
                    submission__transfer__bundle__direction=TransferBundle.Direction.SUBMISSIONS_IN,
                ).select_related("submission").order_by("pk")[:limit]
            )
            if not events:
                raise _Nothing
            sequence = next_sequence(direction)
            writer = bundle.Writer(kind=KIND, sequence=sequence, directory=directory, signer=signer, recipient=None)
            row = TransferBundle.objects.create(
                direction=direction, bundle_id=writer.bundle_id, sequence=sequence, sha256="",
                items=len(events), at=timezone.now(),
            )
            items = [
                {"receipt_number": e.submission.receipt_number, "status": e.to_status, "at": e.at.isoformat(),
                 "message": e.comment if _for_resident(e) else ""}
                for e in events
            ]
            writer.add("payload.json", json.dumps({"statuses": items}, ensure_ascii=False).encode())
            TransferredEvent.objects.bulk_create(TransferredEvent(event=e, bundle=row) for e in events)
            row.sha256 = writer.finish(items=len(items))
            row.save(update_fields=["sha256"])
            record("transfer.export_status", target=f"{KIND} #{sequence}",
                   detail={"bundle_id": writer.bundle_id, "sequence": sequence, "statuses": len(items)})
    except _Nothing:
        return None
    except IntegrityError:
        if writer is not None:
            writer.abandon()
        raise Refused("別の送り出しが同時に動いています。終わってからもう一度実行してください。") from None
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    return Result(path=writer.publish(), sequence=sequence, items=len(items))


def import_status(path: Path) -> Result:
    verifier = keys.verify_key("TRANSFER_STATUS_PUBLIC_KEY_FILE")
    direction = TransferBundle.Direction.STATUS_IN
    opened = bundle.open_bundle(path, kind=KIND, verifier=verifier, decryptor=None)
    check_sequence(direction, opened)
    try:
        items = json.loads(opened.entries["payload.json"])["statuses"]
    except (KeyError, ValueError, TypeError):
        raise Refused("束の中身（payload.json）が読めません。取り込みません。") from None
    known = set(Submission.Status.values)
    for item in items:
        if item.get("status") not in known:
            raise Refused(f"受付番号 {item.get('receipt_number')} の状態「{item.get('status')}」はこちらにない状態です。取り込みません。")
    numbers = {i["receipt_number"] for i in items}
    sent = {
        t.submission.receipt_number: t.submission
        for t in TransferredSubmission.objects.filter(
            submission__receipt_number__in=numbers, bundle__direction=TransferBundle.Direction.SUBMISSIONS_OUT,
        ).select_related("submission__section")
    }
    unknown = sorted(numbers - set(sent))
    if unknown:
        raise Refused(
            f"受付番号 {'、'.join(unknown[:5])} はこちらから送り出した申請ではありません。"
            "束の送り先を確かめてください。取り込みません。"
        )
    with transaction.atomic():
        try:
            TransferBundle.objects.create(
                direction=direction, bundle_id=opened.bundle_id, sequence=opened.sequence,
                sha256=opened.sha256, items=len(items), at=timezone.now(),
            )
        except IntegrityError:
            raise Refused(f"この束（番号 {opened.sequence}）は同時に別の取り込みが行いました。何も取り込みません。") from None
        for item in items:
            submission = sent[item["receipt_number"]]
            # The resident sees the section that handles it, as for a step made by staff here.
            event = record_event(submission, item["status"], actor=None,
                                 actor_label=submission.section.name[:100], comment=item["message"])
            if item.get("at"):
                SubmissionEvent.objects.filter(pk=event.pk).update(at=dt.datetime.fromisoformat(item["at"]))
        record("transfer.import_status", target=f"{KIND} #{opened.sequence}",
               detail={"bundle_id": opened.bundle_id, "sequence": opened.sequence, "statuses": len(items)})
    logger.info("transfer import-status: bundle %s with %s statuses", opened.sequence, len(items))
    return Result(path=None, sequence=opened.sequence, items=len(items))
