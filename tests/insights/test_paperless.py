"""ペーパーレス: printout imports (monthly rows and period totals; all or nothing,
idempotent) and the report's `paperless` section, on the city's real FY2022/FY2023 table
and on generated monthly usage."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from django.test import override_settings
from openpyxl import Workbook

from tenohira.catalog.services import ImportRejected
from tenohira.insights import kpi_paperless
from tenohira.insights.imports import printouts
from tenohira.insights.models import PrinterPeriodTotal, PrinterUsage

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parent / "data"  # the real files the figures come from
REAL_TOTALS = DATA / "printouts_by_department_fy2022_fy2023.csv"
FY2023 = (dt.date(2023, 4, 1), dt.date(2024, 3, 31))
TENTH = Decimal("0.1")


def write_csv(path: Path, headers: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def error_cells(excinfo) -> list[tuple[int, str]]:
    return [(e.row, e.column) for e in excinfo.value.errors]


def tenth(numerator: int, denominator: int) -> Decimal:
    return (Decimal(numerator) / Decimal(denominator)).quantize(TENTH, rounding=ROUND_HALF_UP)


def percent(numerator: int, denominator: int) -> Decimal:
    return tenth(numerator * 100, denominator)


def yen(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- the city's period totals (real data) ----------------------------------------------

def real_rows() -> list[dict]:
    with REAL_TOTALS.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_real_period_totals_give_9_400_529_and_13_885_861():
    result = printouts.import_file(REAL_TOTALS)
    assert (result.kind, result.created, result.updated, result.unchanged) == ("period_totals", 46, 0, 0)
    assert [(p.name, p.start, p.end, p.months) for p in result.periods] == [
        ("fy2022_oct_to_mar", dt.date(2022, 10, 1), dt.date(2023, 3, 1), 6),
        ("fy2023_apr_to_dec", dt.date(2023, 4, 1), dt.date(2023, 12, 1), 9),
    ]
    assert result.ignored_columns == []
    stored = PrinterPeriodTotal.objects.get(department="総務部", period="fy2022_oct_to_mar")
    assert (stored.sheets, stored.published_per_staff_month) == (520_337, 859)

    for period in (FY2023, (dt.date(2023, 1, 1), dt.date(2023, 12, 31))):
        section = kpi_paperless.section(*period)
        block = section["period_totals"]
        assert [p["period"] for p in block["periods"]] == ["fy2022_oct_to_mar", "fy2023_apr_to_dec"]
        assert [p["months"] for p in block["periods"]] == [6, 9]
        total = block["total"]["periods"]
        assert [t["sheets"] for t in total] == [9_400_529, 13_885_861]
        assert [t["departments"] for t in total] == [23, 23]
        assert [t["per_month"] for t in total] == [tenth(9_400_529, 6), tenth(13_885_861, 9)]
        assert [t["pages_per_staff_month"] for t in total] == [None, None]  # no staff in the file
        change = block["total"]["change"]
        assert change["sheets"] == 13_885_861 - 9_400_529
        expected_per_month = Decimal(13_885_861) / 9 - Decimal(9_400_529) / 6
        assert change["per_month"] == expected_per_month.quantize(TENTH, rounding=ROUND_HALF_UP)
        assert change["per_month_pct"] == (expected_per_month * 100 / (Decimal(9_400_529) / 6)).quantize(
            TENTH, rounding=ROUND_HALF_UP)
        assert block["staff_known"] is False
        assert section["flags"] == []
        assert section["notes"][0].startswith("期間計のファイルには職員数がないため")

        rows = real_rows()
        assert [d["department"] for d in block["departments"]] == [r["department"] for r in rows]
        for department, row in zip(block["departments"], rows, strict=True):
            first, second = department["periods"]
            assert first["sheets"] == int(row["sheets_fy2022_oct_to_mar"])
            assert second["sheets"] == int(row["sheets_fy2023_apr_to_dec"])
            assert first["published"] == {"pages_per_staff_month": int(row["published_sheets_per_staff_month_2022"])}
            assert first["pages_per_staff_month"] is None and first["flags"] == [] and second["flags"] == []
            # Every published figure is possible with some whole number of staff.
            for cell, months, published in ((first, 6, row["published_sheets_per_staff_month_2022"]),
                                            (second, 9, row["published_sheets_per_staff_month_2023"])):
                low, high = cell["implied_staff"]["min"], cell["implied_staff"]["max"]
                assert low <= high
                for staff in (low, high):
                    exact = Decimal(cell["sheets"]) / (months * staff)
                    assert exact.quantize(Decimal(1), rounding=ROUND_HALF_UP) == int(published)
                for staff in (low - 1, high + 1):  # and no other number of staff does
                    exact = Decimal(cell["sheets"]) / (months * staff)
                    assert exact.quantize(Decimal(1), rounding=ROUND_HALF_UP) != int(published)
    by_name = {d["department"]: d for d in block["departments"]}
    assert by_name["総務部"]["periods"][0]["implied_staff"] == {"min": 101, "max": 101}
    assert by_name["こども部"]["periods"][0]["implied_staff"] == {"min": 631, "max": 633}


def test_real_period_totals_reimport_changes_nothing():
    printouts.import_file(REAL_TOTALS)
    before = list(PrinterPeriodTotal.objects.order_by("pk").values())
    again = printouts.import_file(REAL_TOTALS)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 46)
    assert list(PrinterPeriodTotal.objects.order_by("pk").values()) == before


def test_period_totals_outside_the_report_are_left_out():
    printouts.import_file(REAL_TOTALS)
    section = kpi_paperless.section(dt.date(2020, 4, 1), dt.date(2021, 3, 31))
    assert section["period_totals"]["periods"] == [] and section["period_totals"]["departments"] == []


def test_published_per_staff_figures_are_checked_with_staff_from_monthly_rows(tmp_path):
    write_csv(tmp_path / "totals.csv", ["部局", "枚数 2022年10月～2023年3月", "公表 1人1か月あたり 2022"], [
        ["総務部", "6,000", "100"],
        ["財務部", "6000", "120"],
        ["税務部", "6000", "700"],  # impossible: 1000/n rounds to 700 for no whole n (1.43 staff)
    ])
    result = printouts.import_file(tmp_path / "totals.csv")
    assert [(p.name, p.months) for p in result.periods] == [("2022-10_to_2023-03", 6)]
    months = ["2022-10", "2022-11", "2022-12", "2023-01", "2023-02", "2023-03"]
    write_csv(tmp_path / "monthly.csv", ["部局", "月", "カラー枚数", "モノクロ枚数", "職員数"],
              [[department, month, 0, 1000, 10] for department in ("総務部", "財務部") for month in months])
    printouts.import_file(tmp_path / "monthly.csv")

    section = kpi_paperless.section(*FY2023)
    departments = {d["department"]: d["periods"][0] for d in section["period_totals"]["departments"]}
    assert departments["総務部"]["staff_months"] == 60
    assert departments["総務部"]["pages_per_staff_month"] == Decimal("100.0")
    assert departments["総務部"]["flags"] == []
    assert departments["財務部"]["flags"] == ["pages_per_staff_month"]
    assert departments["税務部"]["staff_months"] is None and departments["税務部"]["implied_staff"] is None
    assert departments["税務部"]["flags"] == ["pages_per_staff_month"]
    flags = {f["department"]: f for f in section["flags"]}
    assert set(flags) == {"財務部", "税務部"}
    assert (flags["財務部"]["published"], flags["財務部"]["computed"]) == (120, 100)
    assert flags["財務部"]["message"] == (
        "財務部の2022-10_to_2023-03の1人1か月あたり枚数は公表値 120 枚ですが、枚数と職員数から計算すると"
        " 100 枚（6,000/60）です。")
    assert section["period_totals"]["staff_known"] is True
    assert section["period_totals"]["total"]["periods"][0]["pages_per_staff_month"] is None  # 税務部 has no staff


def test_period_totals_errors_are_all_reported(tmp_path):
    path = write_csv(tmp_path / "bad.csv", ["department", "sheets_fy2022_oct_to_mar", "sheets_fy2023_apr_to_dec",
                                            "published_sheets_per_staff_month_2022"], [
        ["総務部", "520,337", "814858", "859"],
        ["", "1", "2", ""],
        ["財務部", "abc", "", "八百"],
        ["総務部", "1", "2", "3"],
    ])
    with pytest.raises(ImportRejected) as excinfo:
        printouts.import_file(path)
    assert error_cells(excinfo) == [
        (3, "department"), (4, "sheets_fy2022_oct_to_mar"), (4, "sheets_fy2023_apr_to_dec"), (5, "department"),
    ]
    with pytest.raises(ImportRejected) as excinfo:
        printouts.import_file(write_csv(tmp_path / "pub.csv", ["部局", "sheets_fy2022_oct_to_mar",
                                                               "published_sheets_per_staff_month_2024"],
                                        [["総務部", "1", "2"]]))
    assert error_cells(excinfo) == [(1, "published_sheets_per_staff_month_2024")]
    assert PrinterPeriodTotal.objects.count() == 0


# --- generated monthly usage ------------------------------------------------------------

DEPARTMENTS = ["総務部", "市民部", "こども部"]


def month_text(month: dt.date, style: int) -> object:
    return [
        f"{month:%Y-%m}",
        f"{month.year}/{month.month}",
        f"{month.year}年{month.month}月",
        f"令和{month.year - 2018}年{month.month}月",
        f"R{month.year - 2018}.{month.month}",
        f"{month:%Y-%m-%d}",
    ][style % 6]


def generated_usage(seed: int = 5) -> list[dict]:
    """24 months (FY2022 and FY2023) of three departments; こども部 has no staff count in
    some months."""
    rng = random.Random(seed)
    rows = []
    month = dt.date(2022, 4, 1)
    while month <= dt.date(2024, 3, 1):
        for department in DEPARTMENTS:
            staff = rng.randint(20, 120)
            if department == "こども部" and month.month in (5, 8):
                staff = None
            rows.append({"department": department, "month": month, "colour": rng.randint(0, 20_000),
                         "mono": rng.randint(5_000, 90_000), "staff": staff})
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return rows


USAGE_HEADERS = ["部局", "月", "カラー枚数", "モノクロ枚数", "職員数"]


def write_usage(path: Path, rows: list[dict], encoding: str = "utf-8") -> Path:
    if encoding == "xlsx":
        workbook = Workbook()
        sheet = workbook.active
        sheet.append(USAGE_HEADERS)
        for r in rows:
            sheet.append([r["department"], dt.datetime(r["month"].year, r["month"].month, 1), r["colour"], r["mono"],
                          r["staff"]])
        workbook.save(path)
        return path
    return write_csv(path, USAGE_HEADERS, [
        [r["department"], month_text(r["month"], i), f"{r['colour']:,}", r["mono"], "" if r["staff"] is None else r["staff"]]
        for i, r in enumerate(rows)
    ], encoding=encoding)


def expected_usage(rows: list[dict], mono_price: Decimal, colour_price: Decimal) -> dict:
    colour = sum(r["colour"] for r in rows)
    mono = sum(r["mono"] for r in rows)
    staffed = [r for r in rows if r["staff"]]
    staff_months = sum(r["staff"] for r in staffed)
    return {
        "colour_pages": colour, "mono_pages": mono, "pages": colour + mono,
        "colour_share": percent(colour, colour + mono),
        "staff_months": staff_months,
        "pages_per_staff_month": tenth(sum(r["colour"] + r["mono"] for r in staffed), staff_months),
        "cost_yen": yen(mono * mono_price + colour * colour_price),
    }


def usage_of(figures: dict) -> dict:
    return {key: figures[key] for key in ("colour_pages", "mono_pages", "pages", "colour_share", "staff_months",
                                          "pages_per_staff_month", "cost_yen")}


@pytest.mark.parametrize("encoding", ["utf-8", "cp932", "xlsx"])
def test_monthly_usage_gives_pages_per_staff_colour_share_cost_and_year_over_year(tmp_path, encoding):
    rows = generated_usage()
    result = printouts.import_file(write_usage(tmp_path / f"usage.{'xlsx' if encoding == 'xlsx' else 'csv'}", rows,
                                               encoding))
    assert (result.kind, result.created) == ("monthly", 72)
    assert PrinterUsage.objects.filter(staff__isnull=True).count() == 4

    mono, colour = Decimal("0.495"), Decimal("5.3273")
    section = kpi_paperless.section(*FY2023)
    assert section["unit_prices"] == {"mono_yen": mono, "colour_yen": colour}
    block = section["monthly"]
    assert (block["months_from"], block["months_to"]) == ("2023-04", "2024-03")
    assert (block["previous_from"], block["previous_to"]) == ("2022-04", "2023-03")
    current = [r for r in rows if r["month"] >= dt.date(2023, 4, 1)]
    previous = [r for r in rows if r["month"] < dt.date(2023, 4, 1)]
    assert [d["department"] for d in block["departments"]] == DEPARTMENTS
    for entry in block["departments"]:
        mine = [r for r in current if r["department"] == entry["department"]]
        before = [r for r in previous if r["department"] == entry["department"]]
        assert usage_of(entry["current"]) == expected_usage(mine, mono, colour)
        assert usage_of(entry["previous"]) == expected_usage(before, mono, colour)
        assert entry["current"]["months"] == 12
        assert entry["current"]["months_with_staff"] == (10 if entry["department"] == "こども部" else 12)
        now, then = expected_usage(mine, mono, colour), expected_usage(before, mono, colour)
        assert entry["difference"]["pages"] == now["pages"] - then["pages"]
        assert entry["difference"]["cost_yen"] == now["cost_yen"] - then["cost_yen"]
        exact_share = (Decimal(now["colour_pages"]) * 100 / now["pages"]
                       - Decimal(then["colour_pages"]) * 100 / then["pages"])
        assert entry["difference"]["colour_share_points"] == exact_share.quantize(TENTH, rounding=ROUND_HALF_UP)
    assert usage_of(block["total"]["current"]) == expected_usage(current, mono, colour)
    assert usage_of(block["total"]["previous"]) == expected_usage(previous, mono, colour)

    assert [m["month"] for m in block["months"]] == [f"{y}-{m:02d}" for y, m in
                                                    [(2023, m) for m in range(4, 13)] + [(2024, m) for m in (1, 2, 3)]]
    for month in block["months"]:
        mine = [r for r in current if f"{r['month']:%Y-%m}" == month["month"]]
        assert usage_of(month) == expected_usage(mine, mono, colour)


def test_cost_follows_the_configured_unit_prices(tmp_path):
    write_csv(tmp_path / "usage.csv", USAGE_HEADERS, [
        ["総務部", "2023-04", "1000", "20000", "40"],
        ["総務部", "2023-05", "333", "10001", "40"],
    ])
    printouts.import_file(tmp_path / "usage.csv")
    default = kpi_paperless.section(*FY2023)["monthly"]["total"]["current"]
    # 30,001 × ¥0.495 + 1,333 × ¥5.3273 = 14,850.495 + 7,101.2909 = 21,951.7859
    assert default["cost_yen"] == 21_952
    with override_settings(PRINT_PRICE_MONO_YEN="0.7", PRINT_PRICE_COLOUR_YEN="12.5"):
        section = kpi_paperless.section(*FY2023)
    assert section["unit_prices"] == {"mono_yen": Decimal("0.7"), "colour_yen": Decimal("12.5")}
    assert section["monthly"]["total"]["current"]["cost_yen"] == yen(Decimal("30001") * Decimal("0.7")
                                                                      + Decimal("1333") * Decimal("12.5"))
    explicit = kpi_paperless.section(*FY2023, mono_price=Decimal("1"), colour_price=Decimal("10"))
    assert explicit["monthly"]["total"]["current"]["cost_yen"] == 30_001 + 13_330
    assert default["pages_per_staff_month"] == Decimal("391.7")  # 31,334 / 80 = 391.675
    assert default["colour_share"] == Decimal("4.3")  # 1,333 / 31,334


def test_monthly_reimport_changes_nothing_and_a_correction_updates(tmp_path):
    rows = generated_usage()
    path = write_usage(tmp_path / "usage.csv", rows)
    printouts.import_file(path)
    before = list(PrinterUsage.objects.order_by("pk").values())
    again = printouts.import_file(path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 72)
    assert list(PrinterUsage.objects.order_by("pk").values()) == before
    fixed = write_csv(tmp_path / "fix.csv", USAGE_HEADERS, [["総務部", "令和5年4月", "1", "2", "3"]])
    result = printouts.import_file(fixed)
    assert (result.created, result.updated) == (0, 1)
    usage = PrinterUsage.objects.get(department="総務部", month=dt.date(2023, 4, 1))
    assert (usage.colour_pages, usage.mono_pages, usage.staff) == (1, 2, 3)


def test_monthly_file_with_errors_applies_nothing_and_names_every_row(tmp_path):
    path = write_csv(tmp_path / "bad.csv", USAGE_HEADERS + ["備考"], [
        ["総務部", "2023-04", "10", "100", "5", ""],
        ["総務部", "令和元年4月", "10", "100", "5", ""],  # 令和 began in May 2019
        ["総務部", "2023-13", "10", "100", "5", ""],
        ["総務部", "2023-04-15", "10", "100", "5", ""],
        ["", "2023-05", "十", "-1", "0", ""],
        ["総務部", "2023/4", "10", "100", "5", ""],
        ["市民部", "平成31年5月", "", "100", "", ""],
    ])
    with pytest.raises(ImportRejected) as excinfo:
        printouts.import_file(path)
    assert error_cells(excinfo) == [
        (3, "月"), (4, "月"), (5, "月"), (6, "部局"), (6, "カラー枚数"), (6, "モノクロ枚数"), (6, "職員数"),
        (7, "月"), (8, "月"), (8, "カラー枚数"),
    ]
    messages = [str(e) for e in excinfo.value.errors]
    assert messages[0] == "3行目 「月」: 「令和元年4月」は令和の期間にない月です。"
    assert messages[7] == "7行目 「月」: 2行目と同じ部局・月です。"
    assert PrinterUsage.objects.count() == 0
    with pytest.raises(ImportRejected) as excinfo:
        printouts.import_file(write_csv(tmp_path / "cols.csv", ["部局", "月", "カラー枚数"], [["総務部", "2023-04", "1"]]))
    assert error_cells(excinfo) == [(1, "モノクロ枚数")]
