"""Dates in the Japanese calendar (和暦) as residents and old spreadsheets write them.

Accepted: 2024-04-01, 2024/4/1, 2024.4.1, 2024年4月1日, 令和6年4月1日, 令和元年5月1日,
R6.4.1, R6/4/1, Ｒ６．４．１, H31.4.30, 平成31年4月30日 ... Full-width digits are folded.
An era year that does not exist on that date (平成31年5月1日, 令和1年4月30日) is refused,
because it is always a typing mistake.
"""

from __future__ import annotations

import datetime as dt
import re

from tenohira.core.text import fold_width


class WarekiError(ValueError):
    pass


# (kanji, roman initial, first day). Later eras first.
ERAS = [
    ("令和", "R", dt.date(2019, 5, 1)),
    ("平成", "H", dt.date(1989, 1, 8)),
    ("昭和", "S", dt.date(1926, 12, 25)),
    ("大正", "T", dt.date(1912, 7, 30)),
    ("明治", "M", dt.date(1868, 1, 25)),
]

_WESTERN = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_ERA = re.compile(r"^(令和|平成|昭和|大正|明治|[RHSTMrhstm])\s*(元|\d{1,2})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?$")


def parse_date(text: str) -> dt.date:
    value = fold_width(text).strip().replace(" ", "")
    if not value:
        raise WarekiError("日付が空です。")
    match = _WESTERN.match(value)
    if match:
        year, month, day = (int(part) for part in match.groups())
        return _date(year, month, day, text)
    match = _ERA.match(value)
    if match:
        era_text, year_text, month, day = match.groups()
        era = next(e for e in ERAS if era_text in (e[0], e[1], e[1].lower()))
        era_year = 1 if year_text == "元" else int(year_text)
        if era_year < 1:
            raise WarekiError(f"「{text}」の年が正しくありません。")
        date = _date(era[2].year + era_year - 1, int(month), int(day), text)
        next_start = _next_era_start(era)
        if date < era[2] or (next_start and date >= next_start):
            raise WarekiError(f"「{text}」は{era[0]}の期間にない日付です。")
        return date
    raise WarekiError(f"「{text}」を日付として読み取れません（例: 2024-04-01、令和6年4月1日、R6.4.1）。")


def _next_era_start(era) -> dt.date | None:
    index = ERAS.index(era)
    return ERAS[index - 1][2] if index > 0 else None


def _date(year: int, month: int, day: int, text: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise WarekiError(f"「{text}」は存在しない日付です。") from None


def era_of(date: dt.date) -> tuple[str, int]:
    for name, _initial, start in ERAS:
        if date >= start:
            return name, date.year - start.year + 1
    raise WarekiError("明治より前の日付は和暦で表せません。")


def format_wareki(date: dt.date) -> str:
    """令和6年4月1日 (元年 for the first year)."""
    name, year = era_of(date)
    return f"{name}{'元' if year == 1 else year}年{date.month}月{date.day}日"


_FISCAL_WESTERN = re.compile(r"^(\d{4})(?:年度?)?$")
_FISCAL_ERA = re.compile(r"^(令和|平成|[RHrh])(元|\d{1,2})(?:年度?)?$")


def parse_fiscal_year(text: str) -> int:
    """A fiscal year (年度) as written in plans: 2025, 2025年度, 令和7年度, R7, 令和元年度.
    Returns the western year in which the fiscal year starts (April)."""
    value = fold_width(text).strip().replace(" ", "")
    match = _FISCAL_WESTERN.match(value)
    if match and 1900 <= int(match.group(1)) <= 2200:
        return int(match.group(1))
    match = _FISCAL_ERA.match(value)
    if match:
        era_text, year_text = match.groups()
        era = next(e for e in ERAS if era_text in (e[0], e[1], e[1].lower()))
        era_year = 1 if year_text == "元" else int(year_text)
        if era_year >= 1:
            return era[2].year + era_year - 1
    raise WarekiError(f"「{text}」を年度として読み取れません（例: 2025、2025年度、令和7年度、R7）。")
