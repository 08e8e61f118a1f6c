"""tenohira.core.wareki: dates as residents and old spreadsheets write them."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenohira.core.wareki import WarekiError, era_of, format_wareki, parse_date

MEIJI_START = dt.date(1868, 1, 25)
# The parser reads an era year of at most two digits (令和99年); a three-digit era year
# is a typing mistake in any spreadsheet written in this century.
LAST_TWO_DIGIT_ERA_DATE = dt.date(2117, 12, 31)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-04-01", dt.date(2024, 4, 1)),
        ("2024/4/1", dt.date(2024, 4, 1)),
        ("2024.4.1", dt.date(2024, 4, 1)),
        ("2024年4月1日", dt.date(2024, 4, 1)),
        ("２０２４年４月１日", dt.date(2024, 4, 1)),
        (" 2024-04-01 ", dt.date(2024, 4, 1)),
        ("令和6年4月1日", dt.date(2024, 4, 1)),
        ("令和 6年 4月 1日", dt.date(2024, 4, 1)),
        ("令和元年5月1日", dt.date(2019, 5, 1)),
        ("令和1年5月1日", dt.date(2019, 5, 1)),
        ("R6.4.1", dt.date(2024, 4, 1)),
        ("r6.4.1", dt.date(2024, 4, 1)),
        ("R6/4/1", dt.date(2024, 4, 1)),
        ("Ｒ６．４．１", dt.date(2024, 4, 1)),
        ("H31.4.30", dt.date(2019, 4, 30)),
        ("平成31年4月30日", dt.date(2019, 4, 30)),
        ("平成元年1月8日", dt.date(1989, 1, 8)),
        ("昭和64年1月7日", dt.date(1989, 1, 7)),
        ("S64.1.7", dt.date(1989, 1, 7)),
        ("大正元年7月30日", dt.date(1912, 7, 30)),
        ("明治元年1月25日", dt.date(1868, 1, 25)),
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("令和6年2月29日", dt.date(2024, 2, 29)),
    ],
)
def test_parse_date_accepts(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("平成31年5月1日", "平成の期間にない"),  # 令和 had begun
        ("H31.5.1", "平成の期間にない"),
        ("令和1年4月30日", "令和の期間にない"),  # still 平成
        ("令和元年4月30日", "令和の期間にない"),
        ("昭和64年1月8日", "昭和の期間にない"),
        ("明治元年1月24日", "明治の期間にない"),
        ("令和0年5月1日", "年が正しくありません"),
        ("2023-02-29", "存在しない日付"),
        ("令和5年2月29日", "存在しない日付"),
        ("2024-13-01", "存在しない日付"),
        ("2024-04-31", "存在しない日付"),
    ],
)
def test_parse_date_rejects_dates_that_do_not_exist(text, reason):
    with pytest.raises(WarekiError) as excinfo:
        parse_date(text)
    assert reason in str(excinfo.value)
    assert text in str(excinfo.value)


@pytest.mark.parametrize("text", ["そのうち", "2024", "4月1日", "R6", "X6.4.1", "2024-04-01T10:00", "abc"])
def test_parse_date_rejects_garbage_with_a_japanese_message(text):
    with pytest.raises(WarekiError) as excinfo:
        parse_date(text)
    message = str(excinfo.value)
    assert "日付として読み取れません" in message
    assert "令和6年4月1日" in message  # an example of what works


@pytest.mark.parametrize("text", ["", "   ", "　"])
def test_parse_date_rejects_empty(text):
    with pytest.raises(WarekiError, match="日付が空です"):
        parse_date(text)


def test_wareki_error_is_a_value_error():
    assert issubclass(WarekiError, ValueError)


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (dt.date(2024, 4, 1), "令和6年4月1日"),
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
        (dt.date(1868, 1, 25), "明治元年1月25日"),
    ],
)
def test_format_wareki(date, expected):
    assert format_wareki(date) == expected


def test_era_of_refuses_dates_before_meiji():
    with pytest.raises(WarekiError):
        era_of(dt.date(1868, 1, 24))


@settings(deadline=None, max_examples=500)
@given(st.dates(min_value=MEIJI_START, max_value=LAST_TWO_DIGIT_ERA_DATE))
def test_round_trip_through_wareki(date):
    assert parse_date(format_wareki(date)) == date


@settings(deadline=None, max_examples=300)
@given(st.dates(min_value=dt.date(1000, 1, 1)), st.sampled_from(["{y:04d}-{m:02d}-{d:02d}", "{y}/{m}/{d}", "{y}年{m}月{d}日"]))
def test_round_trip_through_western_spellings(date, pattern):
    assert parse_date(pattern.format(y=date.year, m=date.month, d=date.day)) == date


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=20))
def test_parse_date_either_returns_a_date_or_raises_wareki_error(text):
    try:
        result = parse_date(text)
    except WarekiError as exc:
        assert str(exc)
    else:
        assert isinstance(result, dt.date)
