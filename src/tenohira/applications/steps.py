"""Step statistics: recording that a draft reached a page of its form (no personal data).

The DX division asks where residents give up. Each draft leaves one row per page it
reached: "start" when it is created, each step's key when the step is first shown or
saved, "check" for the check page and "submitted" once sent. A row holds the form, its
version, the page, the JST day and a token; nothing typed, no address, no identity.

The token is a keyed hash (HMAC with the site's SECRET_KEY) of the draft's random public
id: the same draft always gives the same token, so a page is counted once per draft,
and once the draft is deleted (applications.services.purge_expired_drafts) no one can
tell which draft or person a row came from.

The step page is the busiest page of the site, so recording is one INSERT … ON CONFLICT
DO NOTHING (PostgreSQL and SQLite alike): no SELECT first, no lock, no error, no
transaction of its own. A step page records on GET; a step POST records inside the
transaction that saves the step.
"""

from __future__ import annotations

from django.db import DatabaseError, connection
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

    One statement and one round trip: outside a transaction it commits on its own (no
    BEGIN/COMMIT around it); inside one (starting a draft, saving a step, sending) it rides
    on that transaction's commit. Statistics never break a resident's page: outside a
    transaction a failure is swallowed; inside, ON CONFLICT leaves nothing to fail but
    the database itself, which would fail the resident's own write too."""
    version = draft.form_version
    params = [version.definition_id, version.pk, step_key[:100], token_of(draft.public_id), timezone.localdate()]
    table = connection.ops.quote_name(StepReached._meta.db_table)
    # Only the table's own quoted name is formatted in; every value is a parameter.
    sql = (f"INSERT INTO {table} (definition_id, form_version_id, step_key, token, day) "  # noqa: S608
           "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:  # pragma: no cover - a full disk must not cost the resident the page
        pass
