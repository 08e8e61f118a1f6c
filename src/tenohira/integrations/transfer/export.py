"""`tenohira transfer export` on the intake side: the submissions not yet sent, in one
signed and encrypted bundle with their attachments made harmless.

The database says what was sent: in one transaction the bundle's sequence is taken (a
unique row per direction and sequence, so two exports at once cannot both take it) and
every submission in it is marked. The file is complete under a temporary name before
that transaction commits, and renamed into place just after. If the process dies between
the two, the next export finds the temporary file of a committed bundle and finishes the
rename; a temporary file of a bundle that did not commit is deleted (its submissions
were never marked, so they go into the next bundle).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from tenohira.applications.attachments import delete_stored, open_stored
from tenohira.applications.models import Attachment, Submission
from tenohira.audit.services import record
from tenohira.integrations.models import TransferBundle, TransferredSubmission
from tenohira.integrations.models_transfer import TransferredAttachment
from tenohira.integrations.transfer import bundle, keys
from tenohira.integrations.transfer.harmless import make_harmless

logger = logging.getLogger("tenohira.transfer")

KIND = "submissions"
DEFAULT_LIMIT = 2000
# The intake's own numbers and links mean nothing inside (and the account id could name
# someone else's account there).
_IDENTITY_LOCAL_KEYS = {"account_id"}


@dataclass
class Exported:
    path: Path
    sequence: int
    items: int
    attachments: int
    withheld: int


class _Nothing(Exception):
    pass


def keep_originals() -> bool:
    return keys.setting("TRANSFER_KEEP_ORIGINALS").lower() not in {"0", "false", "no", "off"}


def finish_interrupted(directory: Path, kind: str, direction: str) -> list[Path]:
    """Rename the temporary file of a bundle that committed; delete any other."""
    done = []
    for partial in directory.glob(f".tenohira-{kind}-*.partial"):
        bundle_id = partial.name.rsplit(".", 2)[-2]
        row = TransferBundle.objects.filter(direction=direction, bundle_id=bundle_id).first()
        if row is not None and row.sha256 == bundle.sha256_file(partial):
            final = directory / bundle.file_name(kind, row.sequence)
            partial.replace(final)
            done.append(final)
        else:
            partial.unlink(missing_ok=True)
    return done


def next_sequence(direction: str) -> int:
    return (TransferBundle.objects.filter(direction=direction).aggregate(m=Max("sequence"))["m"] or 0) + 1


def _item(submission: Submission) -> dict:
    return {
        "receipt_number": submission.receipt_number,
        "procedure_code": submission.procedure.code,
        "form_version": submission.form_version.number,
        "answers": submission.answers,
        "summary": submission.summary,
        "channel": submission.channel,
        "status": submission.status,
        "email": submission.email,
        "submitted_at": submission.submitted_at.isoformat(),
        "status_changed_at": submission.status_changed_at.isoformat() if submission.status_changed_at else None,
        "due_date": submission.due_date.isoformat() if submission.due_date else None,
        "applicant_name": submission.applicant_name,
        "applicant_search": submission.applicant_search,
        "version": submission.version,
        "identity": {k: v for k, v in (submission.identity or {}).items() if k not in _IDENTITY_LOCAL_KEYS},
        "signature": submission.signature,
        "versions": [
            {"number": v.number, "answers": v.answers, "summary": v.summary, "created_at": v.created_at.isoformat()}
            for v in submission.versions.all()
        ],
        "events": [
            {"at": e.at.isoformat(), "actor_label": e.actor_label, "from_status": e.from_status,
             "to_status": e.to_status, "comment": e.comment}
            for e in submission.events.all()
        ],
        "attachments": [],
    }


def export(directory: Path, *, limit: int = DEFAULT_LIMIT) -> Exported | None:
    """Write the next bundle into `directory`; None when there is nothing to send."""
    signer = keys.signing_key("TRANSFER_SIGNING_KEY_FILE")
    recipient = keys.encryption_key("TRANSFER_INSIDE_PUBLIC_KEY_FILE")
    direction = TransferBundle.Direction.SUBMISSIONS_OUT
    directory.mkdir(parents=True, exist_ok=True)
    finish_interrupted(directory, KIND, direction)
    drop = not keep_originals()
    writer = None
    to_drop: list[str] = []
    try:
        with transaction.atomic():
            sequence = next_sequence(direction)
            submissions = list(
                Submission.objects.filter(transfer__isnull=True).order_by("pk")
                .select_related("procedure", "form_version")
                .prefetch_related("versions", "events", "attachments")[:limit]
            )
            if not submissions:
                raise _Nothing
            writer = bundle.Writer(kind=KIND, sequence=sequence, directory=directory, signer=signer, recipient=recipient)
            # Taken first: a second export at the same time stops here (unique sequence).
            row = TransferBundle.objects.create(
                direction=direction, bundle_id=writer.bundle_id, sequence=sequence, sha256="",
                items=len(submissions), at=timezone.now(),
            )
            items, marks, attachment_rows, withheld, count = [], [], [], 0, 0
            for submission in submissions:
                item = _item(submission)
                for attachment in sorted(submission.attachments.all(), key=lambda a: a.pk):
                    entry, harmless_row = _attachment(writer, attachment, count)
                    count += 1
                    withheld += harmless_row.method == TransferredAttachment.Method.WITHHELD
                    harmless_row.original_dropped = drop
                    item["attachments"].append(entry)
                    attachment_rows.append(harmless_row)
                    if drop:
                        to_drop.append(attachment.stored_name)
                items.append(item)
                marks.append(TransferredSubmission(submission=submission, bundle=row))
            writer.add("payload.json", json.dumps({"submissions": items}, ensure_ascii=False).encode())
            TransferredSubmission.objects.bulk_create(marks)
            TransferredAttachment.objects.bulk_create(attachment_rows)
            row.sha256 = writer.finish(items=len(items))
            row.save(update_fields=["sha256"])
            record("transfer.export", target=f"{KIND} #{sequence}",
                   detail={"bundle_id": writer.bundle_id, "sequence": sequence, "submissions": len(items),
                           "attachments": count, "withheld": withheld})
    except _Nothing:
        return None
    except IntegrityError:
        if writer is not None:
            writer.abandon()
        raise bundle.Refused("別の送り出しが同時に動いています。終わってからもう一度実行してください。") from None
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    path = writer.publish()
    # The originals leave the internet side only once the bundle is in place.
    for stored_name in to_drop:
        delete_stored(stored_name)
    logger.info("transfer export: bundle %s with %s submissions", sequence, len(items))
    return Exported(path=path, sequence=sequence, items=len(items), attachments=count, withheld=withheld)


def _attachment(writer: bundle.Writer, attachment: Attachment, index: int) -> tuple[dict, TransferredAttachment]:
    try:
        with open_stored(attachment.stored_name) as fh:
            original = fh.read()
    except FileNotFoundError:
        original = None
    if original is None:
        result = None
        method, reason, harmless_sha = TransferredAttachment.Method.WITHHELD, "原本がインターネット側に残っていません。", ""
    else:
        result = make_harmless(original, attachment.content_type)
        method, reason, harmless_sha = result.method, result.reason, result.sha256
    entry = {
        "token": attachment.token, "field_path": attachment.field_path, "original_name": attachment.original_name,
        "content_type": attachment.content_type, "scan": attachment.scan,
        "original_sha256": attachment.sha256, "original_size": attachment.size,
        "method": method, "reason": reason, "sha256": harmless_sha, "size": 0, "file": None,
    }
    if result is not None and result.data is not None:
        entry["file"] = f"files/{index:06d}"
        entry["size"] = len(result.data)
        writer.add(entry["file"], result.data)
    return entry, TransferredAttachment(
        attachment=attachment, original_sha256=attachment.sha256, original_size=attachment.size,
        harmless_sha256=harmless_sha, method=method, reason=reason[:200],
    )
