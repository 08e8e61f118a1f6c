"""Fixed-window rate limits kept in the database (shared by every web worker)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tenohira.core.models import RateLimitHit


def hit(key: str, *, limit: int, window: dt.timedelta) -> bool:
    """Count one attempt for `key`; False when the limit for this window is exceeded."""
    now = timezone.now()
    seconds = int(window.total_seconds())
    start = dt.datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=dt.UTC)
    with transaction.atomic():
        updated = RateLimitHit.objects.filter(key=key, window_start=start).update(count=F("count") + 1)
        if not updated:
            try:
                with transaction.atomic():
                    RateLimitHit.objects.create(key=key, window_start=start, count=1)
            except IntegrityError:  # another worker created it first
                RateLimitHit.objects.filter(key=key, window_start=start).update(count=F("count") + 1)
        count = RateLimitHit.objects.get(key=key, window_start=start).count
    if now.minute == 0:  # now and then, forget old windows
        RateLimitHit.objects.filter(window_start__lt=now - dt.timedelta(days=1)).delete()
    return count <= limit
