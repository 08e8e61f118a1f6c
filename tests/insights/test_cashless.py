"""キャッシュレス: POS and facility-total imports (all or nothing, idempotent) and the
report's `cashless` section, on the city's real 2023 table and on generated POS exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from openpyxl import Workbook

from tenohira.catalog.services import ImportRejected
from tenohira.insights import kpi_cashless
from tenohira.insights.imports import _cells, pos, printouts
from tenohira.insights.models import FacilityCashless, PosTransaction

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parent / "data"  # the real files the figures come from
REAL_TOTALS = DATA / "cashless_by_facility_2023.csv"
JST = ZoneInfo("Asia/Tokyo")
YEAR_2023 = (dt.date(2023, 1, 1), dt.date(2023, 12, 31))


def half_up(numerator: int, denominator: int, places: str = "0.1") -> Decimal:
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def write_csv(path: Path, headers: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def error_cells(excinfo) -> list[tuple[int, str]]:
    return [(e.row, e.column) for e in excinfo.value.errors]


# --- the city's facility totals (real data) --------------------------------------------

def real_rows() -> list[dict]:
    with REAL_TOTALS.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_real_data_directory_is_found():
    assert REAL_TOTALS.is_file()
    assert len(real_rows()) == 36


def test_real_facility_totals_give_15_96_percent_and_every_facility_ratio():
    result = pos.import_file(REAL_TOTALS, year=2023)
    assert (result.kind, result.created, result.updated, result.unchanged) == ("facility_totals", 36, 0, 0)
    assert result.years == [2023]
    assert result.warnings == []  # every row: sales = cash + cashless, and the published ratio holds

    section = kpi_cashless.section(*YEAR_2023)
    total = section["total"]
    assert total["ratio_by_amount"] == Decimal("15.96")
    assert (total["sales_yen"], total["cash_yen"], total["cashless_yen"]) == (267_572_953, 224_865_746, 42_707_207)
    assert total["facilities"] == 36
    assert total["transactions"] is None and total["ratio_by_count"] is None  # totals carry no counts
    assert section["sources"] == {"pos_transactions": 0, "facilities_from_pos": 0, "facilities_from_totals": 36,
                                  "facilities_cashless_only": 0, "totals_year": 2023}
    assert section["cashless_only"] == {"count": 0, "cashless_yen": 0, "facilities": []}
    assert section["flags"] == []

    by_name = {f["facility"]: f for f in section["facilities"]}
    assert len(by_name) == 36
    for row in real_rows():
        facility = by_name[row["facility"]]
        sales, cashless = int(row["sales_yen"]), int(row["cashless_yen"])
        expected = half_up(cashless, sales)
        assert expected == Decimal(row["published_cashless_ratio_pct"]), row["facility"]
        assert facility["ratio_by_amount"] == expected, row["facility"]
        assert (facility["sales_yen"], facility["cash_yen"], facility["cashless_yen"]) == (
            sales, int(row["cash_yen"]), cashless)
        assert facility["source"] == "totals"
        assert facility["published"]["ratio_by_amount"] == Decimal(row["published_cashless_ratio_pct"])
        assert facility["flags"] == []
    # Highest ratio first, as the city prints it.
    assert [f["facility"] for f in section["facilities"]] == [row["facility"] for row in real_rows()]
    assert by_name["西口駐車場"]["ratio_by_amount"] == Decimal("45.3")
    assert by_name["フットボールセンター"]["ratio_by_amount"] == Decimal("0.0")
    assert section["fee_items"] == [] and section["months"] == []


def test_real_facility_totals_reimport_changes_nothing():
    pos.import_file(REAL_TOTALS, year=2023)
    before = list(FacilityCashless.objects.order_by("pk").values())
    again = pos.import_file(REAL_TOTALS, year=2023)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 36)
    assert list(FacilityCashless.objects.order_by("pk").values()) == before


def test_facility_totals_need_a_year():
    with pytest.raises(ImportRejected) as excinfo:
        pos.import_file(REAL_TOTALS)
    assert error_cells(excinfo) == [(1, "年")]
    assert FacilityCashless.objects.count() == 0


def test_facility_totals_are_used_only_for_their_calendar_year():
    pos.import_file(REAL_TOTALS, year=2023)
    fiscal = kpi_cashless.section(dt.date(2023, 4, 1), dt.date(2024, 3, 31))
    assert fiscal["facilities"] == []
    assert fiscal["total"]["ratio_by_amount"] is None
    assert fiscal["notes"] == ["施設別の年計（2023年）は暦年の報告（例: --year 2023）でのみ使います。"]
    assert kpi_cashless.section(dt.date(2022, 1, 1), dt.date(2022, 12, 31))["facilities"] == []


def test_totals_that_do_not_add_up_are_stored_and_flagged(tmp_path):
    rows = real_rows()
    rows[0]["published_cashless_ratio_pct"] = "54.3"  # 西口駐車場: 45.3 in the amounts
    rows[4]["sales_yen"] = str(int(rows[4]["sales_yen"]) + 1000)  # 美術館: sales ≠ cash + cashless
    path = write_csv(tmp_path / "totals.csv", list(rows[0]), [list(r.values()) for r in rows])

    result = pos.import_file(path, year=2023)
    assert result.created == 36
    assert result.warnings == [
        "2行目 西口駐車場: 公表比率 54.3% は金額から計算すると 45.3% です。",
        "6行目 美術館: 売上 30,184,650 円が現金 26,710,410 円とキャッシュレス 3,473,240 円の合計 30,183,650 円と"
        "一致しません。",
    ]
    assert FacilityCashless.objects.get(facility="美術館").sales == 30_184_650

    section = kpi_cashless.section(*YEAR_2023)
    flags = {(f["facility"], f["measure"]): f for f in section["flags"]}
    assert set(flags) == {("西口駐車場", "ratio_by_amount"), ("美術館", "breakdown")}
    assert flags[("西口駐車場", "ratio_by_amount")]["published"] == Decimal("54.3")
    assert flags[("西口駐車場", "ratio_by_amount")]["computed"] == Decimal("45.3")
    assert flags[("美術館", "breakdown")]["computed"] == {"cash_plus_cashless_yen": 30_183_650,
                                                          "difference_yen": 1000}
    by_name = {f["facility"]: f for f in section["facilities"]}
    assert by_name["西口駐車場"]["flags"] == ["ratio_by_amount"]
    assert by_name["美術館"]["flags"] == ["breakdown"]
    assert by_name["美術館"]["ratio_by_amount"] == half_up(3_473_240, 30_184_650)  # against sales, as published
    assert section["total"]["ratio_by_amount"] == half_up(42_707_207, 267_573_953, "0.01")


def test_totals_with_a_year_column(tmp_path):
    path = write_csv(tmp_path / "years.csv", ["年", "施設", "売上", "現金", "キャッシュレス", "キャッシュレス比率"], [
        ["令和5年", "市民課", "1,000", "900", "100", "10.0%"],
        ["2022", "市民課", "2000", "1500", "500", ""],
        ["R5", "美術館", "３００", "200", "100", "33.33"],
    ])
    result = pos.import_file(path)
    assert (result.created, result.years) == (3, [2022, 2023])
    section = kpi_cashless.section(*YEAR_2023)
    assert [(f["facility"], f["ratio_by_amount"]) for f in section["facilities"]] == [
        ("美術館", Decimal("33.3")), ("市民課", Decimal("10.0"))]
    assert section["flags"] == []  # 33.33 is checked at its own precision (two decimals)
    assert section["total"]["ratio_by_amount"] == Decimal("15.38")  # 200 / 1,300

    with pytest.raises(ImportRejected) as excinfo:
        pos.import_file(path, year=2023)
    assert error_cells(excinfo) == [(3, "年")]


def test_totals_errors_are_all_reported(tmp_path):
    path = write_csv(tmp_path / "bad.csv", ["facility", "sales_yen", "cash_yen", "cashless_yen",
                                            "published_cashless_ratio_pct"], [
        ["市民課", "1000", "900", "100", "10.0"],
        ["", "1000", "900", "100", "10.0"],
        ["美術館", "1000円", "九百", "-1", "120"],
        ["市民課", "1000", "900", "100", "10.0"],
        ["庭球場", "", "0", "0", "abc"],
    ])
    with pytest.raises(ImportRejected) as excinfo:
        pos.import_file(path, year=2023)
    assert error_cells(excinfo) == [
        (3, "facility"), (4, "cash_yen"), (4, "cashless_yen"), (4, "published_cashless_ratio_pct"),
        (5, "facility"), (6, "sales_yen"), (6, "published_cashless_ratio_pct"),
    ]
    assert str(excinfo.value.errors[-2]) == "6行目 「sales_yen」: 必須です。"
    assert FacilityCashless.objects.count() == 0


# --- cashless-only tallies (独自集計) --------------------------------------------------------

# Two facilities that tally only their cashless payments: one by its name, one by having no
# cash figure (a blank cell and a dash).
OWN_TALLIES = [
    ["市民課（独自集計）", "", "-", "512,300", ""],
    ["ふれあい科学館", "1,203,400", "", "1,203,400", ""],
]


def test_cashless_only_tallies_are_reported_apart_and_leave_the_ratio_alone(tmp_path):
    rows = [list(r.values()) for r in real_rows()] + OWN_TALLIES
    result = pos.import_file(write_csv(tmp_path / "totals.csv", list(real_rows()[0]), rows), year=2023)
    assert result.created == 38
    assert result.warnings == [
        "現金の分からない 2 行（38行目 市民課（独自集計）、39行目 ふれあい科学館）はキャッシュレスのみの集計（独自集計）"
        "として取り込みます。キャッシュレス比率の計算には含めず、別に報告します。"
    ]
    tally = FacilityCashless.objects.get(facility="市民課（独自集計）")
    assert (tally.cashless_only, tally.sales, tally.cash, tally.cashless) == (True, None, None, 512_300)

    section = kpi_cashless.section(*YEAR_2023)
    total = section["total"]
    # Counting their unknown cash as 0 would give (42,707,207 + 1,715,700) / (267,572,953 + 1,715,700) = 16.50%.
    assert total["ratio_by_amount"] == Decimal("15.96")
    assert (total["sales_yen"], total["cashless_yen"], total["facilities"]) == (267_572_953, 42_707_207, 36)
    assert section["cashless_only"] == {
        "count": 2, "cashless_yen": 1_715_700,
        "facilities": [
            {"facility": "ふれあい科学館", "source": "cashless_only", "source_label": "独自集計（キャッシュレスのみ）",
             "cashless_yen": 1_203_400, "sales_yen": 1_203_400},
            {"facility": "市民課（独自集計）", "source": "cashless_only", "source_label": "独自集計（キャッシュレスのみ）",
             "cashless_yen": 512_300, "sales_yen": None},
        ],
    }
    assert section["sources"]["facilities_cashless_only"] == 2
    assert "キャッシュレスのみの集計（独自集計）: 2施設 ¥1,715,700（現金の額が分からないため、キャッシュレス比率の分母にも分子にも含めていません）。" in section["notes"]
    assert all(f["facility"] not in ("市民課（独自集計）", "ふれあい科学館") for f in section["facilities"])

    again = pos.import_file(write_csv(tmp_path / "totals.csv", list(real_rows()[0]), rows), year=2023)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 38)


def test_a_tally_file_of_cashless_amounts_only_and_a_labelled_row(tmp_path):
    path = write_csv(tmp_path / "own.csv", ["施設名", "売上", "現金", "キャッシュレス", "集計区分"], [
        ["美術館", "30,183,650", "26,710,410", "3,473,240", ""],
        ["体育館売店", "800,000", "600,000", "200,000", "独自集計"],  # labelled: its figures are its own count
    ], encoding="cp932")
    pos.import_file(path, year=2023)
    only = write_csv(tmp_path / "only.csv", ["施設", "キャッシュレス"], [["駐輪場", "１２，０００"]])
    result = pos.import_file(only, year=2023)
    assert (result.kind, result.created) == ("facility_totals", 1)
    section = kpi_cashless.section(*YEAR_2023)
    assert [f["facility"] for f in section["facilities"]] == ["美術館"]
    assert section["total"]["ratio_by_amount"] == Decimal("11.51")
    assert [(f["facility"], f["cashless_yen"]) for f in section["cashless_only"]["facilities"]] == [
        ("体育館売店", 200_000), ("駐輪場", 12_000)]


def test_a_cashless_only_row_needs_a_cashless_amount(tmp_path):
    path = write_csv(tmp_path / "bad.csv", ["施設", "売上", "現金", "キャッシュレス"], [
        ["市民課（独自集計）", "", "", ""],
        ["美術館", "1000", "九百", ""],
    ])
    with pytest.raises(ImportRejected) as excinfo:
        pos.import_file(path, year=2023)
    assert [str(e) for e in excinfo.value.errors] == [
        "2行目 「キャッシュレス」: キャッシュレスの金額が必要です（現金の分からない独自集計の行です）。",
        "3行目 「現金」: 「九百」は金額（0以上の整数、円）ではありません。",
        "3行目 「キャッシュレス」: 必須です。",
    ]
    assert FacilityCashless.objects.count() == 0


def test_a_tally_of_a_facility_with_pos_transactions_is_checked_against_them(tmp_path):
    payments = [p for p in generated_payments() if p["facility"] == "市民課" and p["at"].year == 2023]
    pos.import_file(write_pos(tmp_path / "pos.csv", payments, "utf-8"))
    expected = expected_figures(payments)
    pos.import_file(write_csv(tmp_path / "own.csv", ["施設", "キャッシュレス"], [
        ["市民課", expected["cashless_yen"] + 1]]), year=2023)
    section = kpi_cashless.section(*YEAR_2023)
    assert section["cashless_only"]["count"] == 0  # counted from its transactions, in the ratio
    assert figures_of(section["facilities"][0]) == expected
    assert [(f["facility"], f["label"]) for f in section["flags"]] == [("市民課", "POS 取引と独自集計")]


def test_the_report_shows_cashless_only_tallies_in_their_own_table(tmp_path):
    from tenohira.insights import report
    from tenohira.insights.render import to_html, to_open_data_csv, to_xlsx

    rows = [list(r.values()) for r in real_rows()] + OWN_TALLIES
    pos.import_file(write_csv(tmp_path / "totals.csv", list(real_rows()[0]), rows), year=2023)
    built = report.build(year=2023)
    html = to_html(built)
    assert "キャッシュレスのみの集計（独自集計）" in html and "1,715,700" in html
    assert "15.96%" in html and "独自集計 2施設 1,715,700円は含まず" in html
    to_xlsx(built, tmp_path / "r.xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "r.xlsx")["キャッシュレス_独自集計"]
    assert [c.value for c in sheet[3]] == ["施設", "キャッシュレス（円）", "売上（円）", "出典"]
    assert sheet["B4"].value == 1_203_400 and sheet["C5"].value is None
    to_open_data_csv(built, tmp_path / "r.csv")
    with open(tmp_path / "r.csv", encoding="utf-8-sig", newline="") as handle:
        lines = [r for r in csv.DictReader(handle) if r["表"] == "キャッシュレスのみの集計（独自集計）"]
    assert [(r["対象"], r["指標コード"], r["値"]) for r in lines] == [
        ("ふれあい科学館", "cashless_yen", "1203400"), ("ふれあい科学館", "sales_yen", "1203400"),
        ("市民課（独自集計）", "cashless_yen", "512300"), ("全体", "cashless_yen", "1715700"),
    ]
    # The facility ratio table keeps the 36 facilities of the ratio only.
    with open(tmp_path / "r.csv", encoding="utf-8-sig", newline="") as handle:
        total = next(r for r in csv.DictReader(handle) if r["表"] == "施設別のキャッシュレス比率"
                     and r["対象"] == "全体" and r["指標コード"] == "ratio_by_amount")
    assert total["値"] == "15.96"


# --- generated POS transactions -------------------------------------------------------

FACILITIES = ["市民課", "総合体育館", "西口駐車場"]
FEE_ITEMS = {"住民票の写し": 300, "印鑑登録証明書": 300, "施設使用料": 1500, "駐車料金": 200}
CASH = ["現金", "cash", "ｹﾞﾝｷﾝ", "現金払い"]
CASHLESS = ["クレジットカード", "ＱＲコード決済", "PayPay", "交通系IC", "電子マネー（WAON）", "iD", "デビットカード",
            "バーコード決済", "ｸﾚｼﾞｯﾄ", "VISA"]


def generated_payments(count: int = 300, seed: int = 20230401) -> list[dict]:
    """`count` payments in 2023 (JST) plus four at the edges of the year, with a fixed seed."""
    rng = random.Random(seed)
    payments = []
    for _ in range(count):
        day = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(365))
        hour = rng.choice([8, 9, 9, 10, 10, 10, 11, 12, 13, 14, 14, 15, 16, 17, 19])
        at = dt.datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=JST)
        item = rng.choice(list(FEE_ITEMS))
        cashless = rng.random() < 0.3
        payments.append({"at": at, "facility": rng.choice(FACILITIES), "fee_item": item,
                         "amount": FEE_ITEMS[item] * rng.randint(1, 3),
                         "method": rng.choice(CASHLESS if cashless else CASH), "cashless": cashless})
    for at, cashless in (
        (dt.datetime(2022, 12, 31, 23, 59, 59, tzinfo=JST), True),  # outside 2023
        (dt.datetime(2023, 1, 1, 0, 0, 0, tzinfo=JST), False),
        (dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=JST), True),
        (dt.datetime(2024, 1, 1, 0, 0, 0, tzinfo=JST), False),  # outside 2023
    ):
        payments.append({"at": at, "facility": "西口駐車場", "fee_item": "駐車料金", "amount": 400,
                         "method": "PayPay" if cashless else "現金", "cashless": cashless})
    return payments


def timestamp_text(at: dt.datetime, style: int) -> str:
    """The spellings POS exports use, in turn."""
    if style == 0:
        return at.strftime("%Y-%m-%d %H:%M:%S")
    if style == 1:
        return f"{at.year}/{at.month}/{at.day} {at.hour}:{at.minute:02d}:{at.second:02d}"
    if style == 2:
        return f"令和{at.year - 2018}年{at.month}月{at.day}日 {at.hour}時{at.minute}分{at.second}秒"
    if style == 3:
        return at.isoformat()  # 2023-04-01T09:15:00+09:00
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


POS_HEADERS = ["日時", "施設", "料金項目", "金額", "支払方法"]


def pos_rows(payments: list[dict]) -> list[list[object]]:
    return [[timestamp_text(p["at"], i % 5), p["facility"], p["fee_item"], f"{p['amount']:,}", p["method"]]
            for i, p in enumerate(payments)]


def write_pos(path: Path, payments: list[dict], encoding: str) -> Path:
    if encoding == "xlsx":
        workbook = Workbook()
        sheet = workbook.active
        sheet.append(POS_HEADERS)
        for p in payments:
            sheet.append([p["at"].replace(tzinfo=None), p["facility"], p["fee_item"], p["amount"], p["method"]])
        workbook.save(path)
        return path
    data = write_csv(path, POS_HEADERS, pos_rows(payments), encoding="utf-8").read_bytes().decode()
    if encoding == "utf-8-sig":
        path.write_bytes(b"\xef\xbb\xbf" + data.encode())
    else:
        path.write_bytes(data.encode(encoding))
    return path


def expected_figures(payments: list[dict]) -> dict:
    sales = sum(p["amount"] for p in payments)
    cashless = sum(p["amount"] for p in payments if p["cashless"])
    count = len(payments)
    cashless_count = sum(1 for p in payments if p["cashless"])
    return {"sales_yen": sales, "cash_yen": sales - cashless, "cashless_yen": cashless,
            "ratio_by_amount": half_up(cashless, sales) if sales else None,
            "transactions": count, "cashless_transactions": cashless_count,
            "ratio_by_count": half_up(cashless_count, count) if count else None}


FIGURE_KEYS = list(expected_figures([{"amount": 1, "cashless": True}]))


def figures_of(entry: dict) -> dict:
    return {key: entry[key] for key in FIGURE_KEYS}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932", "xlsx"])
def test_pos_export_gives_ratios_by_amount_and_count_per_facility_fee_item_and_month(tmp_path, encoding):
    payments = generated_payments()
    path = write_pos(tmp_path / f"pos.{'xlsx' if encoding == 'xlsx' else 'csv'}", payments, encoding)
    if encoding == "cp932":
        assert path.read_bytes().decode("cp932")  # really Shift_JIS, with half-width kana
    result = pos.import_file(path)
    assert (result.kind, result.created, result.updated, result.unchanged) == ("transactions", 304, 0, 0)
    assert result.source_format == {"utf-8": "csv-utf-8", "utf-8-sig": "csv-utf-8-sig", "cp932": "csv-cp932",
                                    "xlsx": "xlsx"}[encoding]
    assert result.years == [2022, 2023, 2024]
    assert PosTransaction.objects.filter(cashless=True).count() == sum(p["cashless"] for p in payments)

    in_year = [p for p in payments if p["at"].year == 2023]
    assert len(in_year) == 302
    section = kpi_cashless.section(*YEAR_2023)

    expected_total = expected_figures(in_year)
    total = section["total"]
    assert {k: total[k] for k in FIGURE_KEYS if k != "ratio_by_amount"} == {
        k: v for k, v in expected_total.items() if k != "ratio_by_amount"}
    assert total["ratio_by_amount"] == half_up(expected_total["cashless_yen"], expected_total["sales_yen"], "0.01")
    assert section["sources"]["pos_transactions"] == 302

    facilities = {f["facility"]: f for f in section["facilities"]}
    assert set(facilities) == set(FACILITIES)
    for name in FACILITIES:
        assert figures_of(facilities[name]) == expected_figures([p for p in in_year if p["facility"] == name])
        assert facilities[name]["source"] == "pos"

    fee_items = {f["fee_item"]: f for f in section["fee_items"]}
    assert set(fee_items) == set(FEE_ITEMS)
    for item in FEE_ITEMS:
        assert figures_of(fee_items[item]) == expected_figures([p for p in in_year if p["fee_item"] == item])

    assert [m["month"] for m in section["months"]] == [f"2023-{m:02d}" for m in range(1, 13)]
    for month in section["months"]:
        number = int(month["month"][-2:])
        assert figures_of(month) == expected_figures([p for p in in_year if p["at"].month == number])

    methods = {m["method"]: m for m in section["methods"]}
    assert methods["ｸﾚｼﾞｯﾄ"]["cashless"] is True and methods["ｹﾞﾝｷﾝ"]["cashless"] is False
    assert sum(m["transactions"] for m in section["methods"]) == 302

    congestion = section["congestion"]
    hours = Counter(p["at"].hour for p in in_year)
    assert [h["transactions"] for h in congestion["by_hour"]] == [hours[h] for h in range(24)]
    weekdays = Counter(p["at"].isoweekday() for p in in_year)
    days = defaultdict(set)
    for p in in_year:
        days[p["at"].isoweekday()].add(p["at"].date())
    for entry in congestion["by_weekday"]:
        weekday = entry["weekday"]
        assert entry["transactions"] == weekdays[weekday]
        assert entry["days"] == len(days[weekday])
        assert entry["per_day"] == (Decimal(weekdays[weekday]) / len(days[weekday])).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP)
    assert [e["label"] for e in congestion["by_weekday"]] == ["月", "火", "水", "木", "金", "土", "日"]
    matrix = Counter((p["at"].isoweekday(), p["at"].hour) for p in in_year)
    assert congestion["weekday_hour"] == [[matrix[(w, h)] for h in range(24)] for w in range(1, 8)]


def test_pos_times_are_japan_time_at_the_edges_of_the_year(tmp_path):
    payments = generated_payments()[-4:]
    assert [p["at"].year for p in payments] == [2022, 2023, 2023, 2024]
    pos.import_file(write_pos(tmp_path / "edges.csv", payments, "utf-8"))
    stored = sorted(PosTransaction.objects.values_list("at", flat=True))
    assert stored[0] == dt.datetime(2022, 12, 31, 14, 59, 59, tzinfo=dt.UTC)
    section = kpi_cashless.section(*YEAR_2023)
    assert section["total"]["transactions"] == 2
    assert section["congestion"]["by_hour"][0]["transactions"] == 1  # 2023-01-01 00:00 JST (a Sunday)
    assert section["congestion"]["by_hour"][23]["transactions"] == 1  # 2023-12-31 23:59:59 JST (a Sunday)
    assert section["congestion"]["by_weekday"][6]["transactions"] == 2
    assert section["congestion"]["by_weekday"][6]["days"] == 2


def test_pos_reimport_adds_nothing_and_identical_payments_stay_separate(tmp_path):
    payments = generated_payments(count=120)
    path = write_pos(tmp_path / "pos.csv", payments, "utf-8")
    pos.import_file(path)
    keys = set(PosTransaction.objects.values_list("source_key", flat=True))

    again = pos.import_file(path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 124)
    # The same payments exported again by another POS setting (CP932, other date spellings).
    other = write_csv(tmp_path / "other.csv", POS_HEADERS, [
        [p["at"].strftime("%Y/%m/%d %H:%M:%S"), p["facility"], p["fee_item"], p["amount"], p["method"]]
        for p in payments[:50]
    ], encoding="cp932")
    overlap = pos.import_file(other)
    assert (overlap.created, overlap.unchanged) == (0, 50)
    assert set(PosTransaction.objects.values_list("source_key", flat=True)) == keys

    twice = write_csv(tmp_path / "twice.csv", POS_HEADERS, [
        ["2023-05-01 10:00", "市民課", "住民票の写し", "300", "現金"],
        ["2023-05-01 10:00", "市民課", "住民票の写し", "300", "現金"],
    ])
    assert pos.import_file(twice).created == 2
    assert pos.import_file(twice).created == 0
    assert PosTransaction.objects.count() == 126


def test_pos_with_transaction_numbers_and_separate_date_and_time(tmp_path):
    headers = ["取引番号", "日付", "時刻", "施設", "料金項目", "金額（円）", "決済方法", "担当者"]
    rows = [
        ["A-001", "2023/6/1", "9:05", "市民課", "住民票の写し", "300", "現金", "田中"],
        ["A-002", "令和5年6月1日", "13時30分", "市民課", "住民票の写し", "300", "現金", "田中"],
        ["A-003", "2023-06-02", "17:14:59", "市民課", "印鑑登録証明書", "600", "電子マネー", "佐藤"],
    ]
    first = pos.import_file(write_csv(tmp_path / "a.csv", headers, rows))
    assert (first.created, first.ignored_columns) == (3, ["担当者"])
    assert sorted(t.at.astimezone(JST).strftime("%m-%d %H:%M:%S") for t in PosTransaction.objects.all()) == [
        "06-01 09:05:00", "06-01 13:30:00", "06-02 17:14:59"]

    rows[2][5] = "900"  # a corrected re-export of the same transaction
    second = pos.import_file(write_csv(tmp_path / "b.csv", headers, rows))
    assert (second.created, second.updated, second.unchanged) == (0, 1, 2)
    assert PosTransaction.objects.get(amount=900).cashless is True

    rows.append(["A-001", "2023/6/3", "9:00", "市民課", "住民票の写し", "300", "現金", ""])
    with pytest.raises(ImportRejected) as excinfo:
        pos.import_file(write_csv(tmp_path / "c.csv", headers, rows))
    assert error_cells(excinfo) == [(5, "取引番号")]


def test_pos_file_with_errors_applies_nothing_and_names_every_row(tmp_path):
    pos.import_file(write_csv(tmp_path / "ok.csv", POS_HEADERS, [["2023-04-03 09:00", "市民課", "住民票の写し", "300",
                                                                  "現金"]]))
    before = list(PosTransaction.objects.values())
    path = write_csv(tmp_path / "bad.csv", POS_HEADERS, [
        ["2023-04-03 10:00", "市民課", "住民票の写し", "300", "現金"],
        ["2023-04-01", "市民課", "住民票の写し", "300", "現金"],
        ["2023-13-01 10:00", "市民課", "住民票の写し", "300", "現金"],
        ["2023-04-03 10:00", "", "住民票の写し", "300", "現金"],
        ["2023-04-03 10:00", "市民課", "住民票の写し", "-300", "現金"],
        ["2023-04-03 10:00", "市民課", "住民票の写し", "1,000.5", "現金"],
        ["2023-04-03 10:00", "市民課", "住民票の写し", "300", "商品券"],
        ["2023-04-03 10:00", "市民課", "住民票の写し", "300", "現金・カード併用"],
        ["2023/4/3 25:00", "市民課", "住民票の写し", "300", "現金"],
        ["2023-04-03 11:00", "市民課", "住民票の写し", "300", "クレジット"],
        ["2023-04-03 12:00", "市民課", "", "300", ""],
    ])
    with pytest.raises(ImportRejected) as excinfo:
        pos.import_file(path)
    assert error_cells(excinfo) == [
        (3, "日時"), (4, "日時"), (5, "施設"), (6, "金額"), (7, "金額"), (8, "支払方法"), (9, "支払方法"),
        (10, "日時"), (12, "料金項目"), (12, "支払方法"),
    ]
    messages = [str(e) for e in excinfo.value.errors]
    assert messages[0] == "3行目 「日時」: 「2023-04-01」に時刻がありません（例: 2023-04-01 09:15）。"
    assert messages[3].startswith("6行目 「金額」: 「-300」: 返金・取消（マイナス）の行は取り込めません。")
    assert messages[5].startswith("8行目 「支払方法」: 「商品券」が現金かキャッシュレスか分かりません。")
    assert messages[7] == "10行目 「日時」: 「25:00」は存在しない時刻です。"
    assert list(PosTransaction.objects.values()) == before


def test_pos_file_without_required_columns_is_refused(tmp_path):
    with pytest.raises(ImportRejected) as excinfo:
        pos.import_file(write_csv(tmp_path / "cols.csv", ["日時", "施設", "金額"], [["2023-04-03 09:00", "市民課",
                                                                                     "300"]]))
    assert error_cells(excinfo) == [(1, "料金項目"), (1, "支払方法")]
    with pytest.raises(ImportRejected) as excinfo:
        pos.import_file(write_csv(tmp_path / "shape.csv", ["施設", "金額", "売上"], [["市民課", "300", "300"]]))
    assert error_cells(excinfo) == [(1, "")]


def test_pos_and_totals_together_for_a_calendar_year(tmp_path):
    payments = [p for p in generated_payments() if p["facility"] == "市民課" and p["at"].year == 2023]
    pos.import_file(write_pos(tmp_path / "pos.csv", payments, "utf-8"))
    expected = expected_figures(payments)
    write_csv(tmp_path / "totals.csv", ["施設", "売上", "現金", "キャッシュレス", "キャッシュレス比率"], [
        ["市民課", expected["sales_yen"] + 100, expected["cash_yen"] + 100, expected["cashless_yen"],
         str(expected["ratio_by_amount"])],
        ["美術館", "30183650", "26710410", "3473240", "11.5"],
    ])
    pos.import_file(tmp_path / "totals.csv", year=2023)

    section = kpi_cashless.section(*YEAR_2023)
    by_name = {f["facility"]: f for f in section["facilities"]}
    assert by_name["市民課"]["source"] == "pos"
    assert figures_of(by_name["市民課"]) == expected
    assert by_name["市民課"]["flags"] == ["pos_vs_totals"]
    assert by_name["美術館"]["source"] == "totals" and by_name["美術館"]["transactions"] is None
    assert [f["measure"] for f in section["flags"]] == ["pos_vs_totals"]
    total = section["total"]
    assert total["sales_yen"] == expected["sales_yen"] + 30_183_650
    assert total["cashless_yen"] == expected["cashless_yen"] + 3_473_240
    assert total["ratio_by_count"] == expected["ratio_by_count"]  # counts only from POS
    assert section["sources"]["facilities_from_pos"] == 1 and section["sources"]["facilities_from_totals"] == 1
    assert section["notes"] == [
        "件数の比率は POS 取引のある 1 施設のみの値です（1 施設は年計の金額のみ）。",
        "1 施設の金額は2023年の施設別年計によります（件数はありません）。",
    ]


def test_empty_period_gives_empty_lists():
    section = kpi_cashless.section(*YEAR_2023)
    assert section["facilities"] == section["fee_items"] == section["months"] == section["flags"] == []
    assert section["total"]["ratio_by_amount"] is None
    assert [h["transactions"] for h in section["congestion"]["by_hour"]] == [0] * 24


@pytest.mark.parametrize(("method", "cashless"), [
    ("現金", False), ("ゲンキン", False), ("CASH", False), ("現金払い", False),
    ("クレジットカード", True), ("ｸﾚｼﾞｯﾄ", True), ("クレジット・カード（VISA）", True), ("デビット", True),
    ("QR", True), ("ＱＲコード決済", True), ("バーコード", True), ("PayPay", True), ("d払い", True),
    ("au PAY", True), ("電子マネー", True), ("交通系IC", True), ("IC", True), ("Suica", True), ("iD", True),
    ("nanaco", True), ("楽天Edy", True), ("キャッシュレス", True), ("card", True),
    ("商品券", None), ("振込", None), ("現金・カード併用", None), ("その他", None), ("", None), ("ID番号", None),
])
def test_payment_methods_are_classified(method, cashless):
    assert pos.classify_method(method) is cashless


def test_admin_lists_pos_facility_totals_and_printouts(tmp_path):
    """The admin pages of the imported facts open for a DX administrator (second factor
    verified) and show whether a facility's amounts agree with its published ratio."""
    rows = real_rows()
    rows[0]["published_cashless_ratio_pct"] = "54.3"
    pos.import_file(write_csv(tmp_path / "totals.csv", list(rows[0]), [list(r.values()) for r in rows]), year=2023)
    pos.import_file(write_pos(tmp_path / "pos.csv", generated_payments(count=20), "utf-8"))
    printouts.import_file(DATA / "printouts_by_department_fy2022_fy2023.csv")

    user = get_user_model().objects.create_superuser("dx-admin", "dx@example.jp", "a-long-passphrase-2023")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()

    for model in ("postransaction", "facilitycashless", "printerusage", "printerperiodtotal"):
        assert client.get(f"/admin/insights/{model}/").status_code == 200, model
    html = client.get("/admin/insights/facilitycashless/?q=西口駐車場").content.decode()
    assert "45.3" in html and "54.30" in html and 'alt="False"' in html
    html = client.get("/admin/insights/facilitycashless/?q=美術館").content.decode()
    assert "11.5" in html and 'alt="True"' in html
    assert client.get("/admin/insights/postransaction/add/").status_code == 403


def test_a_clash_with_a_concurrent_import_applies_nothing():
    """Two imports of overlapping files at once: the one that loses on the unique key
    applies nothing and says so, instead of failing with a database error."""
    PosTransaction.objects.create(at=dt.datetime(2023, 5, 1, 1, 0, tzinfo=dt.UTC), facility="市民課",
                                  fee_item="住民票の写し", amount=300, method="現金", cashless=False, source_key="k")
    with pytest.raises(ImportRejected) as excinfo, _cells.applying():
        FacilityCashless.objects.create(year=2023, facility="美術館", sales=1, cash=1, cashless=0)
        PosTransaction.objects.create(at=dt.datetime(2023, 5, 1, 1, 0, tzinfo=dt.UTC), facility="市民課",
                                      fee_item="住民票の写し", amount=300, method="現金", cashless=False,
                                      source_key="k")
    assert error_cells(excinfo) == [(0, "")]
    assert FacilityCashless.objects.count() == 0 and PosTransaction.objects.count() == 1


def test_the_pdf_reports_cashless_only_tallies_apart(tmp_path):
    import subprocess

    from tenohira.insights import report
    from tenohira.insights.render import to_pdf

    rows = [list(r.values()) for r in real_rows()] + OWN_TALLIES
    pos.import_file(write_csv(tmp_path / "totals.csv", list(real_rows()[0]), rows), year=2023)
    to_pdf(report.build(year=2023), tmp_path / "r.pdf")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(tmp_path / "r.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert "キャッシュレスのみの集計（独自集計）" in text and "1,715,700" in text and "15.96%" in text
