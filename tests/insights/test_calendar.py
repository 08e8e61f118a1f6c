"""The business calendar: office-hours boundaries to the second, 振替休日, 年末年始, a
holiday inside an application window, a leap day, closure days (and the per-process cache
noticing changes made elsewhere), fiscal years and 和暦 labels."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.core import calendar
from tenohira.core.models import ClosureDay

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")
D = dt.date


def jst(*parts) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=JST)


# 2023-11-06 is a Monday, an ordinary business day.
@pytest.mark.parametrize(("moment", "outside"), [
    (jst(2023, 11, 6, 0, 0, 0), True),
    (jst(2023, 11, 6, 8, 29, 59), True),  # before opening
    (jst(2023, 11, 6, 8, 29, 59, 999999), True),
    (jst(2023, 11, 6, 8, 30, 0), False),  # the office opens at 08:30:00
    (jst(2023, 11, 6, 12, 0, 0), False),
    (jst(2023, 11, 6, 17, 14, 59), False),
    (jst(2023, 11, 6, 17, 14, 59, 999999), False),
    (jst(2023, 11, 6, 17, 15, 0), True),  # closed from 17:15:00
    (jst(2023, 11, 6, 23, 59, 59), True),
])
def test_office_hours_boundaries(moment, outside):
    assert calendar.is_outside_office_hours(moment) is outside
    # The same instants written in UTC are judged in JST.
    assert calendar.is_outside_office_hours(moment.astimezone(dt.UTC)) is outside


def test_utc_moment_is_read_in_japan_time():
    # 2023-11-05 23:30 UTC is Monday 08:30 JST (inside); 08:15 UTC is Monday 17:15 JST.
    assert calendar.is_outside_office_hours(dt.datetime(2023, 11, 5, 23, 30, tzinfo=dt.UTC)) is False
    assert calendar.is_outside_office_hours(dt.datetime(2023, 11, 6, 8, 14, 59, tzinfo=dt.UTC)) is False
    assert calendar.is_outside_office_hours(dt.datetime(2023, 11, 6, 8, 15, tzinfo=dt.UTC)) is True
    # Sunday 23:30 UTC is already Monday in Japan, but before opening.
    assert calendar.is_outside_office_hours(dt.datetime(2023, 11, 5, 23, 29, 59, tzinfo=dt.UTC)) is True


def test_naive_moment_is_refused():
    with pytest.raises(ValueError, match="時刻帯"):
        calendar.is_outside_office_hours(dt.datetime(2023, 11, 6, 10, 0))


def test_weekend_is_outside_all_day():
    assert not calendar.is_business_day(D(2023, 11, 11))  # Saturday
    assert not calendar.is_business_day(D(2023, 11, 12))  # Sunday
    assert calendar.is_outside_office_hours(jst(2023, 11, 11, 10, 0))
    assert calendar.is_outside_office_hours(jst(2023, 11, 12, 12, 0))
    assert calendar.closed_reason(D(2023, 11, 11)) == "土曜日"


def test_substitute_holiday():
    # 建国記念の日 2024-02-11 is a Sunday: Monday 2024-02-12 is its 振替休日.
    assert not calendar.is_business_day(D(2024, 2, 12))
    assert calendar.is_outside_office_hours(jst(2024, 2, 12, 10, 0))
    assert "振替休日" in calendar.closed_reason(D(2024, 2, 12))
    assert calendar.is_business_day(D(2024, 2, 13))
    assert not calendar.is_outside_office_hours(jst(2024, 2, 13, 10, 0))
    # Friday 2024-02-09 + 1 business day skips the weekend and the 振替休日.
    assert calendar.add_business_days(D(2024, 2, 9), 1) == D(2024, 2, 13)
    # 2023-01-02 is both 元日の振替休日 and inside the year-end closure.
    assert not calendar.is_business_day(D(2023, 1, 2))


@pytest.mark.parametrize("day", [D(2025, 12, 29), D(2025, 12, 30), D(2025, 12, 31), D(2026, 1, 1), D(2026, 1, 2), D(2026, 1, 3)])
def test_year_end_closure(day):
    # 2025-12-29 is a Monday: the closure days are weekdays that are not holidays (but 1/1).
    assert not calendar.is_business_day(day)
    assert calendar.is_outside_office_hours(jst(day.year, day.month, day.day, 10, 0))


def test_days_around_the_year_end_closure():
    assert calendar.is_business_day(D(2025, 12, 26))  # Friday
    assert calendar.is_business_day(D(2026, 1, 5))  # Monday
    assert calendar.closed_reason(D(2025, 12, 30)) == "年末年始"
    assert calendar.business_days_between(D(2025, 12, 22), D(2026, 1, 9)) == 10  # 5 + 0 + 5
    assert calendar.add_business_days(D(2025, 12, 26), 1) == D(2026, 1, 5)
    assert calendar.add_business_days(D(2026, 1, 5), -1) == D(2025, 12, 26)


def test_holiday_in_an_application_window():
    # The 放課後児童クラブ window 2023-11-06..30: 25 days, 6 weekend days, 勤労感謝の日 (11/23).
    start, end = D(2023, 11, 6), D(2023, 11, 30)
    assert not calendar.is_business_day(D(2023, 11, 23))
    assert calendar.closed_reason(D(2023, 11, 23)) == "勤労感謝の日"
    assert calendar.is_outside_office_hours(jst(2023, 11, 23, 10, 0))
    assert calendar.business_days_between(start, end) == 18
    assert calendar.add_business_days(D(2023, 11, 22), 1) == D(2023, 11, 24)
    assert calendar.add_business_days(D(2023, 11, 24), -1) == D(2023, 11, 22)
    assert calendar.add_business_days(start, 17) == end
    assert calendar.business_days_between(end, start) == 0


def test_leap_day():
    leap = D(2024, 2, 29)  # a Thursday
    assert calendar.is_business_day(leap)
    assert not calendar.is_outside_office_hours(jst(2024, 2, 29, 8, 30))
    assert calendar.is_outside_office_hours(jst(2024, 2, 29, 17, 15))
    assert calendar.add_business_days(D(2024, 2, 28), 1) == leap
    assert calendar.add_business_days(leap, 1) == D(2024, 3, 1)
    # February 2024: 29 days, 8 weekend days, 2/12 振替休日, 2/23 天皇誕生日.
    assert calendar.business_days_between(D(2024, 2, 1), leap) == 19
    assert calendar.fiscal_year_bounds(2023) == (D(2023, 4, 1), D(2024, 3, 31))
    assert calendar.period_label(D(2024, 2, 1), leap) == "令和6年2月"


def test_closure_day_and_cache_freshness():
    day = D(2023, 11, 24)  # a Friday
    assert calendar.is_business_day(day)
    closure = ClosureDay.objects.create(date=day, reason="庁舎の電気設備点検")
    assert not calendar.is_business_day(day)
    assert calendar.is_outside_office_hours(jst(2023, 11, 24, 10, 0))
    assert calendar.closed_reason(day) == "庁舎の電気設備点検"
    assert calendar.business_days_between(D(2023, 11, 6), D(2023, 11, 30)) == 17
    closure.delete()
    assert calendar.is_business_day(day)


def test_closure_cache_sees_changes_made_by_another_process():
    """Changes that bypass this process's signals (another worker, a bulk load) are seen
    through the freshness stamp: a new row changes the count, an edit the newest stamp."""
    day, moved_to = D(2023, 11, 27), D(2023, 11, 28)
    assert calendar.is_business_day(day)  # the cache is filled now
    ClosureDay.objects.bulk_create([ClosureDay(date=day, reason="臨時休庁")])  # no signal
    assert not calendar.is_business_day(day)
    ClosureDay.objects.filter(date=day).update(date=moved_to, updated_at=timezone.now())  # no signal
    assert calendar.is_business_day(day)
    assert not calendar.is_business_day(moved_to)


@override_settings(OFFICE_OPENS="09:00", OFFICE_CLOSES="17:00:00")
def test_office_hours_come_from_the_settings():
    assert calendar.is_outside_office_hours(jst(2023, 11, 6, 8, 59, 59))
    assert not calendar.is_outside_office_hours(jst(2023, 11, 6, 9, 0))
    assert not calendar.is_outside_office_hours(jst(2023, 11, 6, 16, 59, 59))
    assert calendar.is_outside_office_hours(jst(2023, 11, 6, 17, 0))


def test_add_business_days_zero_rolls_forward():
    assert calendar.add_business_days(D(2023, 11, 6), 0) == D(2023, 11, 6)
    assert calendar.add_business_days(D(2023, 11, 11), 0) == D(2023, 11, 13)


def test_fiscal_years_and_labels():
    assert calendar.fiscal_year_bounds(2024) == (D(2024, 4, 1), D(2025, 3, 31))
    assert calendar.fiscal_year_label(2023) == "令和5年度"
    assert calendar.fiscal_year_label(2020) == "令和2年度"
    assert calendar.fiscal_year_label(2019) == "令和元年度"
    assert calendar.fiscal_year_label(2018) == "平成30年度"
    assert calendar.fiscal_year_label(1989) == "平成元年度"
    assert calendar.fiscal_year_label(1988) == "昭和63年度"


def test_period_labels():
    assert calendar.period_label(*calendar.fiscal_year_bounds(2023)) == "令和5年度"
    assert calendar.period_label(D(2023, 1, 1), D(2023, 12, 31)) == "2023年（令和5年）"
    assert calendar.period_label(D(2019, 1, 1), D(2019, 12, 31)) == "2019年"
    assert calendar.period_label(D(2023, 11, 1), D(2023, 11, 30)) == "令和5年11月"
    assert calendar.period_label(D(2019, 5, 1), D(2019, 5, 31)) == "令和元年5月"
    assert calendar.period_label(D(2023, 11, 6), D(2023, 11, 30)) == "令和5年11月6日～11月30日"
    assert calendar.period_label(D(2023, 12, 1), D(2024, 1, 31)) == "令和5年12月1日～令和6年1月31日"
    assert calendar.period_label(D(2019, 4, 1), D(2019, 5, 31)) == "平成31年4月1日～令和元年5月31日"
    with pytest.raises(ValueError):
        calendar.period_label(D(2023, 12, 1), D(2023, 11, 1))


def test_closure_days_are_kept_in_the_admin(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = get_user_model().objects.create_user("dx", password="x-Passw0rd-2026", is_staff=True, is_superuser=True)  # noqa: S106
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()

    assert calendar.is_business_day(D(2023, 11, 24))
    response = client.post("/admin/core/closureday/add/", {"date": "2023-11-24", "reason": "庁舎の電気設備点検"})
    assert response.status_code == 302
    assert not calendar.is_business_day(D(2023, 11, 24))
    listing = client.get("/admin/core/closureday/")
    assert listing.status_code == 200 and "庁舎の電気設備点検" in listing.content.decode()
    closure = ClosureDay.objects.get()
    response = client.post(f"/admin/core/closureday/{closure.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert calendar.is_business_day(D(2023, 11, 24))
