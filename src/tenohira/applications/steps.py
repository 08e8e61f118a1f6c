"""Step statistics: recording that a draft reached a page of its form (no personal data).

The DX division asks where residents give up. Each draft leaves one row per page it
reached: "start" when it is created, each step's key when the step is first shown or
saved, "check" for the check page and "submitted" once sent. A row holds the form, its
version, the page, the JST day and a token; nothing typed, no address, no identity.

The token is a keyed hash (HMAC with the site's SECRET_KEY) of the draft's random public
id: the same draft always gives the same token, so a page is counted once per draft,
and once the draft is deleted (applications.services.purge_expired_drafts) no one can
tell which draft or person a row came from.

The step page is the busiest page of the site, so recording is one INSERT that ignores
a row already there (bulk_create with ignore_conflicts: INSERT … ON CONFLICT DO NOTHING
on PostgreSQL, INSERT OR IGNORE on SQLite): no SELECT first, no lock, no error.
"""

from __future__ import annotations

from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from tenohira.applications.models import StepReached

START = "start"
CHECK = "check"
SUBMITTED = "submitted"


def token_of(public_id) -> str:
    """The draft's token in the statistics (32 hex characters)."""
    return salted_hmac("tenohira.applications.step-reached", str(public_id), algorithm="sha256").hexdigest()[:32]


def reached(draft, step_key: str) -> None:
    """Record that `draft` reached `step_key` (once; later calls change nothing).

    Statistics never break a resident's page: a failure is swallowed inside its own
    savepoint, so the caller's transaction goes on."""
    version = draft.form_version
    row = StepReached(
        definition_id=version.definition_id, form_version_id=version.pk, step_key=step_key[:100],
        token=token_of(draft.public_id), day=timezone.localdate(),
    )
    try:
        with transaction.atomic():
            StepReached.objects.bulk_create([row], ignore_conflicts=True)
    except DatabaseError:  # pragma: no cover - a full disk must not cost the resident the page
        pass
