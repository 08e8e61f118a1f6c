"""The 受付票 PDF: Japanese text a resident (and pdftotext/pypdf) can read back."""

import datetime as dt
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from pypdf import PdfReader

import tenohira.forms
from tenohira.applications import receipt_pdf
from tenohira.applications.models import Submission
from tenohira.applications.receipt_pdf import ReceiptFontMissing, render_receipt_pdf
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.forms.engine import FormRun
from tenohira.forms.models import FormDefinition, FormVersion

HKC_SCHEMA = json.loads(
    (Path(tenohira.forms.__file__).resolve().parent / "demo" / "HKC.json").read_text(encoding="utf-8")
)
SUBMITTED_AT = dt.datetime(2024, 4, 1, 1, 5, tzinfo=dt.UTC)  # 2024年4月1日 10:05 in Japan


def _name(prefix, family, given, family_kana, given_kana):
    return {f"{prefix}__family": [family], f"{prefix}__given": [given],
            f"{prefix}__family_kana": [family_kana], f"{prefix}__given_kana": [given_kana]}


HKC_RAW = {
    "guardian": {**_name("guardian_name", "山田", "太郎", "ヤマダ", "タロウ"), "relationship": ["father"]},
    "contact": {
        "address__postal_code": ["963-8601"], "address__prefecture": ["福島県"], "address__city": ["郡山市"],
        "address__town": ["朝日"], "address__street": ["1-23-7"], "address__building": ["朝日ハイツ101"],
        "phone": ["090-1234-5678"], "email": ["taro@example.jp"],
    },
    "child": {
        "children-count": ["2"],
        **_name("children-0-child_name", "山田", "花子", "ヤマダ", "ハナコ"),
        "children-0-birth_date": ["2016-05-10"], "children-0-school": ["サンプル市立中央小学校"],
        "children-0-grade": ["3"], "children-0-club": ["chuo"], "children-0-period": ["year"],
        **_name("children-1-child_name", "山田", "一郎", "ヤマダ", "イチロウ"),
        "children-1-birth_date": ["2018-09-01"], "children-1-school": ["サンプル市立中央小学校"],
        "children-1-grade": ["1"], "children-1-club": ["minami"], "children-1-period": ["summer"],
    },
    "work": {"working": ["yes"], "employer": ["株式会社サンプル商事 駅前店"], "work_days": ["5"],
             "work_hours": ["9:00〜17:00"], "work_certificate": ["tok-1"]},
}


@pytest.fixture
def procedure(db):
    department = Department.objects.create(name="こども部")
    section = Section.objects.create(department=department, name="こども政策課")
    procedure = Procedure.objects.create(code="HKC", section=section, name="放課後児童クラブ入所申請")
    definition = FormDefinition.objects.create(procedure=procedure)
    FormVersion.objects.create(definition=definition, number=1, schema=HKC_SCHEMA, status="published")
    return procedure


def make_submission(procedure, summary=None, *, receipt_number="2024-HKC-000123") -> Submission:
    version = procedure.form.published_version()
    run = FormRun(version.parsed(), HKC_RAW)
    assert run.complete
    if summary is None:  # as applications.services.submit stores it
        summary = [{"title": row["step"].title, "items": row["items"]} for row in run.summary()]
    return Submission.objects.create(
        receipt_number=receipt_number, procedure=procedure, section=procedure.section, form_version=version,
        answers=run.answers,
        summary=summary, email="taro@example.jp", status_secret_hash="0" * 64, submitted_at=SUBMITTED_AT,
    )


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_receipt_shows_the_number_the_procedure_and_the_answers(procedure):
    pdf = render_receipt_pdf(make_submission(procedure))
    assert pdf.startswith(b"%PDF-")
    pages = pages_text(pdf)
    assert len(pages) >= 1
    text = "\n".join(pages)
    for expected in (
        "受付票", settings.MUNICIPALITY_NAME, "放課後児童クラブ入所申請", "2024-HKC-000123",
        "2024年4月1日 10:05", "山田 花子", "ヤマダ ハナコ", "山田 一郎", "サンプル市立中央小学校",
        "みなみ児童クラブ（南小学校内）", "株式会社サンプル商事 駅前店", "就労証明書",
        "入所を希望するお子さん", "お子さん2 利用したい期間", "夏休みのみ", "〒963-8601",
        "090-1234-5678", "taro@example.jp",
    ):
        assert expected in text, expected
    assert f"1 / {len(pages)} ページ" in pages[0]


def test_japanese_font_is_embedded(procedure):
    pdf = render_receipt_pdf(make_submission(procedure))
    reader = PdfReader(io.BytesIO(pdf))
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            descriptor = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            if descriptor is not None and "/FontFile2" in descriptor.get_object():
                fonts.add(str(font["/BaseFont"]))
    assert fonts, "no embedded TrueType font"
    assert reader.metadata.title == "受付票 2024-HKC-000123"


def test_pdftotext_reads_the_japanese(procedure, tmp_path):
    # scripts/bootstrap --test installs poppler-utils; a missing pdftotext is a failure.
    assert shutil.which("pdftotext"), "pdftotext (Debian poppler-utils) is not installed"
    path = tmp_path / "receipt.pdf"
    path.write_bytes(render_receipt_pdf(make_submission(procedure)))
    text = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert "2024-HKC-000123" in text
    assert "山田 花子" in text and "ヤマダ ハナコ" in text
    assert "放課後児童クラブ入所申請" in text


def test_many_rows_flow_onto_more_pages_with_the_header_repeated(procedure):
    summary = [{"title": "入所を希望するお子さん", "items": [
        {"label": f"お子さん{i} 通っている小学校", "value": f"サンプル市立第{i}小学校"} for i in range(1, 121)
    ]}]
    pages = pages_text(render_receipt_pdf(make_submission(procedure, summary)))
    assert len(pages) > 1
    text = "\n".join(pages)
    for i in (1, 60, 120):
        assert f"サンプル市立第{i}小学校" in text
    for number, page in enumerate(pages, start=1):
        assert re.search(r"項目\s*内容", page), f"table header missing on page {number}"
        assert f"{number} / {len(pages)} ページ" in page
        assert "2024-HKC-000123" in page  # the footer names the receipt on every page


def test_long_values_wrap_instead_of_overflowing(procedure):
    long_text = "令和6年度中央公園の維持管理業務の委託契約書及び仕様書一式。" * 120  # longer than a page
    long_ascii = "https://example.jp/" + "a" * 300
    summary = [{"title": "開示を求める公文書", "items": [
        {"label": "開示を求める公文書の件名または内容", "value": long_text},
        {"label": "参考URL", "value": long_ascii},
        {"label": "改行のある回答", "value": "1行目\n2行目 <b>タグではない</b> & 記号"},
    ]}]
    pdf = render_receipt_pdf(make_submission(procedure, summary))
    pages = pages_text(pdf)
    assert len(pages) >= 2
    # Read the pages as one text without the footer and the repeated table header.
    footer = squash(f"{settings.MUNICIPALITY_NAME}　受付票　受付番号 2024-HKC-000123")
    squashed = re.sub(rf"{footer}\d+/\d+ページ|項目内容", "", squash("".join(pages)))
    assert squash(long_text) in squashed  # every character, in order, across pages
    assert "a" * 300 in squashed
    assert "<b>タグではない</b>&記号" in squashed


def test_an_empty_summary_still_gives_a_receipt(procedure):
    text = "\n".join(pages_text(render_receipt_pdf(make_submission(procedure, []))))
    assert "2024-HKC-000123" in text and "回答はありません" in text


def test_missing_font_names_the_debian_package(monkeypatch, settings):
    settings.RECEIPT_FONT_PATH = ""
    monkeypatch.setattr(receipt_pdf, "FONT_CANDIDATES", ("/nonexistent/font.ttf",))
    receipt_pdf.font_name.cache_clear()
    try:
        with pytest.raises(ReceiptFontMissing, match="fonts-ipaexfont-gothic"):
            receipt_pdf.font_name()
    finally:
        receipt_pdf.font_name.cache_clear()
