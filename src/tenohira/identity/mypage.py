"""マイページ: reads scoped to one account, and linking earlier applications by e-mail.

Every read takes the account id of the signed-in resident (core.residents) and returns
only what AccountApplication links to that account: there is no path from a receipt
number or a draft id alone to someone else's application. A miss is a 404, the same for
"does not exist" and "not yours".

Linking (以前の申請を追加する): a resident who applied before signing in proves the
e-mail address they gave with a one-time code; every submission made with that address
and not yet in another account's マイページ is then added. Until the code is proven,
nothing tells whether the address was ever used: the same page and the same e-mail follow
whatever was typed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone
from django.utils.crypto import salted_hmac

from tenohira.applications.models import Draft, Submission
from tenohira.core import outbox
from tenohira.core.ratelimit import hit
from tenohira.identity.models import Account, AccountApplication, EmailChallenge

CODE_DIGITS = 6
CODE_MINUTES = 15
CODE_ATTEMPTS = 5


# --- reads -------------------------------------------------------------------------------


def _links(account_id: int):
    return AccountApplication.objects.filter(account_id=account_id).select_related(
        "submission__procedure", "submission__section",
        "draft__form_version__definition__procedure", "draft__submission",
    )


@dataclass
class Overview:
    submissions: list[Submission]
    drafts: list[Draft]


def overview(account_id: int, *, limit: int = 100) -> Overview:
    """The account's submissions (newest first) and drafts still open for typing."""
    submissions: dict[int, Submission] = {}
    drafts: list[Draft] = []
    now = timezone.now()
    for link in _links(account_id).order_by("-linked_at")[: limit * 2]:
        submission = link.submission
        if submission is None and link.draft is not None:
            submission = getattr(link.draft, "submission", None)  # submitted, link not updated yet
        if submission is not None:
            submissions[submission.pk] = submission
        elif link.draft is not None and link.draft.expires_at > now and not _at_counter(link.draft):
            drafts.append(link.draft)
    ordered = sorted(submissions.values(), key=lambda s: s.submitted_at, reverse=True)[:limit]
    drafts.sort(key=lambda d: d.updated_at, reverse=True)
    return Overview(ordered, drafts[:limit])


def _at_counter(draft: Draft) -> bool:
    from tenohira.applications.services import is_counter_draft

    return is_counter_draft(draft)


def submission_of(account_id: int, receipt_number: str) -> Submission:
    """The account's submission with this 受付番号, or 404."""
    number = (receipt_number or "").strip().upper()[:40]
    found = (
        Submission.objects.select_related("procedure", "section", "form_version")
        .filter(receipt_number=number)
        .filter(_linked_submission(account_id))
        .first()
    )
    if found is None:
        raise Http404("not in this account")
    return found


def _linked_submission(account_id: int):
    from django.db.models import Q

    return Q(account_link__account_id=account_id) | Q(draft__account_link__account_id=account_id)


def draft_of(account_id: int, public_id) -> Draft:
    """The account's unsubmitted draft, or 404."""
    found = (
        Draft.objects.select_related("form_version__definition__procedure")
        .filter(public_id=public_id, account_link__account_id=account_id, submission__isnull=True)
        .first()
    )
    if found is None:
        raise Http404("not in this account")
    return found


# --- linking earlier applications ----------------------------------------------------------


def _code_hash(email: str, code: str) -> str:
    # Keyed by the site's secret: six digits hashed alone would be read back from a copy
    # of the database in a moment.
    return salted_hmac("tenohira.identity.link-code", f"{email}\n{code}", algorithm="sha256").hexdigest()


def normalise_email(text: str) -> str:
    from tenohira.core.japanese import fold_code

    return fold_code(text).lower()[:254]


class TooMany(Exception):
    """Too many codes asked for; the message says when to try again."""


def start_link(account: Account, email: str, *, client: str) -> EmailChallenge:
    """Send a one-time code to `email` to prove it. Sent whether or not the address was
    ever used for an application (the page must not tell). Limited per account, per
    client address and per e-mail address (one account cannot make the site mail a
    stranger many times)."""
    hour = dt.timedelta(hours=1)
    address_key = hashlib.sha256(email.encode()).hexdigest()[:32]
    if not (
        hit(f"mypage-link:{account.pk}", limit=getattr(settings, "MYPAGE_LINK_LIMIT_PER_HOUR", 5), window=hour)
        and hit(f"mypage-link-ip:{client}", limit=20, window=hour)
        and hit(f"mypage-link-to:{address_key}", limit=5, window=dt.timedelta(days=1))
    ):
        raise TooMany
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    now = timezone.now()
    with transaction.atomic():
        challenge = EmailChallenge.objects.create(
            purpose=EmailChallenge.Purpose.LINK, email=email, account=account,
            code_hash=_code_hash(email, code),
            # Unused by this purpose (no link is sent, only a code), but unique by design.
            token_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            expires_at=now + dt.timedelta(minutes=CODE_MINUTES),
        )
        outbox.enqueue(
            kind="mypage_link_code", to=email,
            subject=f"【{settings.MUNICIPALITY_NAME}】確認コード（マイページに以前の申請を追加）",
            body="\n".join([
                f"{settings.MUNICIPALITY_NAME}です。マイページに以前の申請を追加するための確認コードです。",
                "",
                f"確認コード: {code}",
                "",
                f"このコードは{CODE_MINUTES}分間有効です。マイページの画面に入力してください。",
                "コードは他の人に教えないでください。職員がコードを聞くことはありません。",
                "心当たりがない場合は、このメールを破棄してください。",
            ]),
        )
    return challenge


@dataclass
class LinkOutcome:
    status: str  # "added" | "wrong" | "expired" | "exhausted"
    added: int = 0
    remaining: int = 0


def confirm_link(account: Account, challenge_id: int, code: str) -> LinkOutcome:
    """Check the code; once proven, add every submission made with the address that is
    not yet in another account's マイページ. A wrong code counts as an attempt; after
    CODE_ATTEMPTS the challenge is dead even for the right code."""
    from tenohira.core.japanese import fold_code

    code = fold_code(code).replace(" ", "").replace("-", "")[:20]
    with transaction.atomic():
        challenge = (
            EmailChallenge.objects.select_for_update()
            .filter(pk=challenge_id, account=account, purpose=EmailChallenge.Purpose.LINK).first()
        )
        if challenge is None or challenge.used_at is not None or challenge.expires_at <= timezone.now():
            return LinkOutcome("expired")
        if challenge.attempts >= CODE_ATTEMPTS:
            return LinkOutcome("exhausted")
        if not secrets.compare_digest(challenge.code_hash, _code_hash(challenge.email, code)):
            EmailChallenge.objects.filter(pk=challenge.pk).update(attempts=F("attempts") + 1)
            left = CODE_ATTEMPTS - challenge.attempts - 1
            return LinkOutcome("exhausted" if left <= 0 else "wrong", remaining=max(left, 0))
        now = timezone.now()
        challenge.used_at = now
        challenge.save(update_fields=["used_at"])
        Account.objects.filter(pk=account.pk).update(email=challenge.email, email_verified_at=now)
        return LinkOutcome("added", added=_link_by_email(account, challenge.email))


def _link_by_email(account: Account, email: str) -> int:
    added = 0
    candidates = Submission.objects.filter(email__iexact=email, account_link__isnull=True).select_related("draft")
    for submission in candidates.order_by("pk"):
        draft_link = AccountApplication.objects.filter(draft_id=submission.draft_id).first() if submission.draft_id else None
        if draft_link is not None:
            # Made while signed in: it belongs to that account (this one, or someone else's).
            if draft_link.account_id == account.pk and draft_link.submission_id is None:
                draft_link.submission = submission
                draft_link.save(update_fields=["submission"])
                added += 1
            continue
        try:
            with transaction.atomic():
                AccountApplication.objects.create(
                    account=account, submission=submission, how=AccountApplication.How.EMAIL_PROOF
                )
        except IntegrityError:  # linked by a concurrent request in the meantime
            continue
        added += 1
    return added
