"""Fixtures of the catalog tests: small catalogs written as real CSV/XLSX files."""

import csv
import io

import pytest

from tenohira.catalog.search import forget_synonyms
from tenohira.catalog.services import COLUMNS, import_catalog


@pytest.fixture(autouse=True)
def fresh_synonyms():
    """The synonym cache lives in the process for 30 s; a test that added a group and was
    rolled back must not leak it into the next test."""
    forget_synonyms()
    yield
    forget_synonyms()


def csv_bytes(rows: list[dict], *, columns=None, encoding: str = "utf-8", bom: bool = False) -> bytes:
    columns = columns or COLUMNS
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
    data = buffer.getvalue().encode(encoding)
    return b"\xef\xbb\xbf" + data if bom else data


@pytest.fixture
def write_csv(tmp_path):
    """write_csv(rows, name=..., columns=..., encoding=..., bom=...) -> path of a real file."""
    counter = iter(range(1_000_000))

    def write(rows, *, name=None, columns=None, encoding="utf-8", bom=False):
        path = tmp_path / (name or f"catalog-{next(counter)}.csv")
        path.write_bytes(csv_bytes(rows, columns=columns, encoding=encoding, bom=bom))
        return path

    return write


@pytest.fixture
def write_xlsx(tmp_path):
    """write_xlsx(rows, columns=...) -> path; cell values keep their Python type."""
    from openpyxl import Workbook

    def write(rows, *, name="catalog.xlsx", columns=None):
        columns = columns or COLUMNS
        workbook = Workbook()
        sheet = workbook.active
        sheet.append(columns)
        for row in rows:
            sheet.append([row.get(column) for column in columns])
        path = tmp_path / name
        workbook.save(path)
        return path

    return write


@pytest.fixture
def web(client, settings):
    """Django's test client; settings.ALLOWED_HOSTS does not include "testserver"."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    return client


# --- a small, realistic catalog for the search and page tests (5 departments) ----------


def _counter(place: str) -> dict:
    return {"申請方法": "窓口", "窓口": place, "受付時間": "平日 8:30～17:15"}


def _row(code, department, section, name, volume, *, reading="", keywords="", events="", summary="", **more):
    row = {
        "手続ID": code, "部局": department, "所属": section, "手続名": name, "よみ": reading,
        "キーワード": keywords, "年間申請件数": str(volume), "ライフイベント": events, "概要": summary,
    }
    row.update(_counter(f"本庁舎 {section}"))
    row.update(more)
    return row


SEARCH_ROWS = [
    # 市民部
    _row("HJC", "市民部", "市民課", "住民票の写し等の交付請求", 50000,
         reading="じゅうみんひょうのうつしとうのこうふせいきゅう", keywords="コンビニ交付",
         summary="住民票の写しや記載事項証明書を請求します。",
         **_counter("本庁舎1階 市民課 ①番窓口")),
    _row("TNY", "市民部", "市民課", "転入届", 8000, events="引越し",
         summary="市外から引っ越してきたときの届出です。"),
    _row("TNS", "市民部", "市民課", "転出届", 7000, events="引越し",
         申請方法="外部サービス", 申請先URL="https://app.example.jp/tenshutsu",
         本人確認="マイナンバーカード"),
    _row("TNK", "市民部", "市民課", "転居届", 5000, events="引越し"),
    _row("INK", "市民部", "市民課", "印鑑登録", 3000, reading="いんかんとうろく"),
    _row("INS", "市民部", "市民課", "印鑑登録証明書の交付", 20000),
    _row("MNC", "市民部", "市民課", "マイナンバーカードの交付申請", 12000,
         申請方法="外部サービス", 申請先URL="https://www.example.go.jp/card"),
    _row("KJB", "市民部", "市民課", "個人番号カードの再交付申請", 400),
    _row("KKH", "市民部", "保険年金課", "国民健康保険の加入届", 1200, keywords="国保", events="引越し"),
    # こども部
    _row("HIK", "こども部", "保育課", "保育所等の利用申込", 2500,
         reading="ほいくしょとうのりようもうしこみ", keywords="保育園、入園",
         events="子育て、入園・入学", 申請方法="オンライン", オンライン化日="令和6年4月1日",
         本人確認="マイナンバーカード"),
    _row("HSM", "こども部", "保育課", "保育所等入所（在園）証明書の交付", 600),
    _row("HKG", "こども部", "子育て支援課", "放課後児童クラブ入所申請", 1500, keywords="学童",
         申請方法="オンライン"),
    _row("GHG", "こども部", "子育て支援課", "学童保育の利用料減免申請", 50),
    _row("JDT", "こども部", "子育て支援課", "児童手当の認定請求", 1800, events="子育て",
         申請方法="外部サービス", 申請先URL="https://app.example.jp/jidoteate"),
    _row("KIR", "こども部", "子育て支援課", "子ども医療費助成の申請", 2000, events="子育て"),
    # 環境部
    _row("SDG", "環境部", "ごみ対策課", "粗大ごみ収集の申込", 9000, keywords="家具、ベッド",
         events="ごみ・リサイクル", 申請方法="オンライン"),
    _row("CKT", "環境部", "環境衛生課", "犬の登録（畜犬登録）", 800, events="ペット"),
    _row("KYB", "環境部", "環境衛生課", "狂犬病予防注射済票の交付", 700, events="ペット"),
    # 健康福祉部
    _row("PCR", "健康福祉部", "健康づくり課", "PCR検査費用の助成", 300,
         申請方法="外部サービス", 申請先URL="https://app.example.jp/pcr"),
    _row("YBS", "健康福祉部", "健康づくり課", "予防接種の予診票の再発行", 900, keywords="ワクチン"),
    _row("CVS", "健康福祉部", "健康づくり課", "新型コロナワクチン接種証明書の交付", 100),
    # 総務部
    _row("CMP", "総務部", "情報政策課", "コンピューター講習会の申込", 150, 申請方法="オンライン"),
    _row("CSL", "総務部", "情報政策課", "キャッシュレス決済の利用登録", 120, 申請方法="オンライン"),
    _row("SKT", "総務部", "市民活動課", "市民活動センター利用者登録の申し込み", 80),
    _row("HIDDEN", "総務部", "市民活動課", "内部監査資料の閲覧申請", 99999, 公開="いいえ"),
]


@pytest.fixture
def search_catalog(db, write_csv):
    """SEARCH_ROWS imported through the real importer; returns {手続ID: Procedure}."""
    from tenohira.catalog.models import Procedure

    result = import_catalog(write_csv(SEARCH_ROWS, name="search-catalog.csv"))
    assert result.created == len(SEARCH_ROWS)
    return {p.code: p for p in Procedure.objects.select_related("section__department")}


MINIMAL_FORM = {
    "title": "テスト申請",
    "steps": [{"key": "applicant", "title": "申請者", "fields": [{"key": "name", "type": "text", "label": "氏名"}]}],
}


@pytest.fixture
def publish_form(db):
    """publish_form(procedure, opens_at=None, closes_at=None): a published form with an
    application window, through the real publishing service."""
    from tenohira.forms.services import publish

    def publish_it(procedure, *, opens_at=None, closes_at=None):
        version, _created = publish(procedure, MINIMAL_FORM)
        definition = version.definition
        definition.opens_at, definition.closes_at = opens_at, closes_at
        definition.save()
        return version

    return publish_it
