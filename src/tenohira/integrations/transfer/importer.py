"""`tenohira transfer import` on the inside (LGWAN) side: a bundle of submissions is
imported whole, exactly once and in order, or not at all.

Checks before anything is written: the intake's signature, every entry's hash, the
decryption, the sequence (exactly the one after the last imported: a replayed or skipped
bundle is refused), that every procedure and form version exists here, that no receipt
number exists yet, and every attachment's hash. Then one transaction writes the bundle's
record, the submissions with their history and attachments, and announces each
submission (applications.signals.submitted) so deliveries to business systems start here.
The attachments' files are written first and deleted again if the transaction fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from tenohira.applications import signals
from tenohira.applications.attachments import delete_stored, save_stored
from tenohira.applications.models import Attachment, Submission, SubmissionEvent, SubmissionVersion
from tenohira.audit.services import record
from tenohira.catalog.models import Procedure
from tenohira.forms.models import FormVersion
from tenohira.insights import aggregates
from tenohira.integrations.models import TransferBundle, TransferredSubmission
from tenohira.integrations.models_transfer import TransferredAttachment, TransferredEvent
from tenohira.integrations.transfer import bundle, keys
from tenohira.integrations.transfer.bundle import Refused

logger = logging.getLogger("tenohira.transfer")

KIND = "submissions"


@dataclass
class Imported:
    sequence: int
    items: int
    attachments: int


def check_sequence(direction: str, opened: bundle.Opened) -> None:
    """Refuse a bundle already imported, an older one, or one that skips a number."""
    sequence = opened.sequence
    if TransferBundle.objects.filter(direction=direction, bundle_id=opened.bundle_id).exists():
        raise Refused(f"この束（番号 {sequence}）はすでに取り込み済みです。同じ束は二度取り込みません。")
    last = TransferBundle.objects.filter(direction=direction).aggregate(m=Max("sequence"))["m"] or 0
    if not isinstance(sequence, int) or sequence <= last:
        raise Refused(
            f"番号 {sequence} の束は取り込み済みの番号です（最後に取り込んだのは {last}）。"
            "古い束の再送は取り込みません。"
        )
    if sequence != last + 1:
        raise Refused(
            f"番号 {last + 1} の束がまだ取り込まれていません（この束は {sequence}）。"
            f"番号 {last + 1} から順に取り込んでください。"
        )


def _when(text: str | None):
    return dt.datetime.fromisoformat(text) if text else None


def import_bundle(path: Path) -> Imported:
    verifier = keys.verify_key("TRANSFER_INTAKE_PUBLIC_KEY_FILE")
    decryptor = keys.decryption_key("TRANSFER_INSIDE_PRIVATE_KEY_FILE")
    direction = TransferBundle.Direction.SUBMISSIONS_IN
    opened = bundle.open_bundle(path, kind=KIND, verifier=verifier, decryptor=decryptor)
    check_sequence(direction, opened)
    try:
        items = json.loads(opened.entries["payload.json"])["submissions"]
    except (KeyError, ValueError, TypeError):
        raise Refused("束の中身（payload.json）が読めません。取り込みません。") from None
    if len(items) != opened.manifest["items"]:
        raise Refused("束の件数が目録と合いません。取り込みません。")
    versions = _form_versions(items)
    _check_new(items)
    _check_files(items, opened.entries)
    written: list[str] = []
    try:
        for item in items:
            for entry in item["attachments"]:
                if entry["file"]:
                    entry["stored_name"] = _store(opened.entries[entry["file"]])
                    written.append(entry["stored_name"])
        with transaction.atomic():
            try:
                # First: a second import of the same bundle at the same time stops here.
                row = TransferBundle.objects.create(
                    direction=direction, bundle_id=opened.bundle_id, sequence=opened.sequence,
                    sha256=opened.sha256, items=len(items), at=timezone.now(),
                )
            except IntegrityError:
                raise Refused(f"この束（番号 {opened.sequence}）は同時に別の取り込みが行いました。何も取り込みません。") from None
            count = _write(items, versions, row)
            record("transfer.import", target=f"{KIND} #{opened.sequence}",
                   detail={"bundle_id": opened.bundle_id, "sequence": opened.sequence,
                           "submissions": len(items), "attachments": count, "sha256": opened.sha256})
    except BaseException:
        for name in written:
            delete_stored(name)
        raise
    logger.info("transfer import: bundle %s with %s submissions", opened.sequence, len(items))
    return Imported(sequence=opened.sequence, items=len(items), attachments=count)


def _form_versions(items: list[dict]) -> dict[tuple[str, int], FormVersion]:
    wanted = {(i["procedure_code"], i["form_version"]) for i in items}
    codes = {code for code, _ in wanted}
    found = {
        (v.definition.procedure.code, v.number): v
        for v in FormVersion.objects.filter(definition__procedure__code__in=codes).select_related("definition__procedure")
    }
    missing = sorted(wanted - set(found))
    if missing:
        known = set(Procedure.objects.filter(code__in=codes).values_list("code", flat=True))
        code, number = missing[0]
        if code not in known:
            raise Refused(f"手続ID {code} の手続きがこちらにありません。LGWAN側の手続き一覧に {code} を登録してから取り込んでください。")
        raise Refused(
            f"手続ID {code} のフォームの第{number}版がこちらにありません。"
            "インターネット側と同じフォームの版をLGWAN側にも登録してから取り込んでください。"
        )
    return found


def _check_new(items: list[dict]) -> None:
    numbers = [i["receipt_number"] for i in items]
    if len(set(numbers)) != len(numbers):
        raise Refused("束の中に同じ受付番号が二つあります。取り込みません。")
    present = list(Submission.objects.filter(receipt_number__in=numbers).values_list("receipt_number", flat=True)[:5])
    if present:
        raise Refused(f"受付番号 {'、'.join(present)} の申請はすでにあります。二重に取り込まないため、この束は取り込みません。")


def _check_files(items: list[dict], entries: dict[str, bytes]) -> None:
    for item in items:
        for entry in item["attachments"]:
            if not entry["file"]:
                continue
            data = entries.get(entry["file"])
            if data is None or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise Refused(f"受付番号 {item['receipt_number']} の添付ファイルのハッシュが合いません。取り込みません。")


def _store(data: bytes) -> str:
    return save_stored(data)


def _write(items: list[dict], versions: dict, row: TransferBundle) -> int:
    submissions = []
    for item in items:
        version = versions[(item["procedure_code"], item["form_version"])]
        procedure = version.definition.procedure
        submissions.append(Submission(
            receipt_number=item["receipt_number"], procedure=procedure, section_id=procedure.section_id,
            form_version=version, answers=item["answers"], summary=item["summary"], channel=item["channel"],
            status=item["status"], email=item["email"],
            # The status page is the intake's; here no code opens it.
            status_secret_hash="",
            submitted_at=_when(item["submitted_at"]), status_changed_at=_when(item["status_changed_at"]),
            due_date=dt.date.fromisoformat(item["due_date"]) if item["due_date"] else None,
            applicant_name=item["applicant_name"], applicant_search=item["applicant_search"],
            version=item["version"], identity=item["identity"], signature=item["signature"],
        ))
    Submission.objects.bulk_create(submissions)
    by_number = {s.receipt_number: s for s in submissions}
    TransferredSubmission.objects.bulk_create(TransferredSubmission(submission=s, bundle=row) for s in submissions)
    SubmissionVersion.objects.bulk_create(
        SubmissionVersion(submission=by_number[i["receipt_number"]], number=v["number"], answers=v["answers"],
                          summary=v["summary"], created_at=_when(v["created_at"]))
        for i in items for v in i["versions"]
    )
    events = SubmissionEvent.objects.bulk_create(
        SubmissionEvent(submission=by_number[i["receipt_number"]], at=_when(e["at"]), actor_label=e["actor_label"],
                        from_status=e["from_status"], to_status=e["to_status"], comment=e["comment"])
        for i in items for e in i["events"]
    )
    # The history that came in is known outside already: it never goes back out.
    TransferredEvent.objects.bulk_create(TransferredEvent(event=e, bundle=row) for e in events)
    attachments, harmless = [], []
    for item in items:
        for entry in item["attachments"]:
            if not entry.get("stored_name"):
                continue  # withheld: the inside has the record in the item, not the file
            attachment = Attachment(
                token=entry["token"], submission=by_number[item["receipt_number"]], field_path=entry["field_path"],
                stored_name=entry["stored_name"], original_name=entry["original_name"],
                content_type=entry["content_type"], size=entry["size"], sha256=entry["sha256"], scan=entry["scan"],
            )
            attachments.append(attachment)
            harmless.append((attachment, entry))
    Attachment.objects.bulk_create(attachments)
    TransferredAttachment.objects.bulk_create(
        TransferredAttachment(attachment=a, original_sha256=e["original_sha256"], original_size=e["original_size"],
                              harmless_sha256=e["sha256"], method=e["method"], reason=e["reason"][:200])
        for a, e in harmless
    )
    for submission in submissions:
        signals.submitted.send(sender=Submission, submission=submission)
        if submission.status != Submission.Status.WITHDRAWN:
            aggregates.count_submission(submission)
    return len(attachments)
