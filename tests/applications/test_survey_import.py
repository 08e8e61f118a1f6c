"""Paper answers of a survey imported from CSV / XLSX: the online form's field types and
conditions, all or nothing, every problem with its row and column."""

from __future__ import annotations

import io
import json
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenohira.applications import survey_import
from tenohira.applications.models import Channel, Submission
from tenohira.forms.models import FormDefinition

pytestmark = pytest.mark.django_db

from pathlib import Path  # noqa: E402

import tenohira.forms  # noqa: E402

SURVEY_JSON = json.loads((Path(tenohira.forms.__file__).parent / "demo" / "ANK.json").read_text(encoding="utf-8"))
HEADER = ["年代", "来庁した目的", "窓口の対応に満足しましたか", "不満だった理由", "窓口での待ち時間", "窓口についてのご意見・ご要望", "回答日"]


@pytest.fixture
def ank(publish_form):
    version = publish_form(SURVEY_JSON, code="ANK")
    FormDefinition.objects.filter(pk=version.definition_id).update(kind="survey", anonymous=True)
    from tenohira.catalog.models import Procedure
    return Procedure.objects.select_related("form").get(code="ANK")


def csv_bytes(rows, encoding="utf-8-sig", header=HEADER) -> bytes:
    out = io.StringIO()
    import csv
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows, header=HEADER) -> bytes:
    from openpyxl import Workbook
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


GOOD = [
    ["30歳代", "証明書の取得、引越しの手続き", "満足", "", "１５", "", "令和6年4月1日"],
    ["70plus", "tax", "不満", "長く待った", "45", "椅子を増やしてほしい", "2024-04-02"],
    ["20歳代", "その他;福祉・子育ての手続き", "やや満足", "", "", "", ""],
]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp932"])
def test_csv_in_every_encoding(ank, encoding):
    outcome = survey_import.import_responses(ank, csv_bytes(GOOD, encoding))
    assert outcome.ok and outcome.imported == 3
    rows = {s.answers["age_group"]: s for s in Submission.objects.all()}
    assert rows["30s"].answers == {"age_group": "30s", "purpose": ["certificate", "moving"],
                                   "satisfaction": "satisfied", "waiting_minutes": 15}
    assert rows["70plus"].answers["reason"] == "長く待った"
    assert rows["20s"].answers["purpose"] == ["welfare", "other"]  # in the form's order
    assert {s.channel for s in rows.values()} == {Channel.PAPER}
    assert rows["30s"].submitted_at.astimezone().date().isoformat() == "2024-04-01"
    assert all(s.applicant_name == "" and s.email == "" and s.identity == {} for s in rows.values())
    assert len({s.receipt_number for s in rows.values()}) == 3


def test_xlsx_with_one_column_per_option_and_excel_dates(ank):
    import datetime as dt
    header = ["年代", "来庁した目的：証明書の取得", "来庁した目的：引越しの手続き", "来庁した目的：その他",
              "窓口の対応に満足しましたか", "窓口での待ち時間", "回答日"]
    rows = [["40歳代", "○", None, 1, "satisfied", 10, dt.datetime(2024, 5, 1)],
            ["50歳代", None, "〇", None, "やや不満", 20.0, None]]
    outcome = survey_import.import_responses(ank, xlsx_bytes(rows, header), filename="paper.xlsx")
    assert outcome.ok, [str(p) for p in outcome.problems]
    answers = sorted((s.answers for s in Submission.objects.all()), key=lambda a: a["age_group"])
    assert answers[0]["purpose"] == ["certificate", "other"] and answers[0]["waiting_minutes"] == 10
    assert answers[1]["purpose"] == ["moving"]


def test_every_error_listed_with_row_and_column_and_nothing_stored(ank):
    rows = [
        GOOD[0],
        ["30歳代", "証明書の取得", "", "", "", "", ""],  # 満足度 required
        ["百歳", "散歩", "満足", "", "abc", "", "令和99年13月1日"],  # bad choice, multichoice, number, date
        ["30歳代", "証明書の取得", "不満", "", "", "", ""],  # 理由 required when 不満
        ["30歳代", "証明書の取得", "満足", "理由を書いた", "", "", ""],  # 理由 not asked when 満足
    ]
    outcome = survey_import.import_responses(ank, csv_bytes(rows))
    assert not outcome.ok and Submission.objects.count() == 0
    found = {(p.row, p.column) for p in outcome.problems}
    assert found == {
        (3, "窓口の対応に満足しましたか"),
        (4, "年代"), (4, "来庁した目的"), (4, "窓口での待ち時間"), (4, "回答日"),
        (5, "不満だった理由"),
        (6, "不満だった理由"),
    }
    messages = {(p.row, p.column): p.message for p in outcome.problems}
    assert "選択肢から選んでください" in messages[(4, "年代")]
    assert "数字" in messages[(4, "窓口での待ち時間")]
    assert "空欄" in messages[(6, "不満だった理由")]
    assert all(str(p).startswith(f"{p.row}行目") for p in outcome.problems)


def test_one_bad_row_of_500_stores_none(ank):
    rng = random.Random(13)
    ages = ["20歳代", "30歳代", "40歳代"]
    rows = [[rng.choice(ages), "証明書の取得", "満足", "", str(rng.randint(0, 60)), "", ""] for _ in range(500)]
    rows[321][4] = "-5"  # below min 0
    outcome = survey_import.import_responses(ank, csv_bytes(rows))
    assert [(p.row, p.column) for p in outcome.problems] == [(323, "窓口での待ち時間")]
    assert Submission.objects.count() == 0
    rows[321][4] = "5"
    assert survey_import.import_responses(ank, csv_bytes(rows)).imported == 500
    assert Submission.objects.count() == 500


def test_header_problems(ank):
    header = ["年代", "好きな食べ物", "age_group", "窓口の対応に満足しましたか"]
    outcome = survey_import.import_responses(ank, csv_bytes([["20歳代", "", "", "満足"]], header=header))
    assert {(p.row, p.column) for p in outcome.problems} == {(1, "好きな食べ物"), (1, "age_group")}


def test_keys_as_headers_and_dry_run(ank):
    header = ["age_group", "purpose", "satisfaction"]
    data = csv_bytes([["20s", "moving", "satisfied"]], header=header)
    outcome = survey_import.import_responses(ank, data, dry_run=True)
    assert outcome.ok and outcome.imported == 1 and Submission.objects.count() == 0


def test_bounds_refuse_before_reading(ank, monkeypatch):
    monkeypatch.setattr(survey_import, "MAX_ROWS", 10)
    rows = [["20歳代", "証明書の取得", "満足", "", "", "", ""]] * 11
    with pytest.raises(survey_import.ImportRefused, match="行が多すぎます"):
        survey_import.import_responses(ank, csv_bytes(rows))
    monkeypatch.setattr(survey_import, "MAX_BYTES", 100)
    with pytest.raises(survey_import.ImportRefused, match="大きすぎます"):
        survey_import.import_responses(ank, csv_bytes(rows))
    with pytest.raises(survey_import.ImportRefused, match="文字コード"):
        monkeypatch.setattr(survey_import, "MAX_BYTES", 10_000)
        survey_import.import_responses(ank, "年代\n二十代\n".encode("utf-16"))


def test_not_a_survey_is_refused(publish_form):
    version = publish_form(SURVEY_JSON, code="APP")
    with pytest.raises(survey_import.ImportRefused, match="アンケートではありません"):
        survey_import.import_responses(version.definition.procedure, csv_bytes(GOOD))


def test_command(ank, tmp_path, capsys):
    path = tmp_path / "paper.csv"
    path.write_bytes(csv_bytes(GOOD, "cp932"))
    call_command("survey", "import-responses", "ANK", str(path), "--dry-run")
    assert Submission.objects.count() == 0
    call_command("survey", "import-responses", "ANK", str(path))
    assert Submission.objects.count() == 3
    assert "3 件の回答を取り込みました" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([["百歳", "", "満足", "", "", "", ""]]))
    with pytest.raises(CommandError, match="1件も取り込んでいません"):
        call_command("survey", "import-responses", "ANK", str(bad))
    assert Submission.objects.count() == 3
    from tenohira.audit.models import AuditRecord
    assert AuditRecord.objects.filter(action="survey.import_responses").count() == 1


def _staff_client(username, roles):
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import StaffRole
    user = get_user_model().objects.create_user(username, password="x-Passw0rd-2026")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    for role, section in roles:
        StaffRole.objects.create(user=user, role=role, section=section)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


def test_staff_surveys_page(ank):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tenohira.backoffice.models import Role
    from tenohira.catalog.models import Section
    clerk = _staff_client("tanto", [(Role.HANDLER, ank.section)])
    other = Section.objects.create(department=ank.section.department, name="別の課")
    stranger = _staff_client("yoso", [(Role.HANDLER, other)])

    listing = clerk.get("/staff/surveys/").content.decode()
    assert "ANK" in listing and "/staff/tallies/ANK/" in listing
    assert "ANK" not in stranger.get("/staff/surveys/").content.decode()
    assert stranger.get("/staff/surveys/ANK/").status_code == 404

    blank = clerk.get("/staff/surveys/ANK/template.csv")
    assert blank.content.decode("utf-8-sig").strip().split(",") == HEADER
    from openpyxl import load_workbook
    book = load_workbook(io.BytesIO(clerk.get("/staff/surveys/ANK/template.xlsx").content), read_only=True)
    assert [c.value for c in next(book.active.iter_rows())] == HEADER

    bad = clerk.post("/staff/surveys/ANK/", {"file": SimpleUploadedFile("p.csv", csv_bytes([GOOD[0], ["百歳"] + GOOD[0][1:]]))})
    assert bad.status_code == 400 and "3行目「年代」" in bad.content.decode() and Submission.objects.count() == 0
    good = clerk.post("/staff/surveys/ANK/", {"file": SimpleUploadedFile("p.xlsx", xlsx_bytes(GOOD))})
    assert good.status_code == 200 and "3件の回答を取り込みました" in good.content.decode()
    assert Submission.objects.filter(channel="paper").count() == 3
    assert "回答 3件（うち紙 3件）" in clerk.get("/staff/surveys/ANK/").content.decode()
