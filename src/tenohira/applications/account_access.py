"""Writes for a resident who proves an application is theirs by signing in (マイページ).

The rest of the resident side proves ownership by something the resident holds: the
draft cookie of the browser that started it, the 確認コード of a submission, the e-mailed
link of a 差戻し. A signed-in resident opening マイページ on another phone holds none of
these, so the identity app, having checked that the application is linked to the signed-in
account, asks here for the same kind of key. Nothing here checks the account: this app
does not know accounts (they live above it, in tenohira.identity).
"""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from tenohira.applications import services
from tenohira.applications.models import CorrectionRequest, Draft, Submission


def reopen_draft(draft: Draft) -> str | None:
    """A key that makes this browser an owner of the draft (the value of the draft cookie).

    It is the draft's resume token (services.resume_token): the same every time, so the
    browser that started the draft and any e-mailed resume link keep working. None for a
    draft that can no longer be continued (submitted, expired, taken over at the counter)."""
    with transaction.atomic():
        locked = Draft.objects.select_for_update().filter(pk=draft.pk).first()
        if (
            locked is None or services.is_counter_draft(locked) or locked.expires_at <= timezone.now()
            or Submission.objects.filter(draft=locked).exists()
        ):
            return None
        token = services.resume_token(locked)
        locked.resume_token_hash = services._hash(token)
        locked.expires_at = max(locked.expires_at, timezone.now() + services.draft_lifetime())
        locked.resume_expires_at = locked.expires_at
        locked.save(update_fields=["resume_token_hash", "expires_at", "resume_expires_at", "updated_at"])
        return token


def reissue_correction_link(correction: CorrectionRequest) -> str | None:
    """A new token for an open 差戻し (only its hash is stored, so the e-mailed one cannot
    be shown again). The e-mailed link stops working: one live link per request, so a
    leaked old e-mail does not open it. None when the request is no longer open."""
    token = secrets.token_urlsafe(32)
    updated = CorrectionRequest.objects.filter(
        pk=correction.pk, resolved_at__isnull=True, expires_at__gt=timezone.now(),
        submission__status=Submission.Status.RETURNED,
    ).update(token_hash=services._hash(token))
    return token if updated else None
