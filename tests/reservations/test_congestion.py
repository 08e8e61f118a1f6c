"""窓口の混雑状況 (/congestion/) and the panel on a counter procedure's page.

The clock is frozen through reservations.congestion.now (the one clock the page, the
readings and the API read): Wednesday 2025-06-11 is an ordinary business day."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client

from tenohira.core.fiscal import JST
from tenohira.reservations import congestion
from tenohira.reservations.models import Counter, QueueReading, Resource, TypicalCongestion

pytestmark = pytest.mark.django_db

WEDNESDAY_10_15 = dt.datetime(2025, 6, 11, 10, 15, tzinfo=JST)


@pytest.fixture
def clock(monkeypatch):
    """clock(moment) freezes congestion.now at `moment` (JST-aware)."""

    def freeze(moment: dt.datetime) -> dt.datetime:
        monkeypatch.setattr(congestion, "now", lambda: moment)
        return moment

    freeze(WEDNESDAY_10_15)
    return freeze


@pytest.fixture
def counter(facility, section):
    return Counter.objects.create(code="shimin", name="市民課 住民記録窓口", facility=facility, section=section,
                                  minutes_per_person=5)


def typical_pattern(counter: Counter) -> None:
    """Wednesday: 9時台 busy, 10時台 busiest, 14時台 quiet; Monday too (another weekday)."""
    rows = [congestion.TypicalRow(2, 9, Decimal(12)), congestion.TypicalRow(2, 10, Decimal(20)),
            congestion.TypicalRow(2, 14, Decimal(3)), congestion.TypicalRow(0, 10, Decimal(8))]
    congestion.store_typical(counter, rows, basis="テスト")


def text_of(response) -> str:
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def page() -> str:
    response = Client().get("/congestion/")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    return text_of(response)


def test_a_current_reading_shows_the_waiting_count_and_the_estimated_wait(clock, counter):
    congestion.record_reading(counter, waiting=7, source=QueueReading.Source.MACHINE,
                              at=WEDNESDAY_10_15 - dt.timedelta(minutes=3))
    text = page()
    assert "市民課 住民記録窓口" in text
    assert "待っている人 7人" in text and "待ち時間の目安 約35分" in text  # 7 × 5 minutes
    assert "10:12 現在" in text  # shown in JST
    assert "営業時間外" not in text


def test_the_latest_reading_wins_and_the_machines_minutes_are_shown_as_sent(clock, counter):
    congestion.record_reading(counter, waiting=2, source="machine", at=WEDNESDAY_10_15 - dt.timedelta(minutes=9))
    congestion.record_reading(counter, waiting=11, wait_minutes=40, source="machine",
                              at=WEDNESDAY_10_15 - dt.timedelta(minutes=1))
    text = page()
    assert "待っている人 11人" in text and "約40分" in text and "10:14 現在" in text


def test_a_stale_reading_gives_way_to_the_typical_level(clock, counter):
    congestion.record_reading(counter, waiting=9, source="machine", at=WEDNESDAY_10_15 - dt.timedelta(minutes=16))
    typical_pattern(counter)
    text = page()
    assert "待っている人 9人" not in text
    assert "いつもの混み具合（目安）: 大変混んでいます" in text  # 10時台 is the busiest hour


def test_the_current_window_follows_the_setting(clock, counter, settings):
    settings.CONGESTION_CURRENT_MINUTES = 30
    congestion.record_reading(counter, waiting=9, source="machine", at=WEDNESDAY_10_15 - dt.timedelta(minutes=16))
    assert "待っている人 9人" in page()


def test_the_typical_table_lists_todays_weekday_by_hour(clock, counter):
    typical_pattern(counter)
    html = Client().get("/congestion/").content.decode()
    table = text_of(type("R", (), {"content": html[html.index("<table"):html.index("</table>")].encode()})())
    assert "水曜日のいつもの混み具合（目安）" in table
    assert "9時台 混んでいます" in table and "10時台 大変混んでいます" in table and "14時台 空いています" in table


def test_no_data_says_so(clock, counter):
    assert "この窓口の混雑の情報はまだありません。" in page()


@pytest.mark.parametrize(("moment", "reason"), [
    (dt.datetime(2025, 6, 11, 17, 15, tzinfo=JST), None),  # closing time is outside
    (dt.datetime(2025, 6, 11, 8, 29, tzinfo=JST), None),
    (dt.datetime(2025, 6, 14, 10, 0, tzinfo=JST), "土曜日"),
    (dt.datetime(2025, 7, 21, 10, 0, tzinfo=JST), "海の日"),
    (dt.datetime(2025, 12, 30, 10, 0, tzinfo=JST), "年末年始"),
])
def test_outside_office_hours_the_page_says_so_whatever_the_readings(clock, counter, moment, reason):
    clock(moment)
    congestion.record_reading(counter, waiting=4, source="machine", at=moment - dt.timedelta(minutes=1))
    text = page()
    assert "営業時間外" in text
    assert "待っている人 4人" not in text
    assert "08:30〜17:15" in text
    if reason:
        assert f"本日は閉庁日です（{reason}）" in text


def test_office_hours_come_from_the_settings(clock, counter, settings):
    settings.OFFICE_CLOSES = "10:00"
    assert "営業時間外" in page()
    settings.OFFICE_CLOSES = "17:15"
    assert "営業時間外" not in page()


def test_an_inactive_counter_is_not_listed(clock, counter):
    Counter.objects.filter(pk=counter.pk).update(active=False)
    assert "市民課 住民記録窓口" not in page()


def test_the_home_page_links_the_congestion_page(db):
    assert 'href="/congestion/"' in Client().get("/").content.decode()


# --- the procedure page -----------------------------------------------------------------


@pytest.fixture
def procedure(section):
    from tenohira.catalog.models import Procedure

    return Procedure.objects.create(code="SMN-010", section=section, name="転入届")


def test_a_counter_procedure_shows_the_counters_status(clock, counter, procedure):
    counter.procedures.add(procedure)
    congestion.record_reading(counter, waiting=3, source="staff", at=WEDNESDAY_10_15)
    text = text_of(Client().get("/procedures/SMN-010/"))
    assert "市民課 住民記録窓口の混雑状況" in text
    assert "待っている人: 3人、待ち時間の目安: 約15分（10:15 現在）" in text
    html = Client().get("/procedures/SMN-010/").content.decode()
    assert 'href="/congestion/#counter-shimin"' in html
    assert "来庁日時を予約する" not in html  # no 来庁予約 resource yet


def test_the_panel_says_outside_hours_and_offers_the_counter_booking(clock, counter, procedure, make_resource):
    clock(dt.datetime(2025, 6, 14, 10, 0, tzinfo=JST))
    counter.procedures.add(procedure)
    make_resource("hikkoshi", name="引越し手続きの来庁予約", kind=Resource.Kind.COUNTER,
                  bring="本人確認書類（マイナンバーカード、運転免許証など）、転出証明書")
    response = Client().get("/procedures/SMN-010/")
    text = text_of(response)
    assert "営業時間外です。本日は閉庁日です（土曜日）。" in text
    assert "来庁予約（引越し手続きの来庁予約）" in text
    assert "持ち物: 本人確認書類（マイナンバーカード、運転免許証など）、転出証明書" in text
    assert "来庁日時を予約する" in text
    assert "/reservations/" in response.content.decode().split("来庁日時を予約する")[0].rsplit("href=", 1)[1]


def test_a_procedure_without_a_counter_has_no_congestion_panel(clock, counter, procedure):
    assert "混雑状況" not in text_of(Client().get("/procedures/SMN-010/"))


# --- typical congestion storage ---------------------------------------------------------


def test_levels_are_relative_to_the_busiest_hour(counter):
    rows = [congestion.TypicalRow(0, hour, Decimal(n)) for hour, n in ((9, 0), (10, 24), (11, 25), (12, 50),
                                                                        (13, 75), (14, 100))]
    assert congestion.store_typical(counter, rows, basis="POS") == 6
    levels = dict(TypicalCongestion.objects.filter(counter=counter).values_list("hour", "level"))
    assert levels == {9: 0, 10: 0, 11: 1, 12: 2, 13: 3, 14: 3}


def test_storing_again_replaces_the_counters_rows(counter):
    congestion.store_typical(counter, [{"weekday": 0, "hour": 9, "visitors": "3.25"}], basis="a")
    congestion.store_typical(counter, [{"weekday": 1, "hour": 10, "visitors": 4}], basis="b")
    row = TypicalCongestion.objects.get(counter=counter)
    assert (row.weekday, row.hour, row.visitors, row.basis) == (1, 10, Decimal("4.0"), "b")


@pytest.mark.parametrize("bad", [
    {"weekday": 7, "hour": 9, "visitors": 1}, {"weekday": 0, "hour": 24, "visitors": 1},
    {"weekday": 0, "hour": 9, "visitors": -1}, {"weekday": 0, "hour": 9, "visitors": "NaN"},
    {"weekday": 0, "hour": 9}, {"weekday": "x", "hour": 9, "visitors": 1},
])
def test_bad_rows_are_refused_and_nothing_changes(counter, bad):
    congestion.store_typical(counter, [{"weekday": 0, "hour": 9, "visitors": 3}], basis="a")
    with pytest.raises(congestion.Invalid):
        congestion.store_typical(counter, [{"weekday": 2, "hour": 10, "visitors": 5}, bad], basis="b")
    assert TypicalCongestion.objects.get(counter=counter).basis == "a"


def test_readings_are_bounded_here_too(clock, counter):
    for waiting, minutes in ((-1, None), (1000, None), (1, 601), (True, None), (1.5, None)):
        with pytest.raises(congestion.Invalid):
            congestion.record_reading(counter, waiting=waiting, wait_minutes=minutes, source="staff")
    assert not QueueReading.objects.exists()


def test_bring_list_keeps_brackets_together(make_resource):
    resource = make_resource(bring="本人確認書類（マイナンバーカード、運転免許証など）、転出証明書\n委任状")
    assert congestion.bring_list(resource) == ["本人確認書類（マイナンバーカード、運転免許証など）", "転出証明書", "委任状"]
