"""The report's outputs (insights.render): PDF, XLSX, HTML and the open-data CSV, and the
SVG charts (insights.charts), rendered from a real report — the city's published tables
imported through the real importers and built by report.build().

The PDF is read back the way a person or a search tool would: its text layer with
pdftotext (poppler-utils), its pages as PNG with pdftoppm, checked pixel by pixel for
content and for the charts' bars.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image

from tenohira.insights import charts, report
from tenohira.insights.imports import applications, inventory, pos, printouts, savings
from tenohira.insights.render import formatting as f
from tenohira.insights.render import to_html, to_open_data_csv, to_pdf, to_xlsx
from tenohira.insights.render.opendata import COLUMNS
from tenohira.insights.render.tables import layout
from tenohira.insights.selectors import restrict

pytestmark = pytest.mark.django_db

SHARED_DATA = Path(__file__).resolve().parent / "data"  # the real files the figures come from
DOC = Path(__file__).resolve().parents[2] / "docs" / "insights-report.md"
SVG = "{http://www.w3.org/2000/svg}"
DEPARTMENTS = [
    "総務部", "政策開発部", "財務部", "税務部", "市民部", "文化スポーツ部", "環境部", "保健福祉部", "こども部",
    "農林部", "産業観光部", "建設部", "都市構想部", "上下水道局", "教育総務部", "学校教育部", "教育委員会",
    "選挙管理委員会", "農業委員会", "議会事務局",
]
# 放課後児童クラブ applications in November 2023: inside office hours, after 17:15, on a
# Saturday, a minute before 08:30 — and one 市民部 application inside office hours.
APPLICATION_LOG = [
    ("放課後児童クラブ入所申請", "2023-11-06 09:00", "online", "こども部"),
    ("放課後児童クラブ入所申請", "2023-11-06 20:00", "online", "こども部"),
    ("放課後児童クラブ入所申請", "2023-11-11 10:00", "online", "こども部"),
    ("放課後児童クラブ入所申請", "2023-11-07 08:29", "online", "こども部"),
    ("住民票の写しの交付請求", "2023-11-07 10:00", "online", "市民部"),
]


def shared(tmp_path: Path, name: str) -> Path:
    source = SHARED_DATA / name
    assert source.is_file(), f"the real data file is missing: {source}"
    target = tmp_path / name
    shutil.copyfile(source, target)
    return target


@pytest.fixture
def built(tmp_path, settings):
    """The 2023 report (calendar year: cashless is reported so; the yearly sections are
    FY2023) from the real files, through the real importers."""
    settings.MUNICIPALITY_NAME = "郡山市"
    inventory.import_file(shared(tmp_path, "online_by_department_fy2023.csv"), fiscal_year=2023)
    inventory.import_file(shared(tmp_path, "target_procedures_fy2024.csv"), fiscal_year=2023)
    savings.import_file(shared(tmp_path, "time_savings_fy2023.csv"), fiscal_year=2023)
    pos.import_file(shared(tmp_path, "cashless_by_facility_2023.csv"), year=2023)
    printouts.import_file(shared(tmp_path, "printouts_by_department_fy2022_fy2023.csv"))
    log = tmp_path / "applications.csv"
    with log.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["手続名", "申請日時", "申請方法", "部局"])
        writer.writerows(APPLICATION_LOG)
    applications.import_file(log)
    return report.build(year=2023)


def pdf_text(path: Path, page: int | None = None) -> str:
    command = ["pdftotext", "-layout", "-enc", "UTF-8"]
    if page is not None:
        command += ["-f", str(page), "-l", str(page)]
    return subprocess.run([*command, str(path), "-"], check=True, capture_output=True, text=True).stdout


def pdf_pages(path: Path) -> list[tuple[float, float]]:
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(path)], check=True, capture_output=True,
                          text=True).stdout
    return [(float(w), float(h)) for w, h in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)]


# --- formatting -------------------------------------------------------------------------


def test_numbers_are_written_the_japanese_way():
    assert f.count(1804) == "1,804"
    assert f.count(1651938) == "1,651,938"
    assert f.rate(22.8) == "22.8%"
    assert f.rate(15.96) == "15.96%"
    assert f.rate(0) == "0.0%"
    assert f.signed(43) == "+43"
    assert f.signed(-25) == "△25"
    assert f.signed(-19077) == "△19,077"
    assert f.signed(0) == "±0"
    assert f.signed(-3.4, 1) == "△3.4"
    assert f.points_text(3.4) == "+3.4ポイント"
    assert f.points_text(-0.3) == "△0.3ポイント"
    assert f.hours(5019.3) == "5,019.3"
    assert f.hours(1589) == "1,589"
    assert f.cell(None, f.COUNT) == "－"


# --- charts -----------------------------------------------------------------------------


def test_charts_are_wellformed_svg_with_a_text_alternative_and_one_bar_per_value(built):
    plan = layout(built)
    found = {c.key: c for c in plan.charts}
    assert {"chart-online-rate", "chart-coverage-rate", "chart-cashless-facilities", "chart-after-hours",
            "chart-savings", "chart-next"} <= set(found)
    for chart in plan.charts:
        root = ET.fromstring(chart.svg())
        assert root.tag == f"{SVG}svg"
        assert root.get("role") == "img"
        title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
        assert title is not None and title.text == chart.title
        assert desc is not None and len(desc.text) > 20
        assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        assert len(root.findall(f"{SVG}rect[@class='bar']")) == chart.bar_count > 0
    # 20 departments and the total, this year and the previous one.
    online = ET.fromstring(found["chart-online-rate"].svg())
    assert len(online.findall(f"{SVG}rect[@class='bar']")) == 21 * 2
    labels = [t.text for t in online.findall(f"{SVG}text[@class='category']")]
    assert labels == DEPARTMENTS + ["合計"]
    values = [t.text for t in online.findall(f"{SVG}text[@class='value']")]
    assert values[-2:] == ["22.8%", "20.2%"]
    # 36 facilities and the total, with the national target drawn as a line.
    cashless = ET.fromstring(found["chart-cashless-facilities"].svg())
    assert len(cashless.findall(f"{SVG}rect[@class='bar']")) == 37
    assert cashless.find(f"{SVG}line[@class='target']") is not None
    assert "15.96%" in [t.text for t in cashless.findall(f"{SVG}text[@class='value']")]
    # Hours saved: RPA and other stacked, one pair per department.
    savings_chart = found["chart-savings"]
    assert savings_chart.bar_count == 2 * len(built["savings"]["departments"])
    # Deterministic: the same report gives byte-identical SVG.
    assert [c.svg() for c in layout(built).charts] == [c.svg() for c in plan.charts]


def test_a_bar_is_as_long_as_its_value():
    chart = charts.bar_chart("t", "テスト", ["総務部", "市民部"], [("率", [50, 25])], unit="%", axis_max=100)
    bars = [s for s in chart.shapes if s.css_class == "bar"]
    assert bars[0].w == pytest.approx(2 * bars[1].w)
    assert "総務部（50.0%）" in chart.description and "市民部（25.0%）" in chart.description


# --- HTML -------------------------------------------------------------------------------


def test_html_shows_every_table_with_its_chart_and_japanese_numbers(built):
    page = to_html(built)
    plan = layout(built)
    assert page.startswith("<!doctype html>") and '<html lang="ja">' in page
    assert "<script" not in page
    for table in plan.tables:
        assert f"表: {table.title}" in page
    for chart in plan.charts:
        assert f'id="{chart.key}-title"' in page
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) == len(plan.charts) >= 8
    for svg in svgs:
        ET.fromstring(svg)  # well-formed inside the page too
    for text in ("1,804", "22.8%", "56.1%", "1,651,938", "926,592", "△25", "+3.4", "15.96%", "5,019.3",
                 "総務部", "学校教育部", "放課後児童クラブ入所申請", "75.0%"):
        assert text in page, text
    # The totals row of the online table, in order.
    total = re.search(r'<tr class="total">(.*?)</tr>', page, flags=re.S).group(1)
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", total)
    assert cells == ["合計", "1,804", "△25", "412", "+43", "22.8%", "+2.7", "1,651,938", "△19,077",
                     "926,592", "+46,145", "56.1%", "+3.4"]


def test_a_department_heads_report_holds_only_their_department(built):
    page = to_html(restrict(built, ["こども部"]))
    assert "こども部" in page and "102,147" in page
    for other in DEPARTMENTS:
        if other != "こども部":
            assert other not in page, other
    for city_wide in ("1,804", "1,651,938", "15.96%", "5,019.3", '<tr class="total">'):
        assert city_wide not in page, city_wide


# --- PDF --------------------------------------------------------------------------------


def test_the_pdf_is_a4_japanese_searchable_and_shows_tables_and_charts(built, tmp_path):
    path = tmp_path / "report.pdf"
    to_pdf(built, path)
    assert path.read_bytes().startswith(b"%PDF")
    sizes = pdf_pages(path)
    assert len(sizes) >= 5
    for width, height in sizes:
        assert (round(width), round(height)) in {(595, 842), (842, 595)}
    fonts = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    assert "Helvetica" not in fonts
    assert all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:])  # every font embedded

    text = pdf_text(path)
    for heading in ("DX推進の状況（本部会報告）", "部局別オンライン化の状況（令和5年度）", "オンライン化率", "カバー率",
                    "年間申請件数", "公表値の確認", "オンライン化の候補", "部局別の業務削減時間",
                    "施設別のキャッシュレス比率", "部局別の開庁時間外の申請", "部局別の印刷枚数（期間計）",
                    "図: 部局別オンライン化率"):
        assert heading in text, heading
    for number in ("1,804", "412", "22.8", "1,651,938", "926,592", "56.1", "1,829", "369", "20.2",
                   "1,671,015", "880,447", "52.7", "△25", "+3.4", "15.96", "5,019.3", "9,400,529", "13,885,861"):
        assert number in text, number
    for name in DEPARTMENTS:
        assert name in text, name
    # The online table's totals row reads as one line in the text layer.
    assert re.search(r"合計\s+1,804\s+△25\s+412\s+\+43\s+22\.8%\s+\+2\.7\s+1,651,938", text)
    # 学校教育部: 3 of 9 procedures online is 33.3%, not the published 0.0%.
    assert re.search(r"学校教育部\s+オンライン化率\s+0\.0%\s+33\.3%", text)

    # Long tables repeat their heading row on every page they run onto.
    pages = [pdf_text(path, n) for n in range(1, len(sizes) + 1)]
    measures = [n for n, page in enumerate(pages) if "電子入札" in page or "河川台帳の電子化" in page]
    assert len(measures) == 2 and measures[1] == measures[0] + 1
    for n in measures:
        heading = next(line for line in pages[n].splitlines() if "種類" in line)
        assert re.search(r"部局\s+種類\s+取組\s+計算式", heading), heading
    # Page numbers on every page.
    for number, page in enumerate(pages, start=1):
        assert f"{number} / {len(sizes)} ページ" in page


def test_the_pdf_pages_are_not_blank_and_the_charts_are_drawn(built, tmp_path):
    path = tmp_path / "report.pdf"
    to_pdf(built, path)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")], check=True)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == len(pdf_pages(path))
    blue_pages = 0
    for image_path in images:
        data = Image.open(image_path).convert("RGB").tobytes()
        pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
        ink = sum(1 for r, g, b in pixels if r + g + b < 600)
        assert ink > 0.005 * len(pixels), f"{image_path.name} looks blank ({ink} inked pixels)"
        # The bars of the current year are the design system's blue (#0017c1).
        bars = sum(1 for r, g, b in pixels if r < 60 and g < 80 and b > 150)
        if bars > 300:
            blue_pages += 1
    # At least: online rate, coverage rate, after hours, savings, cashless, printouts.
    assert blue_pages >= 6


def test_wide_tables_fit_the_page(built):
    from tenohira.applications.receipt_pdf import font_name
    from tenohira.insights.render.pdf import LANDSCAPE_WIDTH, PORTRAIT_WIDTH, column_widths

    for table in layout(built).tables:
        widths, wide = column_widths(table, font_name())
        assert sum(widths) <= (LANDSCAPE_WIDTH if wide else PORTRAIT_WIDTH) + 0.01, table.key
    # A table with many columns of long numbers turns the page.
    wide_table = layout(built).tables[0]
    wide_table.columns = wide_table.columns * 2
    wide_table.rows = [row * 2 for row in wide_table.rows]
    wide_table.total = wide_table.total * 2
    assert column_widths(wide_table, font_name())[1] is True


# --- XLSX -------------------------------------------------------------------------------


def test_the_workbook_has_a_sheet_per_table_with_numbers_and_formats(built, tmp_path):
    path = tmp_path / "report.xlsx"
    to_xlsx(built, path)
    book = load_workbook(path)
    plan = layout(built)
    assert book.sheetnames == ["概要"] + [t.sheet for t in plan.tables]
    sheet = book["オンライン化_部局別"]
    headers = [c.value for c in sheet[3]]
    assert headers[:4] == ["部局", "手続数 令和5年度", "手続数 増減", "オンライン化手続数 令和5年度"]
    rows = {r[0]: r for r in sheet.iter_rows(min_row=4, values_only=True) if r[0]}
    assert rows["合計"][:7] == ("合計", 1804, -25, 412, 43, 22.8, 2.7)
    assert rows["合計"][7] == 1651938 and rows["合計"][11] == 56.1 and rows["合計"][12] == 3.4
    assert rows["総務部"][1] == 69
    assert len([name for name in rows if name in DEPARTMENTS]) == 20
    total_row = next(r for r in sheet.iter_rows(min_row=4) if r[0].value == "合計")
    assert total_row[1].number_format == "#,##0"
    assert "△" in total_row[2].number_format
    assert total_row[5].number_format == '0.0"%"'
    cashless = book["キャッシュレス_施設別"]
    total = next(r for r in cashless.iter_rows(min_row=4) if r[0].value == "合計")
    ratio = next(c for c in total if c.number_format == '0.00"%"')
    assert ratio.value == 15.96
    savings_sheet = book["削減時間_部局別"]
    savings_total = next(r for r in savings_sheet.iter_rows(min_row=4, values_only=True) if r[0] == "合計")
    assert savings_total[1] == 5019.3
    summary = [r for r in book["概要"].iter_rows(values_only=True)]
    assert ("オンライン化率", "22.8%　令和4年度から+2.7ポイント、412 / 1,804 手続") in summary


# --- open-data CSV ----------------------------------------------------------------------


def documented_columns() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Open-data CSV", 1)[1]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)


def test_the_open_data_csv_is_utf8_with_bom_and_documented_columns(built, tmp_path):
    path = tmp_path / "kpi.csv"
    to_open_data_csv(built, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    assert reader.fieldnames == COLUMNS == documented_columns()
    rows = list(reader)

    def value(code, subject="全体", table_part=""):
        found = [r for r in rows if r["指標コード"] == code and r["対象"] == subject and table_part in r["表"]]
        assert len(found) == 1, (code, subject, found)
        return found[0]

    assert value("procedures", table_part="令和5年度）")["値"] == "1804"
    assert value("online_rate", table_part="令和5年度）")["値"] == "22.8"
    assert value("online_rate", table_part="令和5年度）")["単位"] == "%"
    assert value("coverage_rate", table_part="令和5年度）")["値"] == "56.1"
    assert value("coverage_rate_points")["値"] == "3.4"
    assert value("coverage_rate_points")["単位"] == "ポイント"
    assert value("procedures_difference")["値"] == "-25"
    assert value("online_rate", table_part="前回")["期間"] == "令和4年度"
    assert value("online_rate", table_part="前回")["値"] == "20.2"
    assert value("online_rate", "学校教育部", "令和5年度）")["値"] == "33.3"
    assert value("ratio_by_amount")["値"] == "15.96"
    assert value("ratio_by_amount", "西口駐車場")["区分"] == "施設"
    assert value("rpa_hours")["値"] == "5019.3"
    assert value("share", table_part="部局別の開庁時間外")["値"] == "60.0"
    for row in rows:
        assert row["自治体名"] == "郡山市"
        float(row["値"])  # every value is a plain number
        assert "," not in row["値"] and "△" not in row["値"]
    # KPIs only: no candidate list, no measure texts, no messages.
    everything = raw.decode("utf-8-sig")
    assert "コンビニ交付の推進" not in everything
    assert "公表値" not in everything
    assert "@" not in everything


# --- POS transactions and monthly printer usage ------------------------------------------

POS = [
    ("2023-04-03 09:15", "市民課", "住民票の写し", "300", "現金"),
    ("2023-04-03 10:20", "市民課", "住民票の写し", "300", "PayPay"),
    ("2023-05-08 14:05", "市民課", "印鑑登録証明書", "300", "クレジットカード"),
    ("2023-06-12 16:40", "市民課", "住民票の写し", "600", "現金"),
    ("2023-04-08 11:00", "総合体育館", "施設使用料", "1000", "現金"),
    ("2023-05-13 13:30", "総合体育館", "施設使用料", "2000", "PayPay"),
]
PRINTER_USAGE = [
    ("総務部", "2022-04", "100", "900", "10"),
    ("総務部", "2023-04", "50", "950", "10"),
    ("こども部", "2022-04", "200", "800", "20"),
    ("こども部", "2023-04", "100", "700", "20"),
]


def write_csv(path: Path, header: list[str], rows) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_pos_transactions_and_monthly_printouts_get_their_tables_and_charts(tmp_path):
    import datetime as dt

    pos.import_file(write_csv(tmp_path / "pos.csv", ["日時", "施設", "料金項目", "金額", "支払方法"], POS))
    printouts.import_file(write_csv(tmp_path / "usage.csv", ["部局", "月", "カラー枚数", "モノクロ枚数", "職員数"],
                                    PRINTER_USAGE))
    built = report.build(date_from=dt.date(2023, 4, 1), date_to=dt.date(2023, 6, 30))
    plan = layout(built)
    keys = {t.key for t in plan.tables}
    assert {"cashless_facilities", "cashless_fee_items", "cashless_months", "cashless_methods",
            "cashless_by_hour", "cashless_by_weekday", "cashless_weekday_hour",
            "paperless_departments", "paperless_months"} <= keys

    page = to_html(built)
    # 2,600 of 4,500 yen cashless (57.78%); 3 of 6 payments (50.0%); 施設使用料 2,000 of 3,000 yen.
    for text in ("57.78%", "50.0%", "66.7%", "9時台", "土", "1,800", "△200", "△10.0%"):
        assert text in page, text
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) == len(plan.charts)
    for svg in svgs:
        ET.fromstring(svg)

    path = tmp_path / "report.pdf"
    to_pdf(built, path)
    text = pdf_text(path)
    for heading in ("料金項目別のキャッシュレス比率", "月別のキャッシュレス比率", "支払方法別の取引",
                    "窓口の混雑（時間帯別の取引件数）", "窓口の混雑（曜日×時間帯の取引件数）",
                    "部局別の印刷枚数（前年同期との比較）", "月別の印刷枚数", "57.78%"):
        assert heading in text, heading
    to_xlsx(built, tmp_path / "report.xlsx")
    book = load_workbook(tmp_path / "report.xlsx")
    sheet = book["キャッシュレス_月別"]
    assert [sheet.cell(row=r, column=1).value for r in range(4, 8)] == ["2023年4月", "2023年5月", "2023年6月", None]
    to_open_data_csv(built, tmp_path / "kpi.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "kpi.csv").read_text(encoding="utf-8-sig"))))
    kinds = {r["区分"] for r in rows}
    assert {"施設", "料金項目", "月", "部局", "全体"} <= kinds
    overall = [r for r in rows if r["指標コード"] == "ratio_by_count" and r["対象"] == "全体"]
    assert [r["値"] for r in overall] == ["50.0"]
