"""Fiscal years (年度, April to March) and Japan time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


def local(moment: dt.datetime) -> dt.datetime:
    """A stored (UTC-aware) moment as residents and staff read it: Japan time."""
    return moment.astimezone(JST)


def fiscal_year(day: dt.date | dt.datetime) -> int:
    """令和6年度 = fiscal 2024 = 2024-04-01 .. 2025-03-31. A datetime is taken in JST."""
    if isinstance(day, dt.datetime):
        day = local(day).date()
    return day.year if day.month >= 4 else day.year - 1
