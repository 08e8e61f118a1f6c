"""Application logs of other e-application systems: the accepted date/time and channel
spellings, naive times in JST, CSV in any encoding and XLSX, all-or-nothing with every
error by row and column, idempotent re-imports (also of identical rows and of overlapping
files), catalog matching by normalised name, and the daily counts kept in step."""

import csv
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook

from tenohira.catalog.models import Department, Procedure, Section
from tenohira.catalog.services import ImportRejected
from tenohira.core import calendar
from tenohira.insights import aggregates
from tenohira.insights.imports import applications as log_import
from tenohira.insights.models import DailyApplications, ExternalApplication

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")


def snapshot() -> dict:
    return {
        (r.day, r.procedure_id, r.procedure_name, r.department, r.channel, r.outside_hours): r.count
        for r in DailyApplications.objects.all()
    }


def write_csv(path, header, rows, encoding="utf-8-sig"):
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def catalog(db):
    kodomo = Department.objects.create(name="こども部", order=1)
    shimin = Department.objects.create(name="市民部", order=2)
    club = Section.objects.create(department=kodomo, name="こども育成課")
    citizens = Section.objects.create(department=shimin, name="市民課")
    return {
        "HKC": Procedure.objects.create(code="HKC", section=club, name="放課後児童クラブ入所申請"),
        "JMN": Procedure.objects.create(code="JMN", section=citizens, name="住民票の写しの交付申請"),
        # The same name in two departments: only 部局 can tell them apart.
        "SHO-K": Procedure.objects.create(code="SHOK", section=club, name="証明書の交付申請"),
        "SHO-S": Procedure.objects.create(code="SHOS", section=citizens, name="証明書の交付申請"),
    }


SPELLINGS = [
    # (cell, the moment it means)
    ("2023-11-06 17:20", dt.datetime(2023, 11, 6, 17, 20, tzinfo=JST)),
    ("2023/11/6 17:20:00", dt.datetime(2023, 11, 6, 17, 20, tzinfo=JST)),
    ("2023-11-06T17:20:00+09:00", dt.datetime(2023, 11, 6, 17, 20, tzinfo=JST)),
    ("2023-11-06T08:20:00Z", dt.datetime(2023, 11, 6, 17, 20, tzinfo=JST)),
    ("2023-11-06T03:20:00-05:00", dt.datetime(2023, 11, 6, 17, 20, tzinfo=JST)),
    ("２０２３／１１／６　１７：２０", dt.datetime(2023, 11, 6, 17, 20, tzinfo=JST)),
    ("令和5年11月6日 8:29:59", dt.datetime(2023, 11, 6, 8, 29, 59, tzinfo=JST)),
    ("令和5年11月6日17時15分", dt.datetime(2023, 11, 6, 17, 15, tzinfo=JST)),
    ("R5.11.6 17:14:59.5", dt.datetime(2023, 11, 6, 17, 14, 59, 500000, tzinfo=JST)),
    (dt.datetime(2023, 11, 6, 8, 30), dt.datetime(2023, 11, 6, 8, 30, tzinfo=JST)),  # an XLSX cell
]


@pytest.mark.parametrize(("cell", "moment"), SPELLINGS)
def test_date_time_spellings(cell, moment):
    assert log_import.parse_moment(cell) == moment


@pytest.mark.parametrize(("cell", "message"), [
    ("2023-11-06", "時刻がありません"),
    (dt.date(2023, 11, 6), "時刻がありません"),
    ("2023-11-31 10:00", "存在しない日付"),
    ("2023-11-06 24:00", "時刻が正しくありません"),
    ("11/6 17:20", "読み取れません"),
    ("", "必須"),
    ("令和元年4月30日 10:00", "令和の期間にない"),
])
def test_date_time_refused(cell, message):
    with pytest.raises(ValueError, match=message):
        log_import.parse_moment(cell)


def test_import_counts_and_matches(catalog, tmp_path):
    path = write_csv(tmp_path / "log.csv", ["手続名", "申請日時", "申請方法", "申請者"], [
        ["放課後児童クラブ入所申請", "2023-11-06 17:20", "オンライン", "山田"],
        ["放課後児童クラブ 入所申請", "2023/11/6 8:29:59", "電子申請", "佐藤"],  # a space: same procedure
        ["放課後児童ｸﾗﾌﾞ入所申請", "2023-11-06 12:00", "ｵﾝﾗｲﾝ", "鈴木"],  # half-width kana
        ["住民票の写しの交付申請", "2023-11-06T10:00:00+09:00", "窓口", "田中"],
        ["粗大ごみ収集申込", "2023-11-11 10:00", "online", "伊藤"],  # not in the catalog
        ["証明書の交付申請", "2023-11-06 20:00", "郵送", "加藤"],  # two in the catalog, no 部局
    ])
    result = log_import.import_file(path)
    assert (result.rows, result.created, result.already_imported, result.matched) == (6, 6, 0, 3 + 1)
    assert result.unmatched_names == ["粗大ごみ収集申込"]
    assert result.ambiguous_names == ["証明書の交付申請"]
    assert result.ignored_columns == ["申請者"]
    assert result.source_format == "csv-utf-8-sig"
    assert "新規 6 件" in result.summary()
    hkc = ExternalApplication.objects.filter(procedure=catalog["HKC"]).order_by("submitted_at")
    assert [e.submitted_at for e in hkc] == [
        dt.datetime(2023, 11, 5, 23, 29, 59, tzinfo=dt.UTC),  # naive times are JST
        dt.datetime(2023, 11, 6, 3, 0, tzinfo=dt.UTC),
        dt.datetime(2023, 11, 6, 8, 20, tzinfo=dt.UTC),
    ]
    assert sorted(ExternalApplication.objects.values_list("channel", flat=True)) == [
        "counter", "mail", "online", "online", "online", "online"]
    kept = snapshot()
    assert kept[(dt.date(2023, 11, 6), catalog["HKC"].pk, "放課後児童クラブ入所申請", "こども部", "online", True)] == 2
    assert kept[(dt.date(2023, 11, 6), catalog["HKC"].pk, "放課後児童クラブ入所申請", "こども部", "online", False)] == 1
    assert kept[(dt.date(2023, 11, 11), None, "粗大ごみ収集申込", "", "online", True)] == 1
    assert kept[(dt.date(2023, 11, 6), None, "証明書の交付申請", "", "mail", True)] == 1
    aggregates.rebuild()
    assert snapshot() == kept


def test_reimport_adds_nothing(catalog, tmp_path):
    rows = [
        ["放課後児童クラブ入所申請", "2023-11-06 20:15", "オンライン"],
        ["放課後児童クラブ入所申請", "2023-11-06 20:15", "オンライン"],  # two in the same minute
        ["住民票の写しの交付申請", "2023-11-07 09:00", "窓口"],
    ]
    path = write_csv(tmp_path / "log.csv", ["手続名", "申請日時", "申請方法"], rows)
    first = log_import.import_file(path)
    assert (first.created, first.already_imported) == (3, 0)
    kept = snapshot()
    again = log_import.import_file(path)
    assert (again.created, again.already_imported) == (0, 3)
    assert snapshot() == kept
    # The same rows written another way (ISO with offset, English headers, CP932) are the same rows.
    other = write_csv(tmp_path / "log_en.csv", ["procedure", "submitted_at", "channel"], [
        ["放課後児童クラブ入所申請", "2023-11-06T11:15:00Z", "online"],
        ["放課後児童クラブ入所申請", "2023-11-06T20:15:00+09:00", "ONLINE"],
        ["住民票の写しの交付申請", "2023/11/7 9:00:00", "counter"],
        ["住民票の写しの交付申請", "2023/11/8 9:00:00", "counter"],  # new
    ], encoding="cp932")
    overlap = log_import.import_file(other)
    assert (overlap.created, overlap.already_imported, overlap.source_format) == (1, 3, "csv-cp932")
    assert ExternalApplication.objects.count() == 4
    assert sum(snapshot().values()) == 4
    aggregates.rebuild()
    assert sum(snapshot().values()) == 4


def test_xlsx_with_date_cells_and_department(catalog, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["手続名", "申請日時", "申請方法", "部局", "受付番号"])
    sheet.append(["証明書の交付申請", dt.datetime(2023, 11, 6, 17, 15), "オンライン", "市民部", "A-1"])
    sheet.append(["証明書の交付申請", dt.datetime(2023, 11, 6, 17, 15), "オンライン", "市民部", "A-2"])  # another application
    sheet.append(["犬の登録", dt.datetime(2023, 11, 6, 10, 0), "窓口", "環境部", "B-1"])
    path = tmp_path / "log.xlsx"
    workbook.save(path)
    result = log_import.import_file(path)
    assert (result.created, result.matched, result.source_format) == (3, 2, "xlsx")
    assert ExternalApplication.objects.filter(procedure=catalog["SHO-S"]).count() == 2
    dog = ExternalApplication.objects.get(procedure_name="犬の登録")
    assert dog.procedure is None and dog.department == "環境部"
    assert DailyApplications.objects.get(procedure=catalog["SHO-S"]).count == 2
    assert DailyApplications.objects.get(procedure_name="犬の登録").department == "環境部"
    assert log_import.import_file(path).created == 0


def test_every_error_is_reported_and_nothing_is_applied(catalog, tmp_path):
    path = write_csv(tmp_path / "bad.csv", ["手続名", "申請日時", "申請方法"], [
        ["放課後児童クラブ入所申請", "2023-11-06 17:20", "オンライン"],  # row 2: fine
        ["", "2023-11-06 17:20", "オンライン"],  # row 3
        ["放課後児童クラブ入所申請", "2023-11-06", "オンライン"],  # row 4
        ["放課後児童クラブ入所申請", "2023-11-06 17:20", "伝書鳩"],  # row 5
        ["放課後児童クラブ入所申請", "2099-01-01 10:00", ""],  # row 6: two errors
        ["放課後児童クラブ入所申請", "2023-11-06 17:20", "オンライン", "はみ出し"],  # row 7
    ])
    with pytest.raises(ImportRejected) as caught:
        log_import.import_file(path)
    found = [(e.row, e.column) for e in caught.value.errors]
    assert found == [(3, "手続名"), (4, "申請日時"), (5, "申請方法"), (6, "申請日時"), (6, "申請方法"), (7, "")]
    messages = [str(e) for e in caught.value.errors]
    assert "時刻がありません" in messages[1] and "伝書鳩" in messages[2] and "未来" in messages[3]
    assert ExternalApplication.objects.count() == 0
    assert DailyApplications.objects.count() == 0


def test_missing_columns_and_unreadable_files(db, tmp_path):
    path = write_csv(tmp_path / "columns.csv", ["手続名", "日付"], [["放課後児童クラブ入所申請", "2023-11-06"]])
    with pytest.raises(ImportRejected) as caught:
        log_import.import_file(path)
    assert [(e.row, e.column) for e in caught.value.errors] == [(1, "申請日時"), (1, "申請方法")]
    both = write_csv(tmp_path / "both.csv", ["手続名", "procedure", "申請日時", "申請方法"], [["a", "a", "2023-11-06 10:00", "online"]])
    with pytest.raises(ImportRejected) as caught:
        log_import.import_file(both)
    assert [(e.row, e.column) for e in caught.value.errors] == [(1, "procedure")]
    empty = write_csv(tmp_path / "empty.csv", ["手続名", "申請日時", "申請方法"], [])
    with pytest.raises(ImportRejected, match="1 件"):
        log_import.import_file(empty)
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("手続名,申請日時,申請方法\n".encode("utf-16"))
    with pytest.raises(ImportRejected) as caught:
        log_import.import_file(utf16)
    assert "文字コード" in str(caught.value.errors[0])


def test_office_hours_flags_of_imported_rows(catalog, tmp_path):
    rows = [[name_time[0], name_time[1], "オンライン"] for name_time in (
        ("放課後児童クラブ入所申請", "2023-11-06 08:29:59"),
        ("放課後児童クラブ入所申請", "2023-11-06 08:30:00"),
        ("放課後児童クラブ入所申請", "2023-11-06 17:14:59"),
        ("放課後児童クラブ入所申請", "2023-11-06 17:15:00"),
        ("放課後児童クラブ入所申請", "2024-02-12 10:00:00"),  # 振替休日
        ("放課後児童クラブ入所申請", "2023-12-29 10:00:00"),  # 年末年始 (Friday)
        ("放課後児童クラブ入所申請", "2024-02-29 10:00:00"),  # leap day
    )]
    log_import.import_file(write_csv(tmp_path / "log.csv", ["手続名", "申請日時", "申請方法"], rows))
    for e in ExternalApplication.objects.all():
        row = DailyApplications.objects.get(day=e.submitted_at.astimezone(JST).date(), procedure=e.procedure,
                                            outside_hours=calendar.is_outside_office_hours(e.submitted_at))
        assert row.count >= 1
    flags = {(r.day, r.outside_hours): r.count for r in DailyApplications.objects.all()}
    assert flags == {
        (dt.date(2023, 11, 6), True): 2, (dt.date(2023, 11, 6), False): 2,
        (dt.date(2024, 2, 12), True): 1, (dt.date(2023, 12, 29), True): 1, (dt.date(2024, 2, 29), False): 1,
    }
