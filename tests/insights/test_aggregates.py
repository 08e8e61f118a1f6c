"""DailyApplications stay exact as submissions arrive (through applications.services.submit)
and are withdrawn (through applications.services.withdraw): after every step they equal a
recount by rebuild() and a direct count over the submissions; the after-hours section reads
them; the domain example (放課後児童クラブ, 2023-11-06..30) computes its share the documented way."""

import csv
import datetime as dt
import random
from collections import Counter
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import jpholiday
import pytest
from django.contrib.auth import get_user_model

from tenohira.applications import services
from tenohira.applications.models import Submission
from tenohira.backoffice import services as backoffice
from tenohira.backoffice.models import Role, StaffRole
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.core import calendar
from tenohira.core.models import ClosureDay
from tenohira.forms.services import publish
from tenohira.insights import aggregates, kpi_afterhours
from tenohira.insights.imports import applications as log_import
from tenohira.insights.models import DailyApplications, ExternalApplication
from tenohira.insights.numbers import pct

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")
S = Submission.Status
SCHEMA = {
    "title": "集計テスト申請",
    "steps": [{"key": "about", "title": "申請する方", "fields": [
        {"key": "full_name", "type": "text", "label": "氏名", "required": True, "max_length": 40},
    ]}],
}


def jst(*parts) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=JST)


@pytest.fixture
def forms(db):
    """Two procedures in two departments, each with a published form."""
    kodomo = Department.objects.create(name="こども部", order=1)
    shimin = Department.objects.create(name="市民部", order=2)
    made = {}
    for department, section_name, code, name in (
        (kodomo, "こども育成課", "HKC", "放課後児童クラブ入所申請"),
        (shimin, "市民課", "JMN", "住民票の写しの交付申請"),
    ):
        section = Section.objects.create(department=department, name=section_name)
        procedure = Procedure.objects.create(code=code, section=section, name=name)
        made[code], _ = publish(procedure, SCHEMA)
    return made


def apply_at(version, moment: dt.datetime, channel: str = "online"):
    """A resident (or the counter) submits at `moment`, through the real services; the
    clock is Django's, set to `moment`."""
    with mock.patch("django.utils.timezone.now", return_value=moment.astimezone(dt.UTC)):
        draft, _owner = services.start_draft(version)
        services.save_step(draft, version.parsed().step("about"), {"full_name": ["山田 花子"]}, {}, [])
        draft.refresh_from_db()
        submission, secret = services.submit(draft, channel=channel)
    assert secret is not None
    return submission, secret


def snapshot() -> dict:
    return {
        (r.day, r.fiscal_year, r.procedure_id, r.procedure_name, r.department, r.channel, r.outside_hours): r.count
        for r in DailyApplications.objects.all()
    }


def direct_count() -> dict:
    """Counted straight from the facts, one by one, with the calendar's own rule."""
    counts = Counter()
    for s in Submission.objects.exclude(status=S.WITHDRAWN).select_related("procedure", "section__department"):
        day = s.submitted_at.astimezone(JST).date()
        fy = day.year if day.month >= 4 else day.year - 1
        counts[(day, fy, s.procedure_id, s.procedure.name, s.section.department.name, s.channel,
                calendar.is_outside_office_hours(s.submitted_at))] += 1
    for e in ExternalApplication.objects.select_related("procedure__section__department"):
        day = e.submitted_at.astimezone(JST).date()
        fy = day.year if day.month >= 4 else day.year - 1
        name = e.procedure.name if e.procedure else e.procedure_name
        department = e.procedure.section.department.name if e.procedure else e.department
        counts[(day, fy, e.procedure_id, name, department, e.channel, calendar.is_outside_office_hours(e.submitted_at))] += 1
    return dict(counts)


def assert_exact():
    """The kept aggregate equals the direct count, and equals what rebuild() recomputes."""
    kept = snapshot()
    assert kept == direct_count()
    aggregates.rebuild()
    assert snapshot() == kept


MOMENTS = [
    # (procedure, JST moment, channel, outside office hours?)
    ("HKC", jst(2023, 11, 6, 8, 29, 59), "online", True),
    ("HKC", jst(2023, 11, 6, 8, 30, 0), "online", False),
    ("HKC", jst(2023, 11, 6, 17, 14, 59), "online", False),
    ("HKC", jst(2023, 11, 6, 17, 15, 0), "online", True),
    ("HKC", jst(2023, 11, 11, 10, 0), "online", True),  # Saturday
    ("HKC", jst(2023, 11, 11, 10, 5), "online", True),
    ("HKC", jst(2023, 11, 23, 10, 0), "online", True),  # 勤労感謝の日
    ("JMN", jst(2023, 11, 6, 10, 0), "counter", False),  # 書かない窓口
    ("JMN", jst(2023, 11, 6, 23, 59, 59), "online", True),
    ("JMN", jst(2023, 11, 7, 0, 0, 0), "online", True),  # still 11-06 in UTC
    ("JMN", jst(2024, 3, 31, 23, 30), "online", True),  # last day of FY2023 (Sunday)
    ("JMN", jst(2024, 4, 1, 0, 10), "online", True),  # FY2024, though 2024-03-31 in UTC
    ("JMN", jst(2024, 2, 29, 9, 0), "online", False),  # leap day, a Thursday
]


def test_counts_stay_exact_as_submissions_arrive_and_are_withdrawn(forms):
    made = []
    for code, moment, channel, outside in MOMENTS:
        submission, secret = apply_at(forms[code], moment, channel)
        made.append((submission, secret))
        assert aggregates.submission_key(submission).outside_hours is outside
        assert_exact()
    assert DailyApplications.objects.filter(day=dt.date(2023, 11, 7)).exists()
    assert set(DailyApplications.objects.filter(day=dt.date(2024, 4, 1)).values_list("fiscal_year", flat=True)) == {2024}
    assert set(DailyApplications.objects.filter(day=dt.date(2024, 3, 31)).values_list("fiscal_year", flat=True)) == {2023}
    assert sum(snapshot().values()) == len(MOMENTS)

    # A staff step is no withdrawal: nothing moves.
    handler = get_user_model().objects.create_user("hkc-tanto", last_name="担当", first_name="一郎")
    StaffRole.objects.create(user=handler, role=Role.HANDLER, section=made[4][0].section)
    before = snapshot()
    backoffice.transition(handler, made[4][0].receipt_number, S.UNDER_REVIEW)
    assert snapshot() == before

    # Withdrawn under review: Saturday's row goes from 2 to 1.
    key = aggregates.submission_key(made[4][0])
    row = DailyApplications.objects.get(day=key.day, procedure_id=key.procedure_id, channel="online", outside_hours=True)
    assert row.count == 2
    assert services.withdraw(made[4][0].receipt_number, made[4][1]).status == S.WITHDRAWN
    row.refresh_from_db()
    assert row.count == 1
    assert_exact()

    # The only application of its row (勤労感謝の日): the row disappears, as in a recount.
    services.withdraw(made[6][0].receipt_number, made[6][1])
    assert not DailyApplications.objects.filter(day=dt.date(2023, 11, 23)).exists()
    assert_exact()

    # Withdrawing twice is harmless; so is a counter application withdrawn.
    services.withdraw(made[6][0].receipt_number, made[6][1])
    services.withdraw(made[7][0].receipt_number, made[7][1])
    assert_exact()
    assert sum(snapshot().values()) == len(MOMENTS) - 3
    assert Submission.objects.exclude(status=S.WITHDRAWN).count() == len(MOMENTS) - 3


def test_a_rollback_takes_the_count_with_it(forms):
    """The count is written in the submission's transaction: a failure after it undoes both."""
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        apply_at(forms["HKC"], jst(2023, 11, 8, 10, 0))
        assert sum(snapshot().values()) == 1
        raise RuntimeError("the request failed after the submission")
    assert Submission.objects.count() == 0
    assert snapshot() == {}


def test_renamed_procedure_keeps_one_row_and_withdrawal_still_finds_it(forms):
    first, secret = apply_at(forms["HKC"], jst(2023, 11, 8, 20, 0))
    apply_at(forms["HKC"], jst(2023, 11, 8, 21, 0))
    Procedure.objects.filter(code="HKC").update(name="放課後児童クラブ利用申請")
    apply_at(forms["HKC"], jst(2023, 11, 8, 22, 0))
    rows = DailyApplications.objects.filter(procedure__code="HKC")
    assert [(r.procedure_name, r.count) for r in rows] == [("放課後児童クラブ入所申請", 3)]
    services.withdraw(first.receipt_number, secret)
    assert [r.count for r in rows.all()] == [2]
    aggregates.rebuild()  # refreshes the stored name
    assert [(r.procedure_name, r.count) for r in rows.all()] == [("放課後児童クラブ利用申請", 2)]
    assert snapshot() == direct_count()


def test_rebuild_of_a_range_touches_only_that_range(forms):
    for _code, moment, channel, _outside in MOMENTS[:8]:
        apply_at(forms["HKC"], moment, channel)
    apply_at(forms["JMN"], jst(2023, 12, 1, 9, 0))
    good = snapshot()
    DailyApplications.objects.filter(day=dt.date(2023, 11, 6)).update(count=99)
    DailyApplications.objects.filter(day=dt.date(2023, 11, 11)).delete()
    december = DailyApplications.objects.get(day=dt.date(2023, 12, 1))
    result = aggregates.rebuild(dt.date(2023, 11, 6), dt.date(2023, 11, 30))
    assert snapshot() == good
    assert result["applications"] == 8
    assert DailyApplications.objects.get(day=dt.date(2023, 12, 1)).pk == december.pk  # untouched


def test_a_new_closure_day_recounts_that_day(forms):
    apply_at(forms["HKC"], jst(2023, 11, 24, 10, 0))  # Friday, inside office hours
    apply_at(forms["HKC"], jst(2023, 11, 27, 10, 0))  # Monday
    assert DailyApplications.objects.get(day=dt.date(2023, 11, 24)).outside_hours is False
    closure = ClosureDay.objects.create(date=dt.date(2023, 11, 24), reason="臨時休庁")
    assert DailyApplications.objects.get(day=dt.date(2023, 11, 24)).outside_hours is True
    assert snapshot() == direct_count()
    closure.date = dt.date(2023, 11, 27)  # moved: both days are recounted
    closure.save()
    assert DailyApplications.objects.get(day=dt.date(2023, 11, 24)).outside_hours is False
    assert DailyApplications.objects.get(day=dt.date(2023, 11, 27)).outside_hours is True
    closure.delete()
    assert snapshot() == direct_count()
    assert not DailyApplications.objects.filter(outside_hours=True).exists()


def test_after_hours_reads_the_daily_rows(forms):
    for code, moment, channel, _outside in MOMENTS:
        apply_at(forms[code], moment, channel)
    start, end = dt.date(2023, 11, 1), dt.date(2023, 11, 30)
    online = [m for m in MOMENTS if start <= m[1].date() <= end and m[2] == "online"]
    found = aggregates.after_hours(start, end)
    outside = sum(1 for m in online if m[3])
    assert found["overall"] == {"applications": len(online), "outside_hours": outside, "share": pct(outside, len(online))}
    assert found["overall"] == {"applications": 9, "outside_hours": 7, "share": Decimal("77.8")}
    assert [d["department"] for d in found["departments"]] == ["こども部", "市民部"]  # catalog order
    kodomo, shimin = found["departments"]
    assert (kodomo["applications"], kodomo["outside_hours"], kodomo["share"]) == (7, 5, Decimal("71.4"))
    assert (shimin["applications"], shimin["outside_hours"], shimin["share"]) == (2, 2, Decimal("100.0"))
    assert [(p["code"], p["applications"]) for p in found["procedures"]] == [("HKC", 7), ("JMN", 2)]
    # The counter application is not part of the share; with every channel it is.
    everything = aggregates.after_hours(start, end, channels=("online", "counter"))
    assert everything["overall"]["applications"] == 10
    # One department only (a department head's dashboard).
    mine = aggregates.after_hours(start, end, department=Department.objects.get(name="市民部"))
    assert mine["overall"]["applications"] == 2 and [p["code"] for p in mine["procedures"]] == ["JMN"]
    # Nothing in the period: no share rather than 0 %.
    empty = kpi_afterhours.section(dt.date(2022, 4, 1), dt.date(2023, 3, 31))
    assert empty["overall"] == {"applications": 0, "outside_hours": 0, "share": None}
    assert empty["departments"] == [] and empty["procedures"] == []


def _outside_by_hand(moment: dt.datetime) -> bool:
    """The rule written out again without the calendar module, to check the generator."""
    local = moment.astimezone(JST)
    day = local.date()
    closed = day.weekday() >= 5 or jpholiday.is_holiday(day) or (day.month, day.day) >= (12, 29) or (day.month, day.day) <= (1, 3)
    return closed or local.time() < dt.time(8, 30) or local.time() >= dt.time(17, 15)


def test_domain_example_after_school_club_share(forms, tmp_path):
    """放課後児童クラブ, 2023-11-06..30: 2,791 online applications, 1,930 outside office hours
    → 69.2 % (1,930 ÷ 2,791 = 69.15…%, half-up to 0.1). The applications come as a log of
    another e-application system; the share is computed, never copied."""
    rng = random.Random(20231106)
    window = [dt.date(2023, 11, 6) + dt.timedelta(days=i) for i in range(25)]
    business = [d for d in window if d.weekday() < 5 and d != dt.date(2023, 11, 23)]
    closed = [d for d in window if d not in business]
    assert len(business) == calendar.business_days_between(window[0], window[-1]) == 18

    def at(day, seconds):
        return dt.datetime.combine(day, dt.time(), tzinfo=JST) + dt.timedelta(seconds=seconds)

    opens, closes = 8 * 3600 + 30 * 60, 17 * 3600 + 15 * 60
    moments = [at(business[0], opens - 1), at(business[1], closes), at(business[2], opens), at(business[3], closes - 1)]
    while len(moments) < 2791:
        index = len(moments)
        if index < 1930 + 2:  # two of the four above are outside
            if rng.random() < 0.4:
                moments.append(at(rng.choice(closed), rng.randrange(86400)))
            else:
                evening = rng.random() < 0.8
                seconds = rng.randrange(closes, 86400) if evening else rng.randrange(0, opens)
                moments.append(at(rng.choice(business), seconds))
        else:
            moments.append(at(rng.choice(business), rng.randrange(opens, closes)))
    assert sum(_outside_by_hand(m) for m in moments) == 1930

    path = tmp_path / "hkc_log.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["手続名", "申請日時", "申請方法"])
        for moment in moments:
            writer.writerow(["放課後児童クラブ入所申請", f"{moment:%Y/%-m/%-d %H:%M:%S}", "オンライン"])
    result = log_import.import_file(path)
    assert result.created == 2791 and result.matched == 2791

    found = kpi_afterhours.section(dt.date(2023, 11, 6), dt.date(2023, 11, 30))
    assert found["overall"] == {"applications": 2791, "outside_hours": 1930, "share": Decimal("69.2")}
    assert found["departments"] == [{"department": "こども部", "applications": 2791, "outside_hours": 1930, "share": Decimal("69.2")}]
    assert found["procedures"] == [{
        "procedure": "放課後児童クラブ入所申請", "code": "HKC", "department": "こども部",
        "applications": 2791, "outside_hours": 1930, "share": Decimal("69.2"),
    }]
    assert snapshot() == direct_count()
    aggregates.rebuild()
    assert kpi_afterhours.section(dt.date(2023, 11, 6), dt.date(2023, 11, 30))["overall"]["outside_hours"] == 1930


def test_section_keeps_the_top_fifty_procedures(forms, tmp_path):
    path = tmp_path / "many.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["procedure", "submitted_at", "channel", "department"])
        for number in range(1, 61):
            for minute in range(number % 7 + 1):
                writer.writerow([f"他システムの手続{number:02d}", f"2023-11-06 20:{minute:02d}", "online", "総務部"])
        for minute in range(9):  # no 部局 in the log, not in the catalog
            writer.writerow(["部局の書いていない手続", f"2023-11-07 10:{minute:02d}", "online", ""])
    log_import.import_file(path)
    found = kpi_afterhours.section(dt.date(2023, 11, 1), dt.date(2023, 11, 30))
    assert len(found["procedures"]) == 50
    counts = [p["applications"] for p in found["procedures"]]
    assert counts == sorted(counts, reverse=True) and counts[:2] == [9, 7]
    assert found["procedures"][0] == {"procedure": "部局の書いていない手続", "code": None, "department": "部局不明",
                                      "applications": 9, "outside_hours": 0, "share": Decimal("0.0")}
    assert all(p["code"] is None and p["department"] == "総務部" for p in found["procedures"][1:])
    assert [d["department"] for d in found["departments"]] == ["総務部", "部局不明"]
    assert found["overall"]["applications"] == sum(n % 7 + 1 for n in range(1, 61)) + 9
    assert found["office_hours"] == {"opens": "08:30", "closes": "17:15"}
