"""手続棚卸 as the DX division publishes it: the department table with Japanese headers,
dashes, thousands separators, printed rates and differences and a 合計 row (the real
FY2023 figures in that shape, as CSV with BOM, CP932 and XLSX); the optional オンライン
申請件数 column and the online use rate it gives; names-only per-procedure inventories."""

from __future__ import annotations

import csv
import io
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from tenohira.catalog.services import ImportRejected
from tenohira.insights import kpi_online, report
from tenohira.insights.imports import inventory
from tenohira.insights.models import InventoryDepartment, InventoryProcedure
from tenohira.insights.render import opendata, to_html, to_open_data_csv, to_xlsx

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parent / "data"
PUBLISHED = DATA / "online_by_department_fy2023_published.csv"
ENGLISH = DATA / "online_by_department_fy2023.csv"
# The two published rates of FY2023 that contradict their own counts.
FY2023_WARNINGS = [
    "17行目 「オンライン化率」: 学校教育部のオンライン化率は公表値 0.0% ですが、件数から計算すると 33.3%（3/9）です。",
    "18行目 「オンライン化率」: 教育委員会のオンライン化率は公表値 42.9% ですが、件数から計算すると 21.4%（3/14）です。",
]


def published_rows() -> tuple[list[str], list[list[str]]]:
    with PUBLISHED.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8-sig") -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def english_section(tmp_path: Path) -> dict:
    """The FY2023 section from the English file: what every published variant must give."""
    shutil.copyfile(ENGLISH, tmp_path / "english.csv")
    inventory.import_file(tmp_path / "english.csv", fiscal_year=2023)
    section = kpi_online.section(2023)
    InventoryDepartment.objects.all().delete()
    return section


# --- the published table --------------------------------------------------------------------


def test_the_published_table_in_utf8_with_bom_imports_as_published(tmp_path):
    expected = english_section(tmp_path)
    result = inventory.import_file(PUBLISHED, fiscal_year=2023)
    assert result.source_format == "csv-utf-8-sig"
    assert (result.shape, result.fiscal_years) == (inventory.DEPARTMENTS, [2023, 2022])
    assert (result.created, result.updated, result.unchanged, result.removed) == (40, 0, 0, 0)
    # Printed rates, differences and the 合計 row agree with the counts except the two
    # published mistakes, which are told and not refused.
    assert result.warnings == FY2023_WARNINGS
    assert "注意: 17行目 「オンライン化率」: 学校教育部" in result.summary()
    # The 合計 row is checked, not imported as a department.
    assert InventoryDepartment.objects.filter(fiscal_year=2023).count() == 20
    assert not InventoryDepartment.objects.filter(department="合計").exists()
    assert kpi_online.section(2023) == expected
    total = kpi_online.section(2023)["total"]["current"]
    assert (total["procedures"], total["online_procedures"], total["online_rate"], total["annual_applications"],
            total["covered_applications"], total["coverage_rate"]) == (1804, 412, 22.8, 1651938, 926592, 56.1)
    # Dashes are zeros: 議会事務局 prints 「-」 for its online procedures and covered applications.
    assembly = InventoryDepartment.objects.get(fiscal_year=2023, department="議会事務局")
    assert (assembly.procedures, assembly.online_procedures, assembly.covered_applications) == (1, 0, 0)
    school = InventoryDepartment.objects.get(fiscal_year=2023, department="学校教育部")
    assert school.published_online_rate == Decimal("0.0")  # kept for the flag only
    assert {(f["department"], f["measure"]) for f in kpi_online.section(2023)["flags"]} == {
        ("学校教育部", "online_rate"), ("教育委員会", "online_rate")}

    again = inventory.import_file(PUBLISHED, fiscal_year=2023)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 40)


def test_the_published_table_in_cp932_gives_the_same_report(tmp_path):
    expected = english_section(tmp_path)
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes(PUBLISHED.read_text(encoding="utf-8-sig").encode("cp932"))
    result = inventory.import_file(sjis, fiscal_year=2023)
    assert result.source_format == "csv-cp932"
    assert result.warnings == FY2023_WARNINGS
    assert kpi_online.section(2023) == expected


def _number(text: str):
    """A printed cell as the number an Excel sheet holds (dashes stay text, as printed)."""
    if text in ("-", ""):
        return text
    if text.endswith("%"):
        return float(Decimal(text[:-1]) / 100)
    if text.startswith("△"):
        return -float(text[1:].replace(",", ""))
    value = float(text.replace(",", ""))
    return int(value) if value.is_integer() and "." not in text else value


def published_workbook(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """The published table as the DX division's workbook: numbers as numbers, rates as
    fractions formatted 0.0%, decreases as negative numbers formatted with △."""
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append([row[0], *(_number(cell) for cell in row[1:])])
    for column, name in enumerate(header, start=1):
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            if "率" in name and "増減" not in name:
                cell.number_format = "0.0%"
            elif "率" in name:
                cell.number_format = '0.0;"△"0.0'
            elif isinstance(cell.value, int):
                cell.number_format = '#,##0;"△"#,##0'
    book.save(path)
    return path


def test_the_published_workbook_with_percent_cells_gives_the_same_report(tmp_path):
    expected = english_section(tmp_path)
    header, rows = published_rows()
    path = published_workbook(tmp_path / "published.xlsx", header, rows)
    stored = load_workbook(path).active
    assert stored["H2"].value == pytest.approx(0.319) and stored["H2"].number_format == "0.0%"
    result = inventory.import_file(path, fiscal_year=2023)
    assert result.source_format == "xlsx"
    assert result.warnings == FY2023_WARNINGS
    assert kpi_online.section(2023) == expected


def test_a_workbook_rate_computed_by_a_formula_is_read_as_its_format_shows_it(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["部局名", "総手続き数", "オンライン化済手続き数", "オンライン化率", "総申請件数（年間）", "カバー件数",
                  "カバー率"])
    # What Excel stores for =C2/B2 and =F2/E2: the exact quotient, shown rounded.
    sheet.append(["市民部", 146, 41, 41 / 146, 484418, 322056, 322056 / 484418])
    sheet.append(["学校教育部", 9, 3, 0, 5327, 0, 0])
    sheet["D2"].number_format = sheet["G2"].number_format = "0.0%"
    sheet["D3"].number_format = sheet["G3"].number_format = "0.0%"
    sheet.append(["こども部", 70, 33, 47.142857142857, 102147, 30347, 29.7])
    sheet["D4"].number_format = "0.0"  # a rate typed in percent with a rounding format
    book.save(tmp_path / "formulas.xlsx")
    result = inventory.import_file(tmp_path / "formulas.xlsx", fiscal_year=2023)
    stored = {d.department: d for d in InventoryDepartment.objects.filter(fiscal_year=2023)}
    assert stored["市民部"].published_online_rate == Decimal("28.1")
    assert stored["市民部"].published_coverage_rate == Decimal("66.5")
    assert stored["こども部"].published_online_rate == Decimal("47.1")
    assert result.warnings == [
        "3行目 「オンライン化率」: 学校教育部のオンライン化率は公表値 0.0% ですが、件数から計算すると 33.3%（3/9）です。"]


def test_printed_figures_that_disagree_with_the_counts_are_warnings_and_never_results(tmp_path):
    header, rows = published_rows()
    at = {name: index for index, name in enumerate(header)}
    by_name = {row[0]: row for row in rows}
    by_name["市民部"][at["総手続き数（増減）"]] = "△5"                # 146 − 152 = △6
    by_name["市民部"][at["カバー率（前回）"]] = "66.9%"                # 331,576 / 503,218 = 65.9%
    by_name["こども部"][at["カバー率（増減）"]] = "16.2"               # 16.3 (16.2 would be neither reading)
    by_name["建設部"][at["オンライン化率（増減）"]] = "10.6ポイント"     # fine: the printed unit
    by_name["合計"][at["総手続き数"]] = "1,805"                        # the departments add up to 1,804
    by_name["合計"][at["カバー率"]] = "56.0%"                          # 926,592 / 1,651,938 = 56.1%
    result = inventory.import_file(write_csv(tmp_path / "t.csv", header, rows), fiscal_year=2023)
    assert result.warnings == [
        "6行目 「総手続き数（増減）」: 市民部の手続数の増減は △5 と書かれていますが、件数から計算すると △6 です。",
        "6行目 「カバー率（前回）」: 市民部の前回のカバー率は公表値 66.9% ですが、件数から計算すると 65.9%（331576/503218）です。",
        "10行目 「カバー率（増減）」: こども部のカバー率の増減は +16.2ポイントと書かれていますが、件数から計算すると +16.3ポイントです。",
        *FY2023_WARNINGS,
        "22行目 「総手続き数」: 合計の行の 1,805 は部局の合計 1,804 と一致しません。",
        "22行目 「カバー率」: 合計の行のカバー率は公表値 56.0% ですが、部局の件数の合計から計算すると 56.1%です。",
    ]
    total = kpi_online.section(2023)["total"]["current"]
    assert (total["procedures"], total["coverage_rate"]) == (1804, 56.1)


def test_a_difference_of_printed_rates_is_accepted_as_printed(tmp_path):
    header, rows = published_rows()
    at = {name: index for index, name in enumerate(header)}
    total = rows[-1]
    # 22.8 − 20.2 = 2.6: a hand-made table subtracts the printed rates (Tenohira prints 2.7).
    total[at["オンライン化率（増減）"]] = "2.6"
    result = inventory.import_file(write_csv(tmp_path / "t.csv", header, rows), fiscal_year=2023)
    assert result.warnings == FY2023_WARNINGS


HEADER = ["部局名", "総手続き数", "オンライン化済手続き数", "オンライン化率", "総申請件数（年間）", "カバー件数", "カバー率"]


def test_dashes_blanks_and_a_department_without_procedures(tmp_path):
    path = write_csv(tmp_path / "d.csv", HEADER, [
        ["総務部", "６９", "２２", "３１．９％", "１７，２７８", "１５，５２５", "８９．９"],
        ["会計管理者", "－", "―", "－", "‐", "—", "-"],
        ["監査委員", "", "", "", "", "", ""],
        ["議会事務局", "1", "ー", "0.0%", "500件", "-", "0.0"],
        ["合 計", "70", "22", "31.4%", "17,778", "15,525", "87.3%"],
    ])
    result = inventory.import_file(path, fiscal_year=2023)
    assert result.warnings == []
    stored = {d.department: d for d in InventoryDepartment.objects.filter(fiscal_year=2023)}
    assert list(stored) == ["総務部", "会計管理者", "監査委員", "議会事務局"]
    assert (stored["総務部"].procedures, stored["総務部"].annual_applications) == (69, 17278)
    for name in ("会計管理者", "監査委員"):
        department = stored[name]
        assert (department.procedures, department.online_procedures, department.annual_applications,
                department.covered_applications, department.published_online_rate) == (0, 0, 0, 0, None)
    rows = {row["department"]: row for row in kpi_online.section(2023)["departments"]}
    assert rows["会計管理者"]["current"]["online_rate"] is None  # nothing to divide: no rate, not 0%
    assert rows["議会事務局"]["current"]["online_rate"] == 0.0


def test_a_blank_count_beside_filled_ones_and_two_total_rows_are_errors(tmp_path):
    path = write_csv(tmp_path / "bad.csv", HEADER, [
        ["総務部", "69", "", "31.9%", "17,278", "15,525", "89.9%"],
        ["合計", "69", "22", "31.9%", "17,278", "15,525", "89.9%"],
        ["計", "69", "22", "31.9%", "17,278", "15,525", "89.9%"],
        ["市民部", "146.5", "41", "二十八", "484418", "322056", "66.5"],
    ])
    with pytest.raises(ImportRejected) as caught:
        inventory.import_file(path, fiscal_year=2023)
    assert [str(e) for e in caught.value.errors] == [
        "2行目 「オンライン化済手続き数」: 必須です（手続きのない部局は「-」）。",
        "4行目 「部局名」: 合計の行が2つあります（3行目と同じ）。",
        "5行目 「総手続き数」: 「146.5」は件数（0以上の整数）ではありません。",
        "5行目 「オンライン化率」: 「二十八」は0〜100の率（小数第1位まで）ではありません。",
    ]
    assert InventoryDepartment.objects.count() == 0


# --- online applications and the online use rate -------------------------------------------


def with_online_applications(current: dict[str, str], previous: dict[str, str], use_rates: dict[str, str]):
    header, rows = published_rows()
    header = [*header, "オンライン申請件数", "オンライン申請件数（前回）", "オンライン利用率"]
    for row in rows:
        row += [current.get(row[0], "-"), previous.get(row[0], "-"), use_rates.get(row[0], "-")]
    return header, rows


def test_online_applications_give_the_online_use_rate_per_department_and_in_total(tmp_path):
    header, rows = with_online_applications(
        # こども部: 30,347 covered; 市民部: 322,056 covered; 税務部 prints a wrong use rate.
        current={"こども部": "21,243", "市民部": "128,822", "税務部": "80,020", "合計": "230,085"},
        previous={"こども部": "6,864", "市民部": "99,473"},
        use_rates={"こども部": "70.0%", "市民部": "40.0%", "税務部": "5.0%", "合計": "44.9%"},
    )
    result = inventory.import_file(write_csv(tmp_path / "o.csv", header, rows), fiscal_year=2023)
    assert result.warnings == [
        "5行目 「オンライン利用率」: 税務部のオンライン利用率は公表値 5.0% ですが、件数から計算すると 50.0%（80020/160040）です。",
        *FY2023_WARNINGS,
    ]
    assert InventoryDepartment.objects.get(fiscal_year=2022, department="こども部").online_applications == 6864
    online = report.build(fiscal_year=2023)["online"]
    rows_by_name = {row["department"]: row for row in online["departments"]}
    children = rows_by_name["こども部"]
    assert children["current"]["online_applications"] == 21243
    assert children["current"]["online_use_rate"] == 70.0        # 21,243 / 30,347 = 69.99…
    assert children["previous"]["online_use_rate"] == 50.0        # 6,864 / 13,727 = 50.003…
    assert children["difference"]["online_applications"] == 14379
    assert children["difference"]["online_use_rate_points"] == 20.0
    assert rows_by_name["税務部"]["difference"]["online_applications"] is None  # no previous figure
    general = rows_by_name["総務部"]
    assert general["current"]["online_applications"] is None and general["current"]["online_use_rate"] is None
    assert online["online_applications_departments"] == {"current": 3, "previous": 2}
    # The total is over the three departments with a figure: 230,085 / (30,347 + 322,056 + 160,040).
    total = online["total"]
    assert total["current"]["online_applications"] == 230085
    assert total["current"]["online_use_rate"] == 44.9
    assert total["previous"]["online_use_rate"] == 30.8            # 106,337 / (13,727 + 331,576) = 30.795…
    assert total["difference"]["online_use_rate_points"] == 14.1   # 44.899… − 30.795…
    assert ("税務部", "online_use_rate") in {(f["department"], f["measure"]) for f in online["flags"]}


def test_the_report_outputs_show_online_applications_and_a_dash_where_there_is_no_figure(tmp_path):
    header, rows = with_online_applications({"こども部": "21,243"}, {"こども部": "6,864"}, {})
    inventory.import_file(write_csv(tmp_path / "o.csv", header, rows), fiscal_year=2023)
    built = report.build(fiscal_year=2023)

    html = to_html(built)
    assert "オンライン利用率" in html and "21,243" in html and "70.0%" in html
    assert "合計のオンライン申請件数とオンライン利用率は、オンライン申請件数のある 1 部局の値です。" in html
    general = re.search(r"<th scope=\"row\">総務部</th>(.*?)</tr>", html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", general)
    assert cells[-4:] == ["－", "－", "－", "－"]  # online applications, difference, use rate, points: no 0

    to_xlsx(built, tmp_path / "r.xlsx")
    sheet = load_workbook(tmp_path / "r.xlsx")["オンライン化_部局別"]
    headings = [c.value for c in sheet[3]]
    assert "オンライン申請件数 令和5年度" in headings and "オンライン利用率 令和5年度" in headings
    values = {row[0].value: row for row in sheet.iter_rows(min_row=4)}
    use = headings.index("オンライン利用率 令和5年度")
    assert values["こども部"][use].value == 70.0 and values["総務部"][use].value is None

    to_open_data_csv(built, tmp_path / "r.csv")
    with open(tmp_path / "r.csv", encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.DictReader(handle))
    use_rows = [(r["対象"], r["値"], r["単位"]) for r in lines
                if r["指標コード"] == "online_use_rate" and r["期間"] == "令和5年度"]
    assert use_rows == [("こども部", "70.0", "%"), ("全体", "70.0", "%")]  # no row for a missing figure
    assert opendata.COLUMNS[8] == "指標コード"


def test_online_applications_above_covered_applications_are_refused(tmp_path):
    header, rows = with_online_applications({"こども部": "30,348"}, {}, {})
    with pytest.raises(ImportRejected) as caught:
        inventory.import_file(write_csv(tmp_path / "o.csv", header, rows), fiscal_year=2023)
    assert [str(e) for e in caught.value.errors] == [
        "10行目 「オンライン申請件数」: オンライン申請件数（30348）がオンライン化手続の申請件数（30347）を超えています。"]


def test_a_later_file_without_previous_online_applications_keeps_them(tmp_path):
    header, rows = with_online_applications({"こども部": "21,243"}, {"こども部": "6,864"}, {})
    inventory.import_file(write_csv(tmp_path / "o.csv", header, rows), fiscal_year=2023)
    inventory.import_file(PUBLISHED, fiscal_year=2023)
    assert InventoryDepartment.objects.get(fiscal_year=2022, department="こども部").online_applications == 6864
    # This year's file is the whole year: without the column, this year has no figure.
    assert InventoryDepartment.objects.get(fiscal_year=2023, department="こども部").online_applications is None


# --- the parsers, for any printed number ----------------------------------------------------

FULL_WIDTH = str.maketrans("0123456789,.%", "０１２３４５６７８９，．％")


@given(st.integers(min_value=0, max_value=10**12), st.booleans(), st.booleans(), st.booleans())
def test_a_printed_count_reads_back(value, grouped, full_width, suffix):
    text = f"{value:,}" if grouped else str(value)
    text = text.translate(FULL_WIDTH) if full_width else text
    assert inventory._count(text + ("件" if suffix else "")) == value


@given(st.integers(min_value=0, max_value=1000), st.booleans(), st.booleans())
def test_a_printed_rate_reads_back(tenths, percent, full_width):
    value = Decimal(tenths) / 10
    text = f"{value:.1f}" + ("%" if percent else "")
    assert inventory._rate(text.translate(FULL_WIDTH) if full_width else text) == value


@given(st.integers(min_value=-10**9, max_value=10**9), st.sampled_from(["△", "▲", "-", "－"]), st.booleans())
def test_a_printed_difference_reads_back(value, minus, plus):
    text = f"{minus}{-value:,}" if value < 0 else ("+" if plus else "") + f"{value:,}"
    assert inventory._signed(text, points=False) == value
    tenths = Decimal(value % 10000) / 10 * (-1 if value < 0 else 1)
    text = (f"{minus}{-tenths:.1f}" if tenths < 0 else f"{tenths:.1f}") + "ポイント"
    assert inventory._signed(text, points=True) == tenths


@given(st.text(max_size=12))
def test_no_text_is_read_as_a_count_unless_it_is_one(text):
    try:
        value = inventory._count(text)
    except ValueError:
        return
    assert value is None or value >= 0


# --- names-only inventories -----------------------------------------------------------------

# The sections of the one-stop bundles and the departments they belong to in the city.
DEPARTMENT_OF = {
    "こども家庭支援課": "こども部", "保育課": "こども部", "介護保険課": "保健福祉部", "保健福祉総務課": "保健福祉部",
    "資産税課": "税務部", "市民税課": "税務部", "住宅政策課": "建設部", "道路維持課": "建設部",
}


def bundle_rows() -> list[list[str]]:
    with open(DATA / "one_stop_bundles.csv", encoding="utf-8", newline="") as handle:
        return [[DEPARTMENT_OF[r["section"]], r["section"], r["procedure"]] for r in csv.DictReader(handle)]


def names_workbook(path: Path, header: list[str], rows: list[list]) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


@pytest.mark.parametrize("shape", ["xlsx", "utf-8-sig", "utf-8", "cp932"])
def test_a_names_only_inventory_imports_as_not_online_with_no_applications(tmp_path, shape):
    header, rows = ["部局", "所属", "手続名"], bundle_rows()
    path = (names_workbook(tmp_path / "names.xlsx", header, rows) if shape == "xlsx"
            else write_csv(tmp_path / "names.csv", header, rows, encoding=shape))
    result = inventory.import_file(path, fiscal_year=2024)
    assert result.source_format == ("xlsx" if shape == "xlsx" else f"csv-{shape}")
    assert (result.shape, result.created, result.fiscal_years) == (inventory.PROCEDURES, 34, [2024])
    assert result.warnings == [
        "オンライン化の列がないため、新しい手続きはオンライン化されていないものとして取り込みます。",
        "年間申請件数の列がないため、新しい手続きの年間申請件数は 0 件として取り込みます。",
    ]
    stored = list(InventoryProcedure.objects.filter(fiscal_year=2024).order_by("id"))
    assert [(p.department, p.section, p.name) for p in stored] == [tuple(r) for r in rows]
    assert {(p.online, p.annual_applications, p.online_applications) for p in stored} == {(False, 0, None)}
    names = {p.name for p in stored}
    assert "児童手当等の受給資格及び児童手当の額についての認定請求" in names
    assert "氏名変更／住所変更等の届出" in names
    assert "居宅（介護予防）サービス計画作成（変更）依頼の届出" in names
    online = kpi_online.section(2024)
    children = next(row for row in online["departments"] if row["department"] == "こども部")
    assert children["current"]["procedures"] == 13 and children["current"]["online_rate"] == 0.0
    assert children["current"]["coverage_rate"] is None  # no applications counted yet: no rate
    assert len(kpi_online.what_next(2024)) == 34


def test_names_with_annual_applications_only_rank_the_candidates(tmp_path):
    with open(DATA / "target_procedures_fy2024.csv", encoding="utf-8", newline="") as handle:
        source = list(csv.DictReader(handle))
    rows = [[r["department"], r["section"], r["procedure"], f"{int(r['annual_applications']):,}"] for r in source]
    rows[5][3] = ""  # a department that has not counted yet
    path = write_csv(tmp_path / "t.csv", ["部局名", "所属名", "手続き名", "年間申請件数"], rows, encoding="cp932")
    result = inventory.import_file(path, fiscal_year=2024)
    assert result.warnings == [
        "オンライン化の列がないため、新しい手続きはオンライン化されていないものとして取り込みます。",
        "年間申請件数が空欄の 1 行（7行目）は 0 件として取り込みます。",
    ]
    ranked = kpi_online.what_next(2024)
    assert ranked[0]["procedure"] == "重度心身障害者医療費助成申請" and ranked[0]["annual_applications"] == 132000
    assert ranked[-1]["procedure"] == "行政財産使用許可申請書" and ranked[-1]["annual_applications"] == 0


def test_a_names_only_file_adds_names_without_resetting_what_a_fuller_file_said(tmp_path):
    full = write_csv(tmp_path / "full.csv", ["部局", "所属", "手続名", "オンライン化", "年間申請件数"], [
        ["こども部", "保育課", "保育施設等の利用申込", "○", "2,500"],
        ["こども部", "保育課", "支給認定の申請", "", "1,200"],
    ])
    inventory.import_file(full, fiscal_year=2024)
    names = write_csv(tmp_path / "names.csv", ["部局", "所属", "手続名"], [
        ["こども部", "保育課", "保育施設等の利用申込"], ["こども部", "保育課", "保育施設等の現況届"],
    ])
    result = inventory.import_file(names, fiscal_year=2024)
    assert (result.created, result.updated, result.unchanged) == (1, 0, 1)
    stored = {p.name: p for p in InventoryProcedure.objects.filter(fiscal_year=2024)}
    assert (stored["保育施設等の利用申込"].online, stored["保育施設等の利用申込"].annual_applications) == (True, 2500)
    assert (stored["支給認定の申請"].online, stored["支給認定の申請"].annual_applications) == (False, 1200)
    assert (stored["保育施設等の現況届"].online, stored["保育施設等の現況届"].annual_applications) == (False, 0)


# Official names: kanji and kana with brackets, 「」, ／, ・, 等, 及び, numbers, commas and quotes.
NAME_PARTS = st.lists(st.sampled_from([
    "児童手当", "等", "の", "受給資格", "及び", "額", "についての", "認定請求", "（", "）", "「", "」", "／", "・",
    "介護予防", "第2条第5項第4号", "、", ",", '"', "氏名変更", "住所変更", "届出", "申請", "（変更）", "ｶﾅ", "Ａ",
]), min_size=1, max_size=20)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAME_PARTS.map("".join), min_size=1, max_size=5, unique=True),
       shape=st.sampled_from(["xlsx", "utf-8-sig", "cp932"]))
def test_any_official_name_is_kept_exactly_as_written(tmp_path, names, shape):
    InventoryProcedure.objects.all().delete()
    rows = [["こども部", "こども家庭支援課", name] for name in names]
    header = ["部局", "所属", "手続名"]
    path = (names_workbook(tmp_path / "n.xlsx", header, rows) if shape == "xlsx"
            else write_csv(tmp_path / "n.csv", header, rows, encoding=shape))
    inventory.import_file(path, fiscal_year=2024)
    assert list(InventoryProcedure.objects.order_by("id").values_list("name", flat=True)) == names


def test_the_pdf_and_the_dashboard_show_the_online_use_rate(tmp_path, settings):
    import subprocess

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import Role, StaffRole
    from tenohira.insights.render import to_pdf

    header, rows = with_online_applications({"こども部": "21,243"}, {"こども部": "6,864"}, {})
    inventory.import_file(write_csv(tmp_path / "o.csv", header, rows), fiscal_year=2023)
    to_pdf(report.build(fiscal_year=2023), tmp_path / "r.pdf")
    text = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(tmp_path / "r.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert "オンライン利用率" in text and "21,243" in text and "70.0%" in text

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = get_user_model().objects.create_user("dx", password="x-Passw0rd-2026")
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=user, role=Role.DX_ADMIN)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    page = client.get("/staff/insights/?fy=2023").content.decode()
    assert "オンライン利用率" in page and "21,243" in page and "chart-online-use-rate" in page
