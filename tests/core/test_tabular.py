"""tenohira.core.tabular: the CSV and XLSX files municipalities exchange."""

import datetime as dt
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from tenohira.core.tabular import (
    CP932_FORMS,
    TableError,
    cp932_missing,
    decode_csv_bytes,
    in_cp932,
    neutralise_formula,
    read_table,
    to_cp932_forms,
    unencodable,
    write_table,
)

CSV_TEXT = "手続名,部局,年間申請件数\r\n住民票の写し,市民部,50000\r\n保育所の利用申込,こども部,2500\r\n"
EXPECTED_ROWS = [
    (2, {"手続名": "住民票の写し", "部局": "市民部", "年間申請件数": "50000"}),
    (3, {"手続名": "保育所の利用申込", "部局": "こども部", "年間申請件数": "2500"}),
]


@pytest.mark.parametrize(
    ("data", "source_format"),
    [
        (CSV_TEXT.encode("utf-8"), "csv-utf-8"),
        (b"\xef\xbb\xbf" + CSV_TEXT.encode("utf-8"), "csv-utf-8-sig"),
        (CSV_TEXT.encode("cp932"), "csv-cp932"),
    ],
    ids=["utf-8", "utf-8-bom", "cp932"],
)
def test_csv_encodings_are_detected(tmp_path, data, source_format):
    path = tmp_path / "catalog.csv"
    path.write_bytes(data)
    table = read_table(path)
    assert table.source_format == source_format
    assert table.headers == ["手続名", "部局", "年間申請件数"]
    assert table.rows == EXPECTED_ROWS


def test_cp932_only_characters_are_read(tmp_path):
    # ①, ㈱ and 髙 exist in CP932 but not in plain Shift_JIS: Excel on Windows writes them.
    path = tmp_path / "catalog.csv"
    path.write_bytes("窓口,所属\r\n①番窓口,㈱髙橋\r\n".encode("cp932"))
    table = read_table(path)
    assert table.source_format == "csv-cp932"
    assert table.rows == [(2, {"窓口": "①番窓口", "所属": "㈱髙橋"})]


def test_xlsx_is_detected_by_content_with_typed_cells(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["手続名", "年間申請件数", "オンライン化日"])
    sheet.append(["転入届", 8000, dt.date(2024, 4, 1)])
    sheet.append([None, None, None])
    sheet.append(["  転出届 ", 7000, None])
    path = tmp_path / "no-extension"
    workbook.save(path)

    table = read_table(path)
    assert table.source_format == "xlsx"
    assert table.headers == ["手続名", "年間申請件数", "オンライン化日"]
    assert [number for number, _row in table.rows] == [2, 4]
    first = table.rows[0][1]
    assert first["手続名"] == "転入届"
    assert first["年間申請件数"] == 8000
    assert first["オンライン化日"] in (dt.date(2024, 4, 1), dt.datetime(2024, 4, 1))
    assert table.rows[1][1] == {"手続名": "転出届", "年間申請件数": 7000, "オンライン化日": ""}


@pytest.mark.parametrize(
    "data",
    [
        "手続名,部局\r\n住民票,市民部\r\n".encode("utf-16"),
        "手続名,部局\r\n住民票,市民部\r\n".encode("utf-16-le"),
        "手続名,部局\r\n住民票,市民部\r\n".encode("utf-16-be"),
        "name,city\r\nCafé,Zürich\r\nCrème brûlée,Genève\r\n".encode("latin-1"),
    ],
    ids=["utf-16", "utf-16-le", "utf-16-be", "latin-1"],
)
def test_other_encodings_are_refused_with_a_japanese_message(tmp_path, data):
    path = tmp_path / "catalog.csv"
    path.write_bytes(data)
    with pytest.raises(TableError) as excinfo:
        read_table(path)
    message = str(excinfo.value)
    assert "文字コードを読み取れません" in message
    assert "UTF-8 または Shift_JIS（CP932）で保存してください" in message


def test_decode_csv_bytes_labels():
    assert decode_csv_bytes("あ".encode()) == ("あ", "utf-8")
    assert decode_csv_bytes(b"\xef\xbb\xbf" + "あ".encode()) == ("あ", "utf-8-sig")
    assert decode_csv_bytes("あ".encode("cp932")) == ("あ", "cp932")


def test_row_numbers_are_excel_row_numbers_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("手続名,部局\n転入届,市民部\n\n,\n  ,  \n転出届,市民部\n", encoding="utf-8")
    table = read_table(path)
    assert table.rows == [
        (2, {"手続名": "転入届", "部局": "市民部"}),
        (6, {"手続名": "転出届", "部局": "市民部"}),
    ]


def test_quoted_newlines_keep_excel_row_numbers_of_the_record_start(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text('手続名,概要\n転入届,"市外から\n引っ越してきたとき"\n転出届,市外へ\n', encoding="utf-8")
    table = read_table(path)
    assert [row["手続名"] for _number, row in table.rows] == ["転入届", "転出届"]
    assert table.rows[0][1]["概要"] == "市外から\n引っ越してきたとき"


def test_values_are_stripped_short_rows_padded_and_extra_cells_kept(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("手続名,部局,所属,\n 転入届 ,市民部\n転出届,市民部,市民課,,余り\n", encoding="utf-8")
    table = read_table(path)
    assert table.headers == ["手続名", "部局", "所属"]
    assert table.rows[0] == (2, {"手続名": "転入届", "部局": "市民部", "所属": ""})
    assert table.rows[1] == (3, {"手続名": "転出届", "部局": "市民部", "所属": "市民課", "__extra__": ["余り"]})


@pytest.mark.parametrize("content", ["", "\n\n", ",,\n転入届,市民部\n"])
def test_missing_header_is_refused(tmp_path, content):
    path = tmp_path / "catalog.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TableError, match="1行目に見出し"):
        read_table(path)


def test_damaged_xlsx_is_refused(tmp_path):
    path = tmp_path / "catalog.xlsx"
    path.write_bytes("手続名,部局\n".encode())
    with pytest.raises(TableError, match="XLSX"):
        read_table(path)
    zipped_garbage = tmp_path / "broken.xlsx"
    zipped_garbage.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    with pytest.raises(TableError, match="XLSX"):
        read_table(zipped_garbage)


def test_missing_file_is_a_table_error(tmp_path):
    with pytest.raises(TableError, match="ファイルを開けません"):
        read_table(tmp_path / "nothing.csv")


HEADERS = ["手続ID", "手続名", "年間申請件数", "オンライン化日", "概要"]
ROWS = [
    ["HJC", "住民票の写し等の交付請求", 50000, dt.date(2024, 4, 1), "住民票を、コンビニでも"],
    ["TNY", "転入届", 8000, None, '"引用符"と\n改行'],
]
ROWS_AS_TEXT = [
    {"手続ID": "HJC", "手続名": "住民票の写し等の交付請求", "年間申請件数": "50000",
     "オンライン化日": "2024-04-01", "概要": "住民票を、コンビニでも"},
    {"手続ID": "TNY", "手続名": "転入届", "年間申請件数": "8000", "オンライン化日": "",
     "概要": '"引用符"と\n改行'},
]


def test_write_table_csv_with_bom_round_trip(tmp_path):
    target = tmp_path / "export.csv"
    write_table(str(target), HEADERS, ROWS)
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    table = read_table(target)
    assert table.source_format == "csv-utf-8-sig"
    assert table.headers == HEADERS
    assert [row for _number, row in table.rows] == ROWS_AS_TEXT


def test_write_table_cp932_round_trip(tmp_path):
    target = tmp_path / "export.csv"
    write_table(str(target), HEADERS, ROWS, encoding="cp932")
    table = read_table(target)
    assert table.source_format == "csv-cp932"
    assert [row for _number, row in table.rows] == ROWS_AS_TEXT


def test_write_table_cp932_refuses_characters_it_cannot_hold_and_writes_nothing(tmp_path):
    target = tmp_path / "export.csv"
    with pytest.raises(TableError) as excinfo:
        write_table(str(target), ["所属", "窓口"], [["市民課", "𠮷野窓口"]], encoding="cp932")
    assert "2行目「窓口」の「𠮷」" in str(excinfo.value)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("typed", "written"), [("〜", "～"), ("−", "－"), ("‖", "∥"), ("—", "―"), ("\u00a0", " ")])
def test_write_table_cp932_writes_the_windows_form_of_what_macs_and_keyboards_type(tmp_path, typed, written):
    target = tmp_path / "export.csv"
    write_table(str(target), ["受付時間"], [[f"8:30{typed}17:15"]], encoding="cp932")
    assert target.read_bytes().decode("cp932") == f"受付時間\r\n8:30{written}17:15\r\n"


def test_write_table_cp932_reports_an_unencodable_header_too(tmp_path):
    target = tmp_path / "export.csv"
    with pytest.raises(TableError) as excinfo:
        write_table(str(target), ["𠮷野窓口"], [["市民課"]], encoding="cp932")
    assert "1行目「𠮷野窓口」の「𠮷」" in str(excinfo.value)
    assert not target.exists()


def test_write_table_xlsx_round_trip(tmp_path):
    target = tmp_path / "export.xlsx"
    write_table(str(target), HEADERS, ROWS)
    workbook = load_workbook(target)
    assert [cell.value for cell in workbook.active[1]] == HEADERS
    table = read_table(target)
    assert table.source_format == "xlsx"
    assert table.headers == HEADERS
    assert [row for _number, row in table.rows] == ROWS_AS_TEXT


def test_write_table_to_standard_output(capsys):
    write_table("-", HEADERS, ROWS[:1])
    out = capsys.readouterr().out
    assert out.splitlines() == [",".join(HEADERS), "HJC,住民票の写し等の交付請求,50000,2024-04-01,住民票を、コンビニでも"]


# --- CP932: the standard conversions ------------------------------------------------------


def round_trips(text: str) -> bool:
    try:
        return text.encode("cp932").decode("cp932") == text
    except UnicodeError:
        return False


@pytest.mark.parametrize("char", sorted(CP932_FORMS), ids=lambda c: f"U+{ord(c):04X}")
def test_each_conversion_is_needed_and_lands_on_a_character_cp932_holds(char):
    """Every claim of the table checked by encoding: the source does not survive CP932 on
    its own, its target does, and the target is not an ASCII look-alike of a letter."""
    target = CP932_FORMS[char]
    assert not round_trips(char), f"U+{ord(char):04X} needs no conversion"
    assert round_trips(target), f"U+{ord(target):04X} is not in CP932"
    assert in_cp932(char) and cp932_missing(char) == []
    assert unicodedata.category(target)[0] in {"P", "S", "Z"}  # punctuation, symbol or space


@pytest.mark.parametrize(
    ("char", "held"),
    [("髙", True), ("﨑", True), ("①", True), ("㈱", True), ("～", True), ("－", True), ("‐", True),
     ("𠮷", False), ("😀", False), ("\u00ad", False)],
)
def test_what_cp932_holds_is_decided_by_encoding(char, held):
    assert round_trips(char) is held or char in CP932_FORMS
    assert in_cp932(char) is held
    assert cp932_missing(f"a{char}b") == ([] if held else [char])


@given(st.text(alphabet=st.sampled_from(sorted(CP932_FORMS) + list("あア漢字髙①～－-=+ 0aZ\n"))))
def test_text_of_convertible_characters_round_trips_through_cp932(text):
    converted = to_cp932_forms(text)
    assert cp932_missing(text) == []
    assert converted.encode("cp932").decode("cp932") == converted
    assert len(converted) == len(text)  # one character for one: cells keep their length


@given(st.text())
def test_the_report_names_exactly_the_characters_that_do_not_survive(text):
    missing = cp932_missing(text)
    kept = "".join(c for c in text if c not in missing)
    assert round_trips(to_cp932_forms(kept))
    assert all(not round_trips(CP932_FORMS.get(c, c)) for c in missing)


def test_unencodable_applies_the_conversions_for_cp932_only():
    assert unencodable(["時間"], [["8:30〜17:15"]], "cp932") == []
    assert unencodable(["時間"], [["8:30〜17:15"]], "ms932") == []
    assert unencodable(["時間"], [["8:30〜𠮷"]], "cp932") == [(2, "時間", "𠮷")]
    assert unencodable(["time"], [["8:30〜"]], "latin-1") == [(2, "time", "〜")]


# --- formulas in CSV meant for Excel --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://example.com","x")', '\'=HYPERLINK("http://example.com","x")'),
        ("+81 90", "'+81 90"), ("-1+2", "'-1+2"), ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
        ("山田=花子", "山田=花子"), ("", ""), ("0123", "0123"), ("'quoted", "'quoted"),
        ("-3", "'-3"),  # in a text column a leading minus is neutralised too
    ],
)
def test_cells_that_would_start_a_formula_get_a_leading_quote(value, written):
    assert neutralise_formula(value) == written


@pytest.mark.parametrize("number", ["-3", "-0.5", "12", "-120000"])
def test_negative_numbers_in_numeric_columns_stay_numbers(number):
    assert neutralise_formula(number, numeric=True) == number


@pytest.mark.parametrize("value", ["-1+2", "-A1", "=1", "+1", "-", "-3 "])
def test_numeric_columns_still_neutralise_what_is_not_a_plain_number(value):
    assert neutralise_formula(value, numeric=True) == "'" + value


def test_write_table_xlsx_stores_formula_looking_text_as_text(tmp_path):
    target = tmp_path / "export.xlsx"
    write_table(str(target), ["概要"], [['=HYPERLINK("http://example.com")'], ["+1"]])
    sheet = load_workbook(target).active
    assert sheet["A2"].data_type == "s" and sheet["A2"].value == '=HYPERLINK("http://example.com")'
    assert sheet["A3"].data_type == "s" and sheet["A3"].value == "+1"
