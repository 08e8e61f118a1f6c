"""The digest a resident signs (電子署名) and staff verify.

One function for the draft (what the resident is about to send) and one for the stored
submission, computed the same way, so a signature made on the check page verifies
against the submission made from it, and any later change of the stored answers or of
an attachment's bytes makes it fail.

    digest = SHA-256 of canonical JSON of
             {"answers": <answers as the submission stores them>,
              "attachments": [[field_path, sha256], ...] sorted}

Canonical JSON: sorted keys, no spaces, UTF-8 (characters as they are, 外字 included).
"""

from __future__ import annotations

import hashlib
import json

DIGEST_ALGORITHM = "SHA-256"


def canonical_json(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _digest(answers: dict, attachments) -> str:
    pairs = sorted([str(path), str(sha256)] for path, sha256 in attachments)
    return hashlib.sha256(canonical_json({"answers": answers, "attachments": pairs})).hexdigest()


def draft_digest(draft) -> str:
    """The digest of the submission this draft would make now: the answers the engine
    computes from what was typed, and the files those answers name (a file of a question
    no longer shown stays with the draft but is not sent, so it is not signed either)."""
    from tenohira.applications import services

    run = services.run_of(draft)
    tokens = services.attachment_tokens(run)
    rows = draft.attachments.filter(token__in=tokens).values_list("field_path", "sha256") if tokens else []
    # Through JSON and back: the submission's answers are read back from a JSON column.
    answers = json.loads(canonical_json(run.answers))
    return _digest(answers, list(rows))


def submission_digest(submission) -> str:
    """The same digest from what is stored: Submission.answers and its Attachment rows."""
    rows = submission.attachments.values_list("field_path", "sha256")
    return _digest(submission.answers, list(rows))


def first_version_digest(submission) -> str | None:
    """The digest of the answers as first submitted (SubmissionVersion 1) with the files
    stored now: what a signature made before a 差戻し covers, if the files did not change."""
    from tenohira.applications.models import SubmissionVersion

    answers = SubmissionVersion.objects.filter(submission=submission, number=1).values_list("answers", flat=True).first()
    if answers is None:
        return None
    return _digest(answers, list(submission.attachments.values_list("field_path", "sha256")))
