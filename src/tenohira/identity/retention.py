"""How long identity data is kept (docs/identity.md).

- E-mail codes: a day after they expired or were used (long enough to answer 「コードが
  届かない」 questions from the rows' times, never the codes: only hashes are stored).
- Used nonces: until the ID token they came with would have expired.
- Accounts: an account that has not signed in for IDENTITY_ACCOUNT_DORMANT_DAYS and has
  nothing left in its マイページ (the applications' own 保存年限 removed them, or there
  never were any) is deleted. The evidence on submissions is part of the application and
  goes with it (applications.retention), not here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenohira.identity.models import Account, EmailChallenge, UsedNonce


@dataclass
class PurgeReport:
    challenges: int
    nonces: int
    accounts: int
    applied: bool

    def lines(self) -> list[str]:
        verb = "削除しました" if self.applied else "削除の対象です（--apply で削除）"
        return [
            f"メール確認コード {self.challenges} 件、使用済みノンス {self.nonces} 件、"
            f"休眠した利用者 {self.accounts} 件を{verb}。",
        ]


def dormant_days() -> int:
    return int(getattr(settings, "IDENTITY_ACCOUNT_DORMANT_DAYS", 3 * 365))


def purge(now: dt.datetime | None = None, *, apply: bool = False) -> PurgeReport:
    now = now or timezone.now()
    challenges = EmailChallenge.objects.filter(
        Q(expires_at__lt=now - dt.timedelta(days=1)) | Q(used_at__lt=now - dt.timedelta(days=1))
    )
    nonces = UsedNonce.objects.filter(expires_at__lt=now)
    cutoff = now - dt.timedelta(days=dormant_days())
    accounts = Account.objects.filter(
        Q(last_signed_in_at__lt=cutoff) | Q(last_signed_in_at__isnull=True, created_at__lt=cutoff),
        applications__isnull=True,
    )
    report = PurgeReport(challenges.count(), nonces.count(), accounts.count(), apply)
    if apply:
        with transaction.atomic():
            challenges.delete()
            nonces.delete()
            accounts.delete()
    return report
