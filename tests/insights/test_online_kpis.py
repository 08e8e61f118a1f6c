"""手続棚卸 and カウンターレス KPIs: the real Koriyama FY2023 table reproduced from its counts,
the published rate that contradicts them flagged, per-procedure inventories, what next and
the coverage simulator; imports all-or-nothing and idempotent."""

import csv
import datetime as dt
import io
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from tenohira.catalog.models import Channel, Department, Procedure, ProcedureChannel, Section
from tenohira.catalog.services import ImportRejected
from tenohira.forms.models import FormVersion
from tenohira.forms.services import publish, set_window
from tenohira.insights import kpi_online, report
from tenohira.insights.imports import inventory
from tenohira.insights.models import DailyApplications, InventoryDepartment, InventoryProcedure

pytestmark = pytest.mark.django_db

SHARED_DATA = Path(__file__).resolve().parent / "data"  # the real files the figures come from


@pytest.fixture
def shared_file(tmp_path):
    """shared_file(name) -> a copy of tests/insights/data/<name> in the test's own directory."""

    def copy(name: str) -> Path:
        source = SHARED_DATA / name
        assert source.is_file(), f"the real data file is missing: {source}"
        target = tmp_path / name
        shutil.copyfile(source, target)
        return target

    return copy


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def file_rows() -> list[dict]:
    with open(SHARED_DATA / "online_by_department_fy2023.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def half_up(numerator: int, denominator: int) -> float:
    """The rate computed here independently of the code under test (integer arithmetic)."""
    tenths, remainder = divmod(numerator * 1000, denominator)
    if 2 * remainder >= denominator:
        tenths += 1
    return tenths / 10


@pytest.fixture
def fy2023(shared_file):
    return inventory.import_file(shared_file("online_by_department_fy2023.csv"), fiscal_year=2023)


# --- the real table ---------------------------------------------------------------------------


def test_the_real_data_files_are_inside_the_repository():
    # A fresh clone must run every test: nothing is read from outside the checkout.
    repository = Path(__file__).resolve().parents[2]
    assert (repository / "pyproject.toml").is_file()
    assert SHARED_DATA.is_relative_to(repository)
    for name in ("online_by_department_fy2023.csv", "target_procedures_fy2024.csv", "time_savings_fy2023.csv",
                 "cashless_by_facility_2023.csv", "printouts_by_department_fy2022_fy2023.csv"):
        assert (SHARED_DATA / name).is_file(), name


def test_importing_the_fy2023_table_stores_both_years(fy2023):
    assert fy2023.shape == inventory.DEPARTMENTS
    assert fy2023.fiscal_years == [2023, 2022]
    assert (fy2023.created, fy2023.updated, fy2023.unchanged) == (40, 0, 0)
    assert InventoryDepartment.objects.filter(fiscal_year=2023).count() == 20
    assert InventoryDepartment.objects.filter(fiscal_year=2022).count() == 20
    school = InventoryDepartment.objects.get(fiscal_year=2023, department="学校教育部")
    assert (school.procedures, school.online_procedures, school.published_online_rate) == (9, 3, Decimal("0.0"))
    previous = InventoryDepartment.objects.get(fiscal_year=2022, department="学校教育部")
    assert (previous.procedures, previous.online_procedures, previous.annual_applications,
            previous.covered_applications) == (13, 3, 5342, 15)
    assert previous.published_online_rate is None  # the file publishes the current year's rates only


def test_the_report_reproduces_every_department_row(fy2023):
    online = report.build(fiscal_year=2023)["online"]
    expected = file_rows()
    assert [row["department"] for row in online["departments"]] == [row["department"] for row in expected]
    for got, row in zip(online["departments"], expected, strict=True):
        n = {key: int(value) for key, value in row.items() if key != "department" and not key.startswith("published")}
        assert got["current"] == {
            "procedures": n["procedures"],
            "online_procedures": n["online_procedures"],
            "online_rate": half_up(n["online_procedures"], n["procedures"]),
            "annual_applications": n["annual_applications"],
            "covered_applications": n["covered_applications"],
            "coverage_rate": half_up(n["covered_applications"], n["annual_applications"]),
            "online_applications": None, "online_use_rate": None,
        }, row["department"]
        assert got["previous"] == {
            "procedures": n["prev_procedures"],
            "online_procedures": n["prev_online_procedures"],
            "online_rate": half_up(n["prev_online_procedures"], n["prev_procedures"]),
            "annual_applications": n["prev_annual_applications"],
            "covered_applications": n["prev_covered_applications"],
            "coverage_rate": half_up(n["prev_covered_applications"], n["prev_annual_applications"]),
            "online_applications": None, "online_use_rate": None,
        }, row["department"]
        assert got["difference"]["procedures"] == n["procedures"] - n["prev_procedures"]
        assert got["difference"]["online_procedures"] == n["online_procedures"] - n["prev_online_procedures"]
        assert got["difference"]["annual_applications"] == n["annual_applications"] - n["prev_annual_applications"]
        assert got["difference"]["covered_applications"] == n["covered_applications"] - n["prev_covered_applications"]
        assert got["published"] == {
            "online_rate": float(row["published_online_rate_pct"]),
            "coverage_rate": float(row["published_coverage_rate_pct"]),
            "online_use_rate": None,  # the FY2023 table prints no online applications
        }
        # Every published figure agrees with its counts except the two flagged below.
        if row["department"] not in ("学校教育部", "教育委員会"):
            assert got["current"]["online_rate"] == float(row["published_online_rate_pct"]), row["department"]
            assert got["flags"] == []
        assert got["current"]["coverage_rate"] == float(row["published_coverage_rate_pct"]), row["department"]


def test_a_few_department_rows_by_hand(fy2023):
    rows = {row["department"]: row for row in report.build(fiscal_year=2023)["online"]["departments"]}
    citizens = rows["市民部"]
    assert citizens["current"]["online_rate"] == 28.1 and citizens["current"]["coverage_rate"] == 66.5
    assert citizens["difference"] == {
        "procedures": -6, "online_procedures": -1, "online_rate_points": 0.5,
        "annual_applications": -18800, "covered_applications": -9520, "coverage_rate_points": 0.6,
        "online_applications": None, "online_use_rate_points": None,
    }
    children = rows["こども部"]
    assert children["difference"]["coverage_rate_points"] == 16.3  # 29.709… − 13.402… = 16.306…
    elections = rows["選挙管理委員会"]
    assert elections["current"]["coverage_rate"] == 3.0
    assert elections["difference"]["covered_applications"] == 3300
    assembly = rows["議会事務局"]
    assert assembly["current"]["online_rate"] == 0.0 and assembly["difference"]["online_rate_points"] == 0.0


def test_the_report_reproduces_the_totals(fy2023):
    total = report.build(fiscal_year=2023)["online"]["total"]
    assert total["current"] == {
        "procedures": 1804, "online_procedures": 412, "online_rate": 22.8,
        "annual_applications": 1651938, "covered_applications": 926592, "coverage_rate": 56.1,
        "online_applications": None, "online_use_rate": None,
    }
    assert total["previous"] == {
        "procedures": 1829, "online_procedures": 369, "online_rate": 20.2,
        "annual_applications": 1671015, "covered_applications": 880447, "coverage_rate": 52.7,
        "online_applications": None, "online_use_rate": None,
    }
    assert total["difference"]["coverage_rate_points"] == 3.4
    # Rounded once from the exact rates: 22.838… − 20.175… = 2.663… → 2.7 (not 22.8 − 20.2).
    assert total["difference"]["online_rate_points"] == 2.7
    assert total["difference"]["procedures"] == -25
    assert total["difference"]["online_procedures"] == 43
    assert total["difference"]["annual_applications"] == -19077
    assert total["difference"]["covered_applications"] == 46145


def test_the_school_education_department_printed_as_0_percent_is_flagged(fy2023):
    online = report.build(fiscal_year=2023)["online"]
    flags = {(flag["department"], flag["measure"]): flag for flag in online["flags"]}
    school = flags[("学校教育部", "online_rate")]
    assert school["published"] == 0.0 and school["computed"] == 33.3
    assert (school["numerator"], school["denominator"], school["fiscal_year"]) == (3, 9, 2023)
    assert "学校教育部" in school["message"] and "33.3%" in school["message"] and "0.0%" in school["message"]
    # The file holds a second contradiction: 教育委員会 3 of 14 procedures, printed 42.9%.
    board = flags[("教育委員会", "online_rate")]
    assert (board["published"], board["computed"], board["numerator"], board["denominator"]) == (42.9, 21.4, 3, 14)
    assert set(flags) == {("学校教育部", "online_rate"), ("教育委員会", "online_rate")}
    rows = {row["department"]: row for row in online["departments"]}
    assert rows["学校教育部"]["flags"] == ["online_rate"]
    assert rows["教育委員会"]["flags"] == ["online_rate"]
    # The flagged department's figure is the computed one, never the published one.
    assert rows["学校教育部"]["current"]["online_rate"] == 33.3


def test_a_difference_of_0_05_points_or_less_is_not_flagged(tmp_path):
    path = write_csv(tmp_path / "dept.csv",
                     ["部局", "手続数", "オンライン化手続数", "年間申請件数", "オンライン化手続の申請件数", "公表オンライン化率", "公表カバー率"],
                     [["A部", 3, 1, 2000, 1121, "33.3", "56.1"],     # 33.33… and 56.05 → 56.1 (half-up)
                      ["B部", 3, 2, 2000, 1121, "66.6", "56.0"]])    # 66.7 and 56.1 computed: both off by 0.1
    inventory.import_file(path, fiscal_year=2023)
    flags = kpi_online.section(2023)["flags"]
    assert [(f["department"], f["measure"], f["computed"]) for f in flags] == [
        ("B部", "online_rate", 66.7), ("B部", "coverage_rate", 56.1),
    ]


# --- shapes, encodings, idempotence -------------------------------------------------------------

JAPANESE_HEADER = [
    "部局", "手続数", "オンライン化手続数", "年間申請件数", "オンライン化手続の申請件数",
    "前回手続数", "前回オンライン化手続数", "前回年間申請件数", "前回オンライン化手続の申請件数",
    "公表オンライン化率(%)", "公表カバー率(%)",
]


def test_japanese_headers_in_cp932_and_xlsx_give_the_same_report(tmp_path, fy2023):
    expected = kpi_online.section(2023)
    rows = [list(row.values()) for row in file_rows()]
    InventoryDepartment.objects.all().delete()
    inventory.import_file(write_csv(tmp_path / "sjis.csv", JAPANESE_HEADER, rows, encoding="cp932"), fiscal_year=2023)
    assert kpi_online.section(2023) == expected

    InventoryDepartment.objects.all().delete()
    book = Workbook()
    sheet = book.active
    sheet.append(JAPANESE_HEADER)
    for row in rows:
        sheet.append([row[0], *(int(v) for v in row[1:9]), float(row[9]), float(row[10])])
    book.save(tmp_path / "table.xlsx")
    result = inventory.import_file(tmp_path / "table.xlsx", fiscal_year=2023)
    assert result.source_format == "xlsx"
    assert kpi_online.section(2023) == expected


def test_reimporting_changes_nothing_and_a_changed_file_updates_in_place(shared_file, tmp_path, fy2023):
    before = list(InventoryDepartment.objects.order_by("id").values())
    again = inventory.import_file(shared_file("online_by_department_fy2023.csv"), fiscal_year=2023)
    assert (again.created, again.updated, again.unchanged, again.removed) == (0, 0, 40, 0)
    assert list(InventoryDepartment.objects.order_by("id").values()) == before

    rows = [list(row.values()) for row in file_rows()]
    rows[0][2] = "23"  # 総務部: one more procedure online this year
    changed = inventory.import_file(write_csv(tmp_path / "changed.csv", list(file_rows()[0].keys()), rows), fiscal_year=2023)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 39)
    stored = InventoryDepartment.objects.get(fiscal_year=2023, department="総務部")
    assert stored.online_procedures == 23 and stored.pk == before[0]["id"]
    assert InventoryDepartment.objects.count() == 40


def test_a_department_dropped_from_the_file_is_removed_from_that_year_only(tmp_path, fy2023):
    header = list(file_rows()[0].keys())
    rows = [list(row.values()) for row in file_rows() if row["department"] != "議会事務局"]
    result = inventory.import_file(write_csv(tmp_path / "19.csv", header, rows), fiscal_year=2023)
    assert result.removed == 1
    assert not InventoryDepartment.objects.filter(fiscal_year=2023, department="議会事務局").exists()
    assert InventoryDepartment.objects.filter(fiscal_year=2022, department="議会事務局").exists()
    online = kpi_online.section(2023)
    assert online["departments"][-1]["department"] == "議会事務局"
    assert online["departments"][-1]["current"] is None and online["departments"][-1]["difference"] is None


def test_every_error_is_reported_with_row_and_column_and_nothing_is_applied(tmp_path, fy2023):
    before = list(InventoryDepartment.objects.order_by("id").values())
    header = list(file_rows()[0].keys())
    rows = [
        ["総務部", 70, 22, 17278, 15525, 69, 22, 17278, 15525, "31.4", "89.9"],   # 2: fine
        ["財務部", "六十八", 38, 13781, 9648, 68, 25, 13781, 5612, "", ""],       # 3: not a count
        ["税務部", 91, 92, 175671, 160040, 91, 41, 175671, 133380, "", ""],       # 4: online > procedures
        ["総務部", 1, 0, 1, 0, 1, 0, 1, 0, "", ""],                                 # 5: duplicate department
        ["市民部", 146, 41, 484418, 322056, 152, "", 503218, 331576, "", ""],      # 6: previous half blank
        ["環境部", 164, 2, 38880, 38881, "", "", "", "", "120", "55.75"],          # 7: covered > annual; rates
        ["", 1, 0, 1, 0, "", "", "", "", "", ""],                                   # 8: no department
    ]
    with pytest.raises(ImportRejected) as caught:
        inventory.import_file(write_csv(tmp_path / "bad.csv", header, rows), fiscal_year=2023)
    assert [(e.row, e.column) for e in caught.value.errors] == [
        (3, "procedures"),
        (4, "online_procedures"),
        (5, "department"),
        (6, "prev_online_procedures"),
        (7, "covered_applications"),
        (7, "published_online_rate_pct"),
        (7, "published_coverage_rate_pct"),
        (8, "department"),
    ]
    messages = [str(e) for e in caught.value.errors]
    assert messages[0] == "3行目 「procedures」: 「六十八」は件数（0以上の整数）ではありません。"
    assert "オンライン化手続数（92）が手続数（91）を超えています" in messages[1]
    assert "2行目と同じ部局です" in messages[2]
    assert list(InventoryDepartment.objects.order_by("id").values()) == before


def test_file_level_errors(tmp_path, shared_file):
    with pytest.raises(ImportRejected) as caught:
        inventory.import_file(shared_file("online_by_department_fy2023.csv"))
    assert [str(e) for e in caught.value.errors] == ["ファイル : 部局計の形式では年度の指定（--fy 2023 など）が必要です。"]

    path = write_csv(tmp_path / "h.csv", ["部局", "手続数", "オンライン化手続数", "年間申請件数", "担当者"], [["A部", 1, 0, 5, "x"]])
    with pytest.raises(ImportRejected) as caught:
        inventory.import_file(path, fiscal_year=2023)
    assert [(e.row, e.column, e.message) for e in caught.value.errors] == [
        (1, "担当者", "知らない列です。列名を確認してください。"),
        (1, "オンライン化手続の申請件数", "必須の列がありません。"),
    ]

    path = write_csv(tmp_path / "x.csv", ["名前", "数"], [["a", 1]])
    with pytest.raises(ImportRejected) as caught:
        inventory.import_file(path, fiscal_year=2023)
    assert caught.value.errors[0].row == 1 and "形式がわかりません" in caught.value.errors[0].message
    assert InventoryDepartment.objects.count() == 0


# --- per-procedure inventory ----------------------------------------------------------------------

PROCEDURE_HEADER = ["部局", "所属", "手続名", "オンライン化", "年間申請件数", "オンライン申請件数", "窓口申請件数", "年度"]


def per_procedure_file(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "procedures.csv", PROCEDURE_HEADER, [
        ["市民部", "市民課", "住民票の写し等の交付請求", "オンライン", "50,000", "12000", "38000", "令和5年度"],
        ["市民部", "市民課", "印鑑登録", "窓口", "3000", "", "3000", "令和5年度"],
        ["こども部", "保育課", "保育所等の利用申込", "はい", "2500", "2400", "", "2023"],
        ["市民部", "国民健康保険課", "被保険者関係届", "いいえ", "21000", "", "", "R5"],
        ["こども部", "こども家庭未来課", "こども医療費助成申請", "いいえ", "15000", "", "", "2023年度"],
        ["市民部", "市民課", "住民票の写し等の交付請求", "いいえ", "52000", "", "", "令和4年度"],
        ["市民部", "市民課", "印鑑登録", "いいえ", "3100", "", "", "令和4年度"],
        ["こども部", "保育課", "保育所等の利用申込", "いいえ", "2600", "", "", "令和4年度"],
    ])


def test_per_procedure_rows_give_derived_department_rows(tmp_path):
    result = inventory.import_file(per_procedure_file(tmp_path))
    assert result.shape == inventory.PROCEDURES and result.fiscal_years == [2022, 2023] and result.created == 8
    online = kpi_online.section(2023)
    assert (online["source"], online["previous_source"]) == ("procedures", "procedures")
    rows = {row["department"]: row for row in online["departments"]}
    assert [row["department"] for row in online["departments"]] == ["市民部", "こども部"]
    assert rows["市民部"]["current"] == {
        "procedures": 3, "online_procedures": 1, "online_rate": 33.3,
        "annual_applications": 74000, "covered_applications": 50000, "coverage_rate": 67.6,
        "online_applications": 12000, "online_use_rate": 24.0,  # 12,000 / 50,000
    }
    assert rows["市民部"]["previous"] == {
        "procedures": 2, "online_procedures": 0, "online_rate": 0.0,
        "annual_applications": 55100, "covered_applications": 0, "coverage_rate": 0.0,
        "online_applications": None, "online_use_rate": None,
    }
    assert rows["市民部"]["difference"]["coverage_rate_points"] == 67.6
    assert rows["こども部"]["current"]["online_rate"] == 50.0
    assert rows["こども部"]["current"]["coverage_rate"] == 14.3  # 2,500 / 17,500
    assert rows["こども部"]["published"] is None and online["flags"] == []
    assert online["total"]["current"] == {
        "procedures": 5, "online_procedures": 2, "online_rate": 40.0,
        "annual_applications": 91500, "covered_applications": 52500, "coverage_rate": 57.4,
        "online_applications": 14400, "online_use_rate": 27.4,  # 14,400 / 52,500
    }
    stored = InventoryProcedure.objects.get(fiscal_year=2023, name="住民票の写し等の交付請求")
    assert (stored.online, stored.online_applications, stored.counter_applications) == (True, 12000, 38000)

    again = inventory.import_file(per_procedure_file(tmp_path))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 8)
    assert InventoryProcedure.objects.count() == 8


JST = dt.timezone(dt.timedelta(hours=9))
MINIMAL_FORM = {
    "title": "テスト申請",
    "steps": [{"key": "applicant", "title": "申請者", "fields": [{"key": "name", "type": "text", "label": "氏名"}]}],
}


def catalog_procedure(code: str, name: str, *channels: str, section_name: str = "国民健康保険課") -> Procedure:
    department, _ = Department.objects.get_or_create(name="市民部")
    section, _ = Section.objects.get_or_create(department=department, name=section_name)
    procedure = Procedure.objects.create(code=code, section=section, name=name)
    for kind in channels:
        ProcedureChannel.objects.create(procedure=procedure, kind=kind,
                                        url="https://example.jp/apply" if kind == Channel.EXTERNAL else "")
    return procedure


def published_form(procedure: Procedure, published_at: dt.datetime, *, opens_at=None, closes_at=None) -> None:
    """A form published through the real service, dated as if published at `published_at`."""
    version, _created = publish(procedure, MINIMAL_FORM)
    FormVersion.objects.filter(pk=version.pk).update(published_at=published_at)
    set_window(procedure, opens_at, closes_at)


def received(procedure: Procedure, *days_and_counts) -> None:
    for day, channel, count in days_and_counts:
        DailyApplications.objects.create(
            day=day, fiscal_year=day.year if day.month >= 4 else day.year - 1, procedure=procedure,
            procedure_name=procedure.name, department="市民部", channel=channel, outside_hours=False, count=count,
        )


def test_a_procedure_the_catalog_calls_online_without_a_published_form_is_not_online(tmp_path):
    # The catalog says 「オンライン」 (this platform), but no form was ever published: a resident
    # could not apply online, so headquarters must not be told it is online.
    catalog_procedure("KHO", "被保険者関係届", Channel.PLATFORM, Channel.COUNTER)
    inventory.import_file(write_csv(tmp_path / "p.csv", PROCEDURE_HEADER[:5], [
        ["市民部", "国民健康保険課", "被保険者関係届", "いいえ", "21000"],
        ["市民部", "国民健康保険課", "住民票の写しの交付請求", "はい", "9000"],
    ]), fiscal_year=2023)
    online = report.build(fiscal_year=2023)["online"]
    assert online["total"]["current"]["online_procedures"] == 1
    assert online["total"]["current"]["online_rate"] == 50.0
    assert online["total"]["current"]["coverage_rate"] == 30.0  # 9,000 / 30,000: not 100%
    assert [c["procedure"] for c in report.build(fiscal_year=2023)["next"]["candidates"]] == ["被保険者関係届"]


def test_a_procedure_with_a_form_published_and_open_in_the_year_is_online_with_what_tenohira_received(tmp_path):
    procedure = catalog_procedure("KHO", "被保険者関係届", Channel.PLATFORM)
    published_form(procedure, dt.datetime(2023, 9, 20, 10, 0, tzinfo=JST),
                   opens_at=dt.datetime(2023, 10, 1, tzinfo=JST))
    received(procedure, (dt.date(2023, 10, 2), "online", 300), (dt.date(2023, 10, 7), "online", 120),
             (dt.date(2024, 3, 31), "online", 5), (dt.date(2023, 10, 2), "counter", 999),
             (dt.date(2024, 4, 1), "online", 777))  # the last one: the next fiscal year
    later = catalog_procedure("OLD", "未来の手続", Channel.PLATFORM)
    published_form(later, dt.datetime(2024, 4, 1, 9, 0, tzinfo=JST))  # after the fiscal year
    closed = catalog_procedure("END", "終わった手続", Channel.PLATFORM)
    published_form(closed, dt.datetime(2022, 4, 1, tzinfo=JST), closes_at=dt.datetime(2023, 4, 1, tzinfo=JST))
    external = catalog_procedure("EXT", "マイナポータルの手続", Channel.EXTERNAL)
    inventory.import_file(write_csv(tmp_path / "p.csv", PROCEDURE_HEADER[:6], [
        ["市民部", "国民健康保険課", "被保険者関係届", "いいえ", "21000", ""],
        ["市民部", "国民健康保険課", "未来の手続", "いいえ", "1000", ""],
        ["市民部", "国民健康保険課", "終わった手続", "いいえ", "500", ""],
        ["市民部", "国民健康保険課", "マイナポータルの手続", "いいえ", "400", "90"],
    ]), fiscal_year=2023)
    rows = {r.name: r for r in InventoryProcedure.objects.all()}
    assert rows["被保険者関係届"].procedure == procedure and rows["被保険者関係届"].online is False
    assert rows["マイナポータルの手続"].procedure == external
    citizens = report.build(fiscal_year=2023)["online"]["departments"][0]
    assert citizens["current"] == {
        "procedures": 4, "online_procedures": 2, "online_rate": 50.0,
        "annual_applications": 22900, "covered_applications": 21400, "coverage_rate": 93.4,
        # 425 received here (the counter and the next year's not counted) + 90 from the
        # inventory for the procedure applied for on the national portal.
        "online_applications": 515, "online_use_rate": 2.4,
    }
    # The window closed 2023-04-01 00:00: open for no moment of FY2023 (it starts then).
    assert [c["procedure"] for c in kpi_online.what_next(2023)] == ["未来の手続", "終わった手続"]
    # The same form counts in FY2024, the year it was published.
    assert later.pk in kpi_online._catalog_online(2024, {later.pk})[0]


def test_per_procedure_errors_are_all_reported(tmp_path):
    path = write_csv(tmp_path / "bad.csv", PROCEDURE_HEADER, [
        ["市民部", "市民課", "住民票", "たぶん", "100", "", "", "2023"],
        ["", "市民課", "", "はい", "-5", "x", "", "2023"],
        ["市民部", "市民課", "印鑑登録", "はい", "", "", "", "令和X年度"],
        ["市民部", "市民課", "住民票", "いいえ", "10", "", "", "2023"],
        ["市民部", "市民課", "住民票", "いいえ", "10", "", "", "2023"],
    ])
    with pytest.raises(ImportRejected) as caught:
        inventory.import_file(path)
    assert [(e.row, e.column) for e in caught.value.errors] == [
        (2, "オンライン化"),
        (3, "部局"), (3, "手続名"), (3, "年間申請件数"), (3, "オンライン申請件数"),
        (4, "年度"),  # an empty 年間申請件数 is 0 (a names-only list has none), not an error
        (6, "手続名"),
    ]
    assert caught.value.errors[-1].message == "5行目と同じ年度・部局・所属・手続名です。"
    assert InventoryProcedure.objects.count() == 0

    no_year = write_csv(tmp_path / "noyear.csv", PROCEDURE_HEADER[:5], [["市民部", "市民課", "住民票", "はい", "1"]])
    with pytest.raises(ImportRejected) as caught:
        inventory.import_file(no_year)
    assert "--fy" in caught.value.errors[0].message
    assert inventory.import_file(no_year, fiscal_year=2024).fiscal_years == [2024]

    clash = write_csv(tmp_path / "clash.csv", PROCEDURE_HEADER, [["市民部", "市民課", "住民票2", "はい", "1", "", "", "2023"]])
    with pytest.raises(ImportRejected) as caught:
        inventory.import_file(clash, fiscal_year=2024)
    assert (caught.value.errors[0].row, caught.value.errors[0].column) == (2, "年度")


# --- what next and the simulator ------------------------------------------------------------------


@pytest.fixture
def with_targets(fy2023, shared_file):
    return inventory.import_file(shared_file("target_procedures_fy2024.csv"), fiscal_year=2023)


def test_the_target_list_imports_as_per_procedure_candidates(with_targets):
    assert with_targets.shape == inventory.PROCEDURES and with_targets.created == 43
    # The year's KPIs stay the department totals; the list only feeds "what next".
    online = kpi_online.section(2023)
    assert online["source"] == "departments"
    assert online["total"]["current"]["procedures"] == 1804


def test_what_next_ranks_by_annual_applications_with_the_coverage_each_adds(with_targets):
    ranked = kpi_online.what_next(2023)
    assert len(ranked) == 43
    assert [r["rank"] for r in ranked] == list(range(1, 44))
    volumes = [r["annual_applications"] for r in ranked]
    assert volumes == sorted(volumes, reverse=True)
    first, second, third = ranked[:3]
    assert (first["department"], first["section"], first["procedure"]) == ("保健福祉部", "障がい福祉課", "重度心身障害者医療費助成申請")
    assert first["annual_applications"] == 132000
    assert first["coverage_gain_points"] == 8.0             # 132,000 / 1,651,938 = 7.99…%
    assert first["cumulative_coverage_rate"] == 64.1       # (926,592 + 132,000) / 1,651,938
    assert (second["procedure"], second["coverage_gain_points"], second["cumulative_coverage_rate"]) == (
        "個人番号カード交付・電子証明書発行通知書兼照会", 1.6, 65.7)
    assert (third["procedure"], third["annual_applications"]) == ("被保険者関係届", 21000)
    assert ranked[-1]["annual_applications"] == 6
    assert ranked[-1]["cumulative_coverage_rate"] == 73.3


def test_the_default_simulation_puts_the_top_43_online(with_targets):
    nxt = report.build(fiscal_year=2023)["next"]
    assert nxt["base"] == {"annual_applications": 1651938, "covered_applications": 926592, "coverage_rate": 56.1}
    # The 43 listed procedures add 284,185 applications: 73.3%, not the 81.7% the materials
    # state for their +43 target (that figure is not reproducible from this list).
    assert nxt["simulation"] == {
        "size": 43, "procedures": 43, "added_applications": 284185,
        "covered_applications": 1210777, "coverage_rate": 73.3, "gain_points": 17.2,
    }


def test_simulate_by_names_and_ids(with_targets):
    assert kpi_online.simulate(2023, []) == Decimal("56.1")
    assert kpi_online.simulate(2023, ["重度心身障害者医療費助成申請"]) == Decimal("64.1")
    mynumber = InventoryProcedure.objects.get(fiscal_year=2023, name="個人番号カード交付・電子証明書発行通知書兼照会")
    # 926,592 + 132,000 + 26,900 = 1,085,492 → 65.71…%; a name and an id, a repeat counted once
    assert kpi_online.simulate(2023, ["重度心身障害者医療費助成申請", mynumber.pk, str(mynumber.pk)]) == Decimal("65.7")
    assert kpi_online.simulation(2023, ["傍聴券"])["added_applications"] == 500
    with pytest.raises(kpi_online.UnknownProcedure) as caught:
        kpi_online.simulate(2023, ["存在しない手続", 999999])
    assert "「存在しない手続」" in str(caught.value) and "id 999999" in str(caught.value)


def test_a_procedure_already_online_adds_nothing(tmp_path):
    inventory.import_file(write_csv(tmp_path / "p.csv", PROCEDURE_HEADER[:5], [
        ["市民部", "市民課", "A", "はい", "300"], ["市民部", "市民課", "B", "いいえ", "100"],
        ["市民部", "市民課", "C", "いいえ", "600"],
    ]), fiscal_year=2023)
    assert kpi_online.simulate(2023, ["A"]) == Decimal("30.0")
    assert kpi_online.simulate(2023, ["A", "B"]) == Decimal("40.0")
    assert [c["procedure"] for c in kpi_online.what_next(2023)] == ["C", "B"]
    assert kpi_online.next_section(2023)["simulation"]["coverage_rate"] == 100.0
