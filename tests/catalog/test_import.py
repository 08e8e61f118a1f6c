"""`tenohira catalog import|export`: all or nothing, every error with its row, idempotent."""

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenohira.catalog.models import Channel, Department, Identity, LifeEvent, Procedure, Section
from tenohira.catalog.services import (
    COLUMNS,
    ImportRejected,
    export_catalog,
    export_rows,
    import_catalog,
)

pytestmark = pytest.mark.django_db


def ways(procedure) -> list[tuple]:
    """The procedure's channels as (kind, service name, url, place, hours)."""
    return [(c.kind, c.service_name, c.url, c.place, c.hours) for c in procedure.channels.order_by("order", "pk")]


def kinds(code: str) -> list[str]:
    return [c.kind for c in Procedure.objects.get(code=code).channels.order_by("order", "pk")]

GOOD_ROWS = [
    {
        "手続ID": "HJC", "部局": "市民部", "所属": "市民課", "手続名": "住民票の写し等の交付請求",
        "よみ": "じゅうみんひょうのうつしとうのこうふせいきゅう", "キーワード": "住民票、写し、コンビニ交付",
        "概要": "住民票の写しや記載事項証明書を請求します。", "対象者": "本人または同一世帯の人",
        "必要なもの": "本人確認書類、手数料", "手数料": "1通300円", "根拠法令": "住民基本台帳法",
        "標準処理期間": "0", "年間申請件数": "50,000", "申請方法": "窓口", "窓口": "本庁舎1階 市民課",
        "受付時間": "平日 8:30〜17:15", "本人確認": "不要", "ライフイベント": "引越し",
    },
    {
        "手続ID": "CKT", "部局": "環境部", "所属": "環境衛生課", "手続名": "畜犬登録",
        "概要": "生後91日以上の犬を飼い始めたときの登録です。", "標準処理期間": "14日",
        "年間申請件数": "800件", "申請方法": "オンライン", "本人確認": "メールアドレス",
        "オンライン化日": "令和6年4月1日", "ライフイベント": "ペット",
    },
    {
        "手続ID": "HIK", "部局": "こども部", "所属": "保育課", "手続名": "保育所等の利用申込",
        "よみ": "ホイクショトウノリヨウモウシコミ", "キーワード": "保育園, 入園; 保育施設",
        "年間申請件数": "2500", "申請方法": "外部サービス",
        "申請先URL": "https://app.example.jp/hoiku", "本人確認": "マイナンバーカード",
        "オンライン化日": "R6.10.1", "ライフイベント": "子育て、入園・入学",
    },
    {
        "部局": "環境部", "所属": "ごみ対策課", "手続名": "粗大ごみ収集の申込",
        "年間申請件数": "9000", "申請方法": "オンライン", "オンライン化日": "2023/4/1",
        "ライフイベント": "ごみ・リサイクル", "公開": "はい",
    },
    {
        "手続ID": "NAI", "部局": "市民部", "所属": "市民課", "手続名": "内部事務の届出",
        "申請方法": "窓口", "窓口": "本庁舎1階 市民課", "公開": "いいえ",
    },
]


def snapshot() -> dict:
    """Everything an import could change: counts, the full export and every timestamp."""
    return {
        "departments": list(Department.objects.order_by("pk").values_list("pk", "name", "reading", "order")),
        "sections": list(Section.objects.order_by("pk").values_list("pk", "department_id", "name", "reading", "order")),
        "procedures": list(Procedure.objects.order_by("pk").values()),
        "life_event_links": sorted(Procedure.life_events.through.objects.values_list("procedure_id", "lifeevent_id")),
        "export": export_rows(),
    }


def test_a_valid_file_creates_departments_sections_and_procedures(write_csv):
    result = import_catalog(write_csv(GOOD_ROWS))

    assert (result.created, result.updated, result.unchanged) == (5, 0, 0)
    assert result.departments_created == 3
    assert result.sections_created == 4
    assert result.source_format == "csv-utf-8"
    assert sorted(Department.objects.values_list("name", flat=True)) == sorted(["市民部", "環境部", "こども部"])
    assert sorted(Section.objects.values_list("department__name", "name")) == sorted(
        [("市民部", "市民課"), ("環境部", "環境衛生課"), ("こども部", "保育課"), ("環境部", "ごみ対策課")]
    )
    assert Procedure.objects.count() == 5

    hjc = Procedure.objects.get(code="HJC")
    assert hjc.section.name == "市民課"
    assert hjc.section.department.name == "市民部"
    assert hjc.keywords == "住民票、写し、コンビニ交付"
    assert hjc.requirements == "本人確認書類、手数料"
    assert hjc.fee == "1通300円"
    assert hjc.legal_basis == "住民基本台帳法"
    assert hjc.eligibility == "本人または同一世帯の人"
    assert hjc.processing_days == 0
    assert hjc.annual_applications == 50000
    assert ways(hjc) == [(Channel.COUNTER, "", "", "本庁舎1階 市民課", "平日 8:30〜17:15")]
    assert hjc.identity == Identity.NONE
    assert hjc.online_since is None
    assert hjc.is_published
    assert [event.name for event in hjc.life_events.all()] == ["引越し"]

    ckt = Procedure.objects.get(code="CKT")
    assert ckt.processing_days == 14
    assert ckt.annual_applications == 800
    assert kinds("CKT") == [Channel.PLATFORM]
    assert ckt.identity == Identity.EMAIL

    hik = Procedure.objects.get(code="HIK")
    assert ways(hik) == [(Channel.EXTERNAL, "", "https://app.example.jp/hoiku", "", "")]
    assert hik.identity == Identity.CARD_SIGNIN
    assert hik.keywords == "保育園、入園、保育施設"

    assert not Procedure.objects.get(code="NAI").is_published
    assert Department.objects.get(name="環境部").reading == "かんきょうぶ"


def test_blank_reading_is_derived_in_hiragana_and_katakana_reading_is_converted(write_csv):
    result = import_catalog(write_csv(GOOD_ROWS))
    assert Procedure.objects.get(code="CKT").reading == "ちくけんとうろく"
    assert Procedure.objects.get(name="粗大ごみ収集の申込").reading == "そだいごみしゅうしゅうのもうしこみ"
    assert Procedure.objects.get(code="HIK").reading == "ほいくしょとうのりようもうしこみ"
    assert Procedure.objects.get(code="HJC").reading == "じゅうみんひょうのうつしとうのこうふせいきゅう"
    assert result.readings_derived == 3  # CKT, 粗大ごみ, NAI


def test_half_width_katakana_reading_is_converted(write_csv):
    row = dict(GOOD_ROWS[1], よみ="ﾁｸｹﾝﾄｳﾛｸ")
    import_catalog(write_csv([row]))
    assert Procedure.objects.get(code="CKT").reading == "ちくけんとうろく"


def test_procedure_without_id_gets_a_generated_one(write_csv):
    import_catalog(write_csv(GOOD_ROWS))
    code = Procedure.objects.get(name="粗大ごみ収集の申込").code
    assert code.startswith("P")
    assert len(code) == 6
    assert Procedure.objects.filter(code=code).count() == 1


@pytest.mark.parametrize(("text", "expected"), [("令和6年4月1日", dt.date(2024, 4, 1)), ("R6.10.1", dt.date(2024, 10, 1)),
                                                ("Ｒ６．４．１", dt.date(2024, 4, 1)), ("2023/4/1", dt.date(2023, 4, 1)),
                                                ("平成31年4月30日", dt.date(2019, 4, 30))])
def test_online_date_in_wareki_or_western_form(write_csv, text, expected):
    import_catalog(write_csv([dict(GOOD_ROWS[1], オンライン化日=text)]))
    assert Procedure.objects.get(code="CKT").online_since == expected


def test_life_events_by_name_and_by_slug(write_csv):
    rows = [dict(GOOD_ROWS[2]), dict(GOOD_ROWS[1], ライフイベント="pets、引越し")]
    import_catalog(write_csv(rows))
    assert sorted(e.name for e in Procedure.objects.get(code="HIK").life_events.all()) == sorted(["子育て", "入園・入学"])
    assert sorted(e.slug for e in Procedure.objects.get(code="CKT").life_events.all()) == ["moving", "pets"]


def test_unknown_life_event_is_rejected(write_csv):
    path = write_csv([dict(GOOD_ROWS[1], ライフイベント="ペット、宇宙旅行")])
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(path)
    [error] = excinfo.value.errors
    assert (error.row, error.column) == (2, "ライフイベント")
    assert "「宇宙旅行」は登録されていません" in error.message
    assert Procedure.objects.count() == 0


# --- all or nothing ---------------------------------------------------------------------

THREE_BAD = [
    GOOD_ROWS[0],                                                            # row 2
    dict(GOOD_ROWS[1], 申請方法="FAX"),                                       # row 3: bad 申請方法
    GOOD_ROWS[2],                                                            # row 4
    {"手続ID": "JDT", "部局": "こども部", "所属": "子育て支援課",               # row 5: no URL
     "手続名": "児童手当の認定請求", "申請方法": "外部サービス"},
    GOOD_ROWS[3],                                                            # row 6
    dict(GOOD_ROWS[4], オンライン化日="来年度の予定"),                          # row 7: bad date
]
THREE_BAD_ERRORS = [(3, "申請方法"), (5, "申請先URL"), (7, "オンライン化日")]


def test_three_bad_rows_on_an_empty_database_change_nothing_and_are_all_reported(write_csv):
    before = snapshot()
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_csv(THREE_BAD))
    assert [(e.row, e.column) for e in excinfo.value.errors] == THREE_BAD_ERRORS
    assert "「FAX」は使えません" in excinfo.value.errors[0].message
    assert "外部サービス" in excinfo.value.errors[1].message
    assert "来年度の予定" in excinfo.value.errors[2].message
    assert "3 件の誤り" in str(excinfo.value)
    assert snapshot() == before
    assert Procedure.objects.count() == 0
    assert Department.objects.count() == 0


def test_three_bad_rows_on_a_filled_database_change_nothing_and_are_all_reported(write_csv):
    import_catalog(write_csv(GOOD_ROWS))
    before = snapshot()
    # The good rows of the bad file would update existing procedures and add new ones.
    rows = [
        dict(row, 年間申請件数="1", 概要="変更された概要") if row.get("手続ID") == "HJC" else row
        for row in THREE_BAD
    ]
    rows.append({"手続ID": "NEW", "部局": "新しい部", "所属": "新しい課", "手続名": "新しい手続", "申請方法": "オンライン"})
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_csv(rows))
    assert [(e.row, e.column) for e in excinfo.value.errors] == THREE_BAD_ERRORS
    assert snapshot() == before
    assert not Department.objects.filter(name="新しい部").exists()


def test_a_conflict_found_while_applying_rolls_back_everything(write_csv):
    import_catalog(write_csv(GOOD_ROWS))
    before = snapshot()
    rows = [
        {"手続ID": "NEW", "部局": "新しい部", "所属": "新しい課", "手続名": "新しい手続", "申請方法": "オンライン"},
        dict(GOOD_ROWS[1], 年間申請件数="1"),
        # Same 部局+所属+手続名 as HJC under another ID: only the stored data shows the clash.
        dict(GOOD_ROWS[0], 手続ID="HJC2"),
    ]
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_csv(rows))
    assert [(e.row, e.column) for e in excinfo.value.errors] == [(4, "手続ID")]
    assert "HJC" in excinfo.value.errors[0].message
    assert snapshot() == before


def test_renaming_onto_another_procedures_name_is_rejected(write_csv):
    import_catalog(write_csv(GOOD_ROWS))
    before = snapshot()
    clash = dict(GOOD_ROWS[4], 手続名=GOOD_ROWS[0]["手続名"])  # NAI renamed to HJC's name
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_csv([clash]))
    assert [(e.row, e.column) for e in excinfo.value.errors] == [(2, "手続名")]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("change", "column", "reason"),
    [
        ({"申請方法": "FAX"}, "申請方法", "は使えません"),
        ({"申請方法": "オンライン、ファクス"}, "申請方法", "「ファクス」は使えません"),
        ({"申請方法": "外部サービス", "申請先URL": ""}, "申請先URL", "必須"),
        ({"申請先URL": "ftp://example.jp/"}, "申請先URL", "URL"),
        ({"窓口": "本庁舎\n別館", "受付時間": "9:00〜\n10:00〜\n11:00〜"}, "受付時間", "窓口と同じ数"),
        ({"オンライン化予定年度": "そのうち"}, "オンライン化予定年度", "年度として読み取れません"),
        ({"オンライン化日": "2023-02-29"}, "オンライン化日", "存在しない日付"),
        ({"オンライン化日": "平成31年5月1日"}, "オンライン化日", "平成の期間にない"),
        ({"年間申請件数": "たくさん"}, "年間申請件数", "件数"),
        ({"年間申請件数": "-5"}, "年間申請件数", "件数"),
        ({"標準処理期間": "2週間"}, "標準処理期間", "日数"),
        ({"本人確認": "印鑑"}, "本人確認", "は使えません"),
        ({"公開": "たぶん"}, "公開", "はい・いいえ"),
        ({"手続ID": "住民票"}, "手続ID", "英大文字"),
        ({"手続ID": "A" * 21}, "手続ID", "20文字"),
        ({"部局": ""}, "部局", "必須"),
        ({"所属": ""}, "所属", "必須"),
        ({"手続名": ""}, "手続名", "必須"),
        ({"手続名": "あ" * 201}, "手続名", "200文字以内"),
    ],
)
def test_each_kind_of_bad_value_is_reported_with_row_and_column(write_csv, change, column, reason):
    rows = [GOOD_ROWS[0], dict(GOOD_ROWS[2], **change)]
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_csv(rows))
    assert [(e.row, e.column) for e in excinfo.value.errors] == [(3, column)]
    assert reason in excinfo.value.errors[0].message
    assert Procedure.objects.count() == 0


def test_coded_values_accept_common_spellings(write_csv):
    rows = [
        dict(GOOD_ROWS[0], 申請方法="窓口のみ", 本人確認="なし", 公開="○"),
        dict(GOOD_ROWS[1], 申請方法="電子申請", 本人確認="ﾒｰﾙ"),
        dict(GOOD_ROWS[2], 申請方法="external", 本人確認="公的個人認証", 手続ID="hik"),
    ]
    import_catalog(write_csv(rows))
    assert kinds("HJC") == [Channel.COUNTER]
    assert Procedure.objects.get(code="HJC").is_published
    assert kinds("CKT") == [Channel.PLATFORM]
    assert Procedure.objects.get(code="CKT").identity == Identity.EMAIL
    assert kinds("HIK") == [Channel.EXTERNAL]
    assert Procedure.objects.get(code="HIK").identity == Identity.CARD_SIGNIN


def test_unknown_column_is_rejected(write_csv):
    path = write_csv([dict(GOOD_ROWS[0], 備考="メモ")], columns=[*COLUMNS, "備考"])
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(path)
    [error] = excinfo.value.errors
    assert (error.row, error.column) == (1, "備考")
    assert "不明な列" in error.message
    assert Procedure.objects.count() == 0


def test_missing_required_column_is_rejected(write_csv):
    columns = [column for column in COLUMNS if column != "所属"]
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_csv([GOOD_ROWS[0]], columns=columns))
    [error] = excinfo.value.errors
    assert (error.row, error.column) == (1, "所属")
    assert "必須の列がありません" in error.message
    assert Department.objects.count() == 0


def test_only_required_columns_in_any_order(write_csv):
    path = write_csv([{"手続名": "転入届", "所属": "市民課", "部局": "市民部", "窓口": "本庁舎1階"}],
                     columns=["手続名", "所属", "部局", "窓口"])
    result = import_catalog(path)
    assert result.created == 1
    procedure = Procedure.objects.get()
    assert (procedure.name, procedure.reading) == ("転入届", "てんにゅうとどけ")
    assert ways(procedure) == [(Channel.COUNTER, "", "", "本庁舎1階", "")]


def test_duplicate_header_is_rejected(write_csv):
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_csv([GOOD_ROWS[0]], columns=[*COLUMNS, "概要"]))
    assert [(e.row, e.column) for e in excinfo.value.errors] == [(1, "概要")]


def test_duplicate_procedure_id_inside_the_file(write_csv):
    rows = [GOOD_ROWS[0], GOOD_ROWS[1], dict(GOOD_ROWS[2], 手続ID="HJC")]
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_csv(rows))
    [error] = excinfo.value.errors
    assert (error.row, error.column) == (4, "手続ID")
    assert "2行目と同じ手続ID「HJC」" in error.message
    assert Procedure.objects.count() == 0


def test_duplicate_name_in_the_same_section_inside_the_file(write_csv):
    rows = [GOOD_ROWS[0], dict(GOOD_ROWS[0], 手続ID="HJC2")]
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_csv(rows))
    assert [(e.row, e.column) for e in excinfo.value.errors] == [(3, "手続名")]


def test_a_file_with_a_header_only_is_rejected(write_csv):
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_csv([]))
    assert "データの行がありません" in excinfo.value.errors[0].message


def test_an_unreadable_file_is_rejected_as_a_whole(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_bytes(",".join(COLUMNS).encode("utf-16"))
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(path)
    [error] = excinfo.value.errors
    assert error.row == 0
    assert "文字コードを読み取れません" in error.message
    assert str(error).startswith("ファイル")


# --- encodings and XLSX ----------------------------------------------------------------


def test_cp932_file(write_csv):
    rows = [dict(GOOD_ROWS[0], 窓口="本庁舎1階 ②番窓口", 対象者="㈱髙橋商店も可")]
    path = write_csv(rows, encoding="cp932")
    result = import_catalog(path)
    assert result.source_format == "csv-cp932"
    procedure = Procedure.objects.get(code="HJC")
    assert procedure.name == "住民票の写し等の交付請求"
    assert ways(procedure)[0][3] == "本庁舎1階 ②番窓口"
    assert procedure.eligibility == "㈱髙橋商店も可"
    assert procedure.annual_applications == 50000


def test_utf8_file_with_bom(write_csv):
    result = import_catalog(write_csv(GOOD_ROWS, bom=True))
    assert result.source_format == "csv-utf-8-sig"
    # The BOM sits before 手続ID, the first header: the column must still be recognised.
    assert Procedure.objects.filter(code__in=["HJC", "CKT", "HIK", "NAI"]).count() == 4


def test_xlsx_file_with_typed_cells(write_xlsx):
    rows = [
        dict(GOOD_ROWS[0], 年間申請件数=50000, 標準処理期間=0),
        dict(GOOD_ROWS[1], 年間申請件数=800, 標準処理期間=14, オンライン化日=dt.date(2024, 4, 1)),
        dict(GOOD_ROWS[2], 年間申請件数=2500.0, オンライン化日=dt.datetime(2024, 10, 1, 0, 0)),
        dict(GOOD_ROWS[3], 年間申請件数="9,000"),
    ]
    result = import_catalog(write_xlsx(rows))
    assert result.source_format == "xlsx"
    assert result.created == 4
    ckt = Procedure.objects.get(code="CKT")
    assert ckt.online_since == dt.date(2024, 4, 1)
    assert ckt.annual_applications == 800
    assert ckt.processing_days == 14
    hik = Procedure.objects.get(code="HIK")
    assert hik.online_since == dt.date(2024, 10, 1)
    assert hik.annual_applications == 2500
    assert Procedure.objects.get(code="HJC").processing_days == 0
    assert Procedure.objects.get(name="粗大ごみ収集の申込").annual_applications == 9000
    # Re-importing the same workbook changes nothing.
    again = import_catalog(write_xlsx(rows, name="again.xlsx"))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)


def test_xlsx_with_three_bad_rows_reports_excel_row_numbers(write_xlsx):
    rows = list(THREE_BAD)
    rows[1] = dict(rows[1], 年間申請件数=800)
    with pytest.raises(ImportRejected) as excinfo:
        import_catalog(write_xlsx(rows))
    assert [(e.row, e.column) for e in excinfo.value.errors] == THREE_BAD_ERRORS
    assert Procedure.objects.count() == 0


# --- idempotence and updates -------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(write_csv):
    path = write_csv(GOOD_ROWS)
    import_catalog(path)
    before = snapshot()
    result = import_catalog(path)
    assert (result.created, result.updated, result.unchanged) == (0, 0, len(GOOD_ROWS))
    assert (result.departments_created, result.sections_created, result.readings_derived) == (0, 0, 0)
    after = snapshot()
    assert after == before  # includes every updated_at


def test_a_changed_row_updates_in_place_keyed_by_id(write_csv):
    import_catalog(write_csv(GOOD_ROWS))
    hjc = Procedure.objects.get(code="HJC")
    untouched = {p.pk: p.updated_at for p in Procedure.objects.exclude(code="HJC")}

    renamed = dict(GOOD_ROWS[0], 手続名="住民票の写しの交付", よみ="", 年間申請件数="51000")
    result = import_catalog(write_csv([renamed, *GOOD_ROWS[1:]]))

    assert (result.created, result.updated, result.unchanged) == (0, 1, len(GOOD_ROWS) - 1)
    updated = Procedure.objects.get(code="HJC")
    assert updated.pk == hjc.pk
    assert updated.name == "住民票の写しの交付"
    assert updated.reading == "じゅうみんひょうのうつしのこうふ"
    assert updated.annual_applications == 51000
    assert updated.updated_at > hjc.updated_at
    assert Procedure.objects.count() == len(GOOD_ROWS)
    assert {p.pk: p.updated_at for p in Procedure.objects.exclude(code="HJC")} == untouched


def test_a_row_can_move_to_another_section(write_csv):
    import_catalog(write_csv(GOOD_ROWS))
    pk = Procedure.objects.get(code="CKT").pk
    result = import_catalog(write_csv([dict(GOOD_ROWS[1], 所属="動物愛護センター")]))
    assert (result.updated, result.sections_created) == (1, 1)
    moved = Procedure.objects.get(code="CKT")
    assert moved.pk == pk
    assert moved.section.name == "動物愛護センター"


def test_changing_only_life_events_is_an_update(write_csv):
    import_catalog(write_csv(GOOD_ROWS))
    result = import_catalog(write_csv([dict(GOOD_ROWS[1], ライフイベント="ペット、引越し")]))
    assert result.updated == 1
    assert sorted(e.slug for e in Procedure.objects.get(code="CKT").life_events.all()) == ["moving", "pets"]


def test_without_id_rows_are_keyed_by_department_section_and_name(write_csv):
    rows = [{k: v for k, v in row.items() if k != "手続ID"} for row in GOOD_ROWS]
    import_catalog(write_csv(rows))
    before = {p.name: (p.pk, p.code) for p in Procedure.objects.all()}

    changed = [dict(row, 年間申請件数="7") if row["手続名"] == "畜犬登録" else row for row in rows]
    result = import_catalog(write_csv(changed))
    assert (result.created, result.updated, result.unchanged) == (0, 1, len(rows) - 1)
    assert {p.name: (p.pk, p.code) for p in Procedure.objects.all()} == before
    assert Procedure.objects.get(name="畜犬登録").annual_applications == 7

    # The same name in another section is another procedure.
    elsewhere = dict(rows[1], 所属="動物愛護センター")
    result = import_catalog(write_csv([elsewhere]))
    assert result.created == 1
    assert Procedure.objects.filter(name="畜犬登録").count() == 2


def test_adding_an_id_to_a_row_without_one_is_rejected_when_the_name_is_taken(write_csv):
    rows = [{k: v for k, v in GOOD_ROWS[1].items() if k != "手続ID"}]
    import_catalog(write_csv(rows))
    before = snapshot()
    with pytest.raises(ImportRejected):
        import_catalog(write_csv([dict(rows[0], 手続ID="CKT")]))
    assert snapshot() == before


@pytest.mark.parametrize(("name", "encoding"), [("export.csv", "utf-8-sig"), ("export.csv", "cp932"), ("export.xlsx", "utf-8-sig")])
def test_export_then_import_is_unchanged(write_csv, tmp_path, name, encoding):
    # CP932 has no WAVE DASH (〜); a CP932 catalog writes the full-width tilde (～).
    rows = [{k: v.replace("〜", "～") for k, v in row.items()} for row in GOOD_ROWS]
    import_catalog(write_csv(rows))
    before = snapshot()
    target = tmp_path / name
    assert export_catalog(str(target), encoding=encoding) == len(GOOD_ROWS)
    result = import_catalog(target)
    assert (result.created, result.updated, result.unchanged) == (0, 0, len(GOOD_ROWS))
    assert snapshot() == before


def test_export_into_an_empty_database_recreates_the_catalog(write_csv, tmp_path):
    import_catalog(write_csv(GOOD_ROWS))
    exported = export_rows()
    target = tmp_path / "export.csv"
    export_catalog(str(target))
    Procedure.objects.all().delete()
    Section.objects.all().delete()
    Department.objects.all().delete()
    result = import_catalog(target)
    assert result.created == len(GOOD_ROWS)
    assert export_rows() == exported


# --- the command ---------------------------------------------------------------------------


def test_command_export_to_standard_output_prints_the_header(write_csv, capsys):
    import_catalog(write_csv(GOOD_ROWS))
    call_command("catalog", "export", "-")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 1 + len(GOOD_ROWS)
    assert any(line.startswith("HJC,市民部,市民課,住民票の写し等の交付請求,") for line in lines)


def test_command_export_to_a_file(write_csv, tmp_path):
    import_catalog(write_csv(GOOD_ROWS))
    out = io.StringIO()
    target = tmp_path / "out.csv"
    call_command("catalog", "export", str(target), stdout=out)
    assert f"{len(GOOD_ROWS)} 件" in out.getvalue()
    assert target.read_bytes().startswith(b"\xef\xbb\xbf" + "手続ID".encode())


def test_command_export_cp932_refuses_characters_it_cannot_hold(write_csv, tmp_path):
    import_catalog(write_csv([dict(GOOD_ROWS[0], 窓口="𠮷野出張所")]))
    target = tmp_path / "out.csv"
    with pytest.raises(CommandError, match="𠮷"):
        call_command("catalog", "export", str(target), "--encoding", "cp932")
    assert not target.exists()


def test_command_export_cp932_writes_the_windows_form_of_the_wave_dash(write_csv, tmp_path):
    # 〜 (WAVE DASH, what Macs and IMEs type) is written as CP932's ～ (FULLWIDTH TILDE),
    # the same glyph as Windows stores it (core.tabular.CP932_FORMS); nothing is refused.
    import_catalog(write_csv([GOOD_ROWS[0]]))
    target = tmp_path / "out.csv"
    call_command("catalog", "export", str(target), "--encoding", "cp932", stdout=io.StringIO())
    assert "平日 8:30～17:15" in target.read_bytes().decode("cp932")


def test_command_import_prints_a_summary(write_csv):
    out = io.StringIO()
    call_command("catalog", "import", str(write_csv(GOOD_ROWS)), stdout=out)
    assert "新規 5 件" in out.getvalue()
    assert "csv-utf-8" in out.getvalue()


def test_command_import_of_a_bad_file_raises_command_error_and_prints_every_error(write_csv):
    err = io.StringIO()
    with pytest.raises(CommandError, match="3 件の誤り"):
        call_command("catalog", "import", str(write_csv(THREE_BAD)), stderr=err)
    lines = err.getvalue().splitlines()
    assert len(lines) == 3
    for line, (row, column) in zip(lines, THREE_BAD_ERRORS, strict=True):
        assert line.startswith(f"{row}行目 「{column}」: ")
    assert Procedure.objects.count() == 0


def _cli_env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "TENOHIRA_DEMO"}}
    env["TENOHIRA_DATA_DIR"] = str(data_dir)
    return env


def test_cli_import_of_a_bad_file_exits_with_status_1(tmp_path, write_csv):
    # A separate process on its own SQLite database in a temporary data directory.
    env = _cli_env(tmp_path / "data")
    migrate = subprocess.run([sys.executable, "-m", "tenohira", "migrate", "-v", "0"], env=env,
                             capture_output=True, text=True, check=False)
    assert migrate.returncode == 0, migrate.stderr
    bad = subprocess.run([sys.executable, "-m", "tenohira", "catalog", "import", str(write_csv(THREE_BAD))],
                         env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    for row, column in THREE_BAD_ERRORS:
        assert f"{row}行目 「{column}」: " in bad.stderr
    good = subprocess.run([sys.executable, "-m", "tenohira", "catalog", "import", str(write_csv(GOOD_ROWS))],
                          env=env, capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stderr
    assert "新規 5 件" in good.stdout


def test_life_events_are_seeded():
    assert LifeEvent.objects.filter(name__in=["引越し", "子育て", "ペット", "おくやみ"]).count() == 4
