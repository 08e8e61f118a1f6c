"""マイページ links made as applications happen (applications.signals).

applications may not import identity (it sits below it), so it announces a draft started
and a submission made, and these receivers put them on the signed-in resident's マイページ.
The identity given with the signal is the one the draft was started or continued with;
an anonymous draft (identity None or without an account) is linked to nobody.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from tenohira.identity.models import Account, AccountApplication


def on_draft_started(sender, draft, identity=None, **kwargs) -> None:
    account_id = (identity or {}).get("account_id")
    if not account_id or AccountApplication.objects.filter(draft=draft).exists():
        return
    if not Account.objects.filter(pk=account_id).exists():
        return  # a session older than its account (deleted): nothing to link to
    try:
        with transaction.atomic():
            AccountApplication.objects.create(account_id=account_id, draft=draft)
    except IntegrityError:  # the same draft announced twice at once (a double tap)
        pass


def on_submitted(sender, submission, **kwargs) -> None:
    # An anonymous submission (no identity copied from its draft) was never linked: no
    # query on the busiest write of the site for it.
    if not submission.identity:
        return
    if submission.draft_id and AccountApplication.objects.filter(
        draft_id=submission.draft_id, submission__isnull=True
    ).update(submission=submission):
        return
    # Continued while signed in but started before (no link made at start): the identity
    # copied onto the submission names the account.
    account_id = (submission.identity or {}).get("account_id")
    if not account_id or AccountApplication.objects.filter(submission=submission).exists():
        return
    if submission.draft_id and AccountApplication.objects.filter(draft_id=submission.draft_id).exists():
        return  # already linked through its draft
    if not Account.objects.filter(pk=account_id).exists():
        return
    try:
        with transaction.atomic():
            AccountApplication.objects.create(
                account_id=account_id, submission=submission, draft_id=submission.draft_id
            )
    except IntegrityError:
        pass


def connect() -> None:
    from tenohira.applications import signals

    signals.draft_started.connect(on_draft_started, dispatch_uid="identity.mypage.draft_started")
    signals.submitted.connect(on_submitted, dispatch_uid="identity.mypage.submitted")
