"""A catalog as municipalities first have it: an inventory with only 部局, 所属 and 手続名
(optionally 年間申請件数), with the headers and numbers as the city writes them.

The file in data/ holds 120 real procedure names from published municipal tables (long
official names with brackets, 「等」 and 「及び」), under the headers No., 部局名, 所属名,
手続名, 年間申請件数 with thousands separators."""

import csv
from pathlib import Path

import pytest

from tenohira.catalog.models import Channel, Procedure
from tenohira.catalog.selectors import search_procedures, ways_to_apply
from tenohira.catalog.services import ImportRejected, import_catalog

pytestmark = pytest.mark.django_db

INVENTORY = Path(__file__).parent / "data" / "names_only_inventory.csv"


def inventory_rows() -> list[dict]:
    with INVENTORY.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_inventory_is_shaped_like_a_real_one():
    rows = inventory_rows()
    assert len(rows) >= 60
    names = [row["手続名"] for row in rows]
    assert any("等" in name for name in names)
    assert any("及び" in name for name in names)
    assert any("（" in name for name in names)
    assert max(len(name) for name in names) > 30


def test_names_only_csv_imports_every_procedure_as_a_counter_procedure_at_its_section(web):
    result = import_catalog(INVENTORY)
    rows = inventory_rows()
    assert result.created == len(rows)
    assert result.readings_derived == len(rows)
    assert Procedure.objects.count() == len(rows)
    first = rows[1]  # 調査員手当口座振替依頼書・宣誓書, "1,702"
    procedure = Procedure.objects.get(name=first["手続名"])
    assert procedure.annual_applications == 1702
    assert procedure.section.name == first["所属名"]
    assert procedure.section.department.name == first["部局名"]
    assert not procedure.channels.exists()
    [way] = ways_to_apply(procedure)
    assert (way.kind, way.at_section) == (Channel.COUNTER, True)
    assert first["所属名"] in way.place
    assert "平日" in way.hours

    page = web.get(procedure.get_absolute_url()).content.decode()
    assert "担当課の窓口で申請" in page
    assert first["所属名"] in page
    assert "オンライン" not in page.split("申請のしかた", 1)[1].split("</section>", 1)[0]


def test_names_only_import_is_idempotent():
    import_catalog(INVENTORY)
    again = import_catalog(INVENTORY)
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(inventory_rows()))


def test_every_procedure_of_a_names_only_catalog_is_found_by_its_reading_in_kana():
    import jaconv

    import_catalog(INVENTORY)
    for procedure in Procedure.objects.all():
        assert procedure.reading, procedure.name
        for query in (procedure.reading, jaconv.hira2kata(procedure.reading)):
            results, _terms = search_procedures(query)
            assert procedure.pk in results.pks[:10], (procedure.name, query)


def test_three_columns_in_cp932_import(tmp_path):
    path = tmp_path / "手続一覧.csv"
    lines = ["部局,所属,手続名"] + [f"{r['部局名']},{r['所属名']},{r['手続名']}" for r in inventory_rows()]
    path.write_bytes("\r\n".join(lines).encode("cp932"))
    result = import_catalog(path)
    assert result.source_format == "csv-cp932"
    assert result.created == len(lines) - 1


def test_names_only_xlsx_with_number_cells_imports(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["部局", "所属", "手続名", "年間申請件数"])
    for row in inventory_rows():
        count = row["年間申請件数"].replace(",", "")
        sheet.append([row["部局名"], row["所属名"], row["手続名"], int(count) if count else None])
    path = tmp_path / "手続一覧.xlsx"
    workbook.save(path)
    result = import_catalog(path)
    assert result.source_format == "xlsx"
    assert result.created == len(inventory_rows())
    assert Procedure.objects.get(name="調査員手当口座振替依頼書・宣誓書").annual_applications == 1702


def test_an_unknown_column_is_still_refused_with_the_usable_names(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("部局,所属,手続名,担当者メモ\r\n市民部,市民課,転入届,山田\r\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(path)
    [error] = excinfo.value.errors
    assert (error.row, error.column) == (1, "担当者メモ")
    assert "使える列" in error.message
