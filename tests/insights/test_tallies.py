"""Response tallies (申込集計表): every figure equals a count made independently here from
the generated answers (several hundred responses over two versions, with blanks, answers
hidden by a condition, multiple choice and numbers); a split cross tabulation with its
subtotals; every output format read back; who may tally what; the command's JSON.

On PostgreSQL the database path (GROUP BY over jsonb) and the Python path (streaming the
rows) are both run and must agree.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import shutil
import subprocess
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")
AGES = [("10", "10代"), ("20", "20代"), ("30", "30代"), ("40", "40代"), ("50", "50歳以上")]
GENDERS = [("f", "女性"), ("m", "男性"), ("x", "回答しない")]
REASONS = [("book", "本を借りる"), ("study", "自習"), ("event", "催し"), ("wifi", "Wi-Fi")]
SATISFACTION_V1 = [("5", "満足"), ("3", "ふつう"), ("1", "不満")]
SATISFACTION_V2 = [("5", "とても満足"), ("4", "満足"), ("3", "ふつう"), ("1", "不満")]
CHANNELS = [("web", "市のウェブサイト"), ("paper", "広報紙")]


def schema(version: int) -> dict:
    satisfaction = SATISFACTION_V1 if version == 1 else SATISFACTION_V2
    about = [
        {"key": "age_group", "type": "choice", "label": "年代" if version == 1 else "年代（回答時）",
         "choices": [{"value": v, "label": lab} for v, lab in AGES]},
        {"key": "gender", "type": "choice", "label": "性別", "choices": [{"value": v, "label": lab} for v, lab in GENDERS]},
        {"key": "resident", "type": "yesno", "label": "市内にお住まいですか"},
        {"key": "name", "type": "text", "label": "お名前（任意）"},
    ]
    if version == 2:
        about.append({"key": "channel", "type": "choice", "label": "このアンケートを知った方法",
                      "choices": [{"value": v, "label": lab} for v, lab in CHANNELS]})
    steps = [
        {"key": "about", "title": "あなたについて", "fields": about},
        {"key": "use", "title": "図書館の利用", "fields": [
            {"key": "uses_library", "type": "yesno", "label": "図書館を利用していますか"},
            {"key": "visits", "type": "number", "label": "昨年の来館回数", "unit": "回", "min": 0},
            {"key": "reasons", "type": "multichoice", "label": "利用する目的",
             "show_if": {"field": "uses_library", "equals": True},
             "choices": [{"value": v, "label": lab} for v, lab in REASONS]},
            {"key": "satisfaction", "type": "choice", "label": "満足度",
             "show_if": {"field": "uses_library", "equals": True},
             "choices": [{"value": v, "label": lab} for v, lab in satisfaction]},
            {"key": "children", "type": "group", "label": "同居のお子さん", "fields": [
                {"key": "grade", "type": "choice", "label": "学年", "choices": [{"value": "1", "label": "1年"}]},
            ]},
        ]},
        {"key": "opinion", "title": "ご意見", "show_if": {"field": "resident", "equals": True}, "fields": [
            {"key": "opinion", "type": "textarea", "label": "ご意見"},
        ] + ([{"key": "wish_date", "type": "date", "label": "希望日"}] if version == 1 else [])},
    ]
    return {"title": "図書館利用アンケート", "steps": steps}


def answers_for(rng: random.Random, version: int) -> dict:
    """One response as the engine stores it: blanks and hidden questions are absent."""
    a: dict = {}

    def maybe(key, value, blank=0.1):
        if rng.random() >= blank:
            a[key] = value

    maybe("age_group", rng.choice(AGES)[0])
    maybe("gender", rng.choice(GENDERS)[0])
    maybe("resident", rng.random() < 0.7)
    maybe("name", "山田花子", blank=0.6)
    if version == 2:
        maybe("channel", rng.choice(CHANNELS)[0])
    maybe("uses_library", rng.random() < 0.6)
    maybe("visits", rng.choice([0, 1, 2, 3, 5, 8, 12, 40]))
    if a.get("uses_library") is True:
        chosen = [v for v, _ in REASONS if rng.random() < 0.45]
        if chosen:
            a["reasons"] = chosen
        maybe("satisfaction", rng.choice(SATISFACTION_V1 if version == 1 else SATISFACTION_V2)[0])
    a["children"] = [{"grade": "1"}] * rng.randint(0, 2)
    if a.get("resident") is True:
        maybe("opinion", "駐車場を広くしてほしい", blank=0.5)
        if version == 1:
            maybe("wish_date", "2024-05-01", blank=0.5)
    return a


class World:
    pass


def _staff(name, role, section):
    from tenohira.backoffice.models import StaffRole

    account = get_user_model().objects.create_user(name, password="x-Passw0rd-long-enough", last_name=name)
    TOTPDevice.objects.create(user=account, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=account, role=role, section=section)
    return account


def client_for(user) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


@pytest.fixture
def world(db):
    from tenohira.applications.models import Submission
    from tenohira.backoffice.models import Role
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms.services import publish

    department = Department.objects.create(name="教育部")
    section = Section.objects.create(department=department, name="中央図書館")
    other = Section.objects.create(department=department, name="生涯学習課")
    procedure = Procedure.objects.create(code="LIB", section=section, name="図書館利用アンケート")
    other_procedure = Procedure.objects.create(code="OTH", section=other, name="講座の申込")
    v1, _ = publish(procedure, schema(1))
    v2, _ = publish(procedure, schema(2))
    publish(other_procedure, schema(1))
    rng = random.Random(20241)
    start = dt.datetime(2024, 4, 1, 0, 0, tzinfo=JST)
    generated = []
    statuses = ["received", "received", "under_review", "completed", "withdrawn"]
    for index in range(480):
        version = v1 if index % 3 == 0 else v2
        answers = answers_for(rng, version.number)
        at = start + dt.timedelta(hours=3 * index + rng.randint(0, 2), minutes=rng.randint(0, 59))
        status = rng.choice(statuses)
        generated.append({"answers": answers, "version": version.number, "at": at, "status": status})
    Submission.objects.bulk_create([
        Submission(receipt_number=f"2024-LIB-{i:06d}", procedure=procedure, section=section,
                   form_version=v1 if g["version"] == 1 else v2, answers=g["answers"], status=g["status"],
                   status_secret_hash="x", submitted_at=g["at"])
        for i, g in enumerate(generated)
    ])
    w = World()
    w.procedure, w.other_procedure, w.generated = procedure, other_procedure, generated
    w.handler = _staff("toshokan", Role.HANDLER, section)
    w.outsider = _staff("gakushu", Role.HANDLER, other)
    w.dx = _staff("dxkanri", Role.DX_ADMIN, None)
    return w


# --- independent counting ---------------------------------------------------------------


def in_scope(w, date_from=None, date_to=None, statuses=None):
    statuses = statuses or ["received", "under_review", "returned", "resubmitted", "approved", "rejected", "completed"]
    chosen = []
    for g in w.generated:
        day = g["at"].astimezone(JST).date()
        if date_from and day < date_from or date_to and day > date_to:
            continue
        if g["status"] in statuses:
            chosen.append(g)
    return chosen


def rate(n, d):
    if not d:
        return None
    from tenohira.insights.numbers import round1

    return round1(Fraction(n * 100, d))


def expected_simple(chosen, key):
    """(answered, blank, hidden, Counter of options) counted by hand for the survey."""
    answered = blank = hidden = 0
    options: Counter = Counter()
    for g in chosen:
        a, v = g["answers"], g["version"]
        shown = True
        if key in ("reasons", "satisfaction"):
            shown = a.get("uses_library") is True
        if key in ("opinion", "wish_date"):
            shown = a.get("resident") is True and (key != "wish_date" or v == 1)
        if key == "channel":
            shown = v == 2
        if not shown:
            hidden += 1
            continue
        value = a.get(key)
        if value in (None, "", []):
            blank += 1
            continue
        answered += 1
        if isinstance(value, list):
            options.update(value)
        elif isinstance(value, bool):
            options["yes" if value else "no"] += 1
        else:
            options[str(value)] += 1
    return answered, blank, hidden, options


def check_simple(result, chosen):
    assert result["header"]["responses"] == len(chosen)
    by_key = {q["key"]: q for q in result["questions"]}
    # Groups are not tallied; a text question is counted without its content.
    assert "children" not in by_key and "options" not in by_key["name"]
    assert set(by_key) == {"name", "age_group", "gender", "resident", "channel", "uses_library", "visits", "reasons",
                           "satisfaction", "opinion", "wish_date"}
    for key, q in by_key.items():
        answered, blank, hidden, options = expected_simple(chosen, key)
        assert (q["answered"], q["blank"], q["hidden"]) == (answered, blank, hidden), key
        assert answered + blank + hidden == len(chosen)
        assert q["blank_pct"] == rate(blank, len(chosen))
        if "options" in q:
            assert {o["value"]: o["count"] for o in q["options"] if o["count"]} == dict(options), key
            for o in q["options"]:
                assert o["pct_of_responses"] == rate(o["count"], len(chosen))
                assert o["pct_of_answered"] == rate(o["count"], answered)
    # The label of the newest version; an option only the newest has is listed too.
    assert by_key["age_group"]["label"] == "年代（回答時）"
    assert [o["label"] for o in by_key["satisfaction"]["options"]] == ["とても満足", "満足", "ふつう", "不満"]
    # Multiple choice: respondents as the denominator; the percentages add up beyond 100.
    reasons = by_key["reasons"]
    assert reasons["denominator"] == "respondents"
    assert sum(o["pct_of_answered"] for o in reasons["options"]) > 100
    # Numbers.
    values = sorted(g["answers"]["visits"] for g in chosen if "visits" in g["answers"])
    numbers = by_key["visits"]["numbers"]
    assert numbers["count"] == len(values)
    assert Decimal(numbers["sum"]) == sum(values)
    middle = len(values) // 2
    median = values[middle] if len(values) % 2 else Fraction(values[middle - 1] + values[middle], 2)
    assert Decimal(numbers["median"]) == Decimal(median.numerator) / Decimal(median.denominator) \
        if isinstance(median, Fraction) else Decimal(numbers["median"]) == median
    assert Decimal(numbers["min"]) == values[0] and Decimal(numbers["max"]) == values[-1]
    assert Decimal(numbers["mean"]) == (Decimal(sum(values)) / len(values)).quantize(Decimal("0.01"))


def check_cross(result, chosen):
    """satisfaction × gender, split by age_group: every cell, subtotal and total."""
    cross = result["cross"]
    cols = [c["value"] for c in cross["columns"]]
    groups = [g["value"] for g in cross["groups"]]
    assert cols == ["f", "m", "x", "__blank__"]
    assert groups == ["10", "20", "30", "40", "50", "__blank__"]
    expected: Counter = Counter()
    for g in chosen:
        a = g["answers"]
        expected[(a.get("satisfaction", "__blank__"), a.get("gender", "__blank__"), a.get("age_group", "__blank__"))] += 1
    grand = 0
    for row in cross["rows"]:
        row_total = 0
        for group_value, group in zip(groups, row["groups"], strict=True):
            cells = [expected[(row["value"], c, group_value)] for c in cols]
            assert group["counts"] == cells, (row["value"], group_value)
            assert group["subtotal"] == sum(cells)
            row_total += sum(cells)
        assert row["total"] == row_total
        grand += row_total
    assert grand == len(chosen) == cross["totals"]["total"]
    for group_value, totals in zip(groups, cross["totals"]["groups"], strict=True):
        assert totals["counts"] == [sum(n for (r, c, s), n in expected.items() if c == col and s == group_value)
                                    for col in cols]


def test_tally_equals_independent_counts(world):
    from tenohira.insights import tallies

    scope = tallies.TallyScope(world.procedure, dt.date(2024, 4, 10), dt.date(2024, 8, 31))
    result = tallies.compute(scope, cross=("satisfaction", "gender"), split="age_group")
    chosen = in_scope(world, dt.date(2024, 4, 10), dt.date(2024, 8, 31))
    assert 200 < len(chosen) < 480
    check_simple(result, chosen)
    check_cross(result, chosen)
    header = result["header"]
    assert header["form_id"] == "LIB" and header["versions"] == [1, 2]
    assert header["period"]["label"] == "2024年4月10日〜2024年8月31日"
    assert "withdrawn" not in header["statuses"]
    # Withdrawn only, whole period.
    only = tallies.compute(tallies.TallyScope(world.procedure, statuses=["withdrawn"]))
    check_simple(only, in_scope(world, statuses=["withdrawn"]))


def test_database_and_python_paths_agree(world):
    from tenohira.insights import tallies

    scope = tallies.TallyScope(world.procedure)
    python = tallies.compute(scope, cross=("reasons", "uses_library"), split="gender", method="python")
    check_simple(python, in_scope(world))
    if connection.vendor != "postgresql":
        with pytest.raises(tallies.TallyError):
            tallies.compute(scope, method="database")
        return
    database = tallies.compute(scope, cross=("reasons", "uses_library"), split="gender", method="database")
    assert database == python


def test_multichoice_axis_counts_once_per_option(world):
    from tenohira.insights import tallies

    result = tallies.compute(tallies.TallyScope(world.procedure), cross=("reasons", "resident"))
    chosen = in_scope(world)
    expected = sum(max(1, len(g["answers"].get("reasons", []))) for g in chosen)
    assert result["cross"]["totals"]["total"] == expected
    assert result["cross"]["multiple"] and any("選んだ選択肢ごと" in n for n in result["notes"])


def test_bad_cross_choices_are_refused_in_japanese(world):
    from tenohira.insights import tallies

    scope = tallies.TallyScope(world.procedure)
    for cross, split in ((("visits", "gender"), None), (("gender", "gender"), None), (("nope", "gender"), None),
                         (None, "gender")):
        with pytest.raises(tallies.TallyError) as info:
            tallies.compute(scope, cross=cross, split=split)
        assert any("\u3040" <= ch <= "\u30ff" for ch in str(info.value))


# --- outputs, pages, scoping, command -----------------------------------------------------

QUERY = {"from": "2024-04-10", "to": "2024-08-31", "row": "satisfaction", "col": "gender", "split": "age_group"}


def test_page_shows_tally_with_charts_and_text_alternative(world):
    from tenohira.audit.models import AuditRecord

    response = client_for(world.handler).get("/staff/tallies/LIB/", QUERY)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    chosen = in_scope(world, dt.date(2024, 4, 10), dt.date(2024, 8, 31))
    assert f"{len(chosen):,}件" in text and "様式ID" in text and "第1版、第2版" in text
    assert text.count('role="img"') == 7 and "<desc" in text and "<caption>表: 問" in text
    assert "クロス集計: 満足度 × 性別（年代（回答時）別）" in text and "小計" in text
    assert "駐車場" not in text and "山田花子" not in text  # free text is counted, never shown
    assert AuditRecord.objects.filter(action="tallies.view", target="procedure:LIB").exists()
    # The pickers list only questions that can be an axis.
    assert '<option value="visits"' not in text and '<option value="age_group" selected' in text


def test_bad_filters_keep_what_was_typed(world):
    response = client_for(world.handler).get("/staff/tallies/LIB/", {"from": "2024-13-40", "to": "2024-08-31",
                                                                      "row": "gender"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "開始日は 2024-04-01 の形で入力してください。" in text
    assert 'value="2024-13-40"' in text and '<option value="gender" selected' in text


def test_scoping(world):
    assert client_for(world.outsider).get("/staff/tallies/LIB/").status_code == 404
    assert client_for(world.outsider).get("/staff/tallies/LIB/download/csv/").status_code == 404
    listing = client_for(world.outsider).get("/staff/tallies/").content.decode()
    assert "OTH" in listing and "図書館利用アンケート" not in listing
    everything = client_for(world.dx).get("/staff/tallies/").content.decode()
    assert "LIB" in everything and "OTH" in everything
    assert client_for(world.dx).get("/staff/tallies/LIB/").status_code == 200


def test_downloads_read_back(world, tmp_path):
    from openpyxl import load_workbook

    client = client_for(world.handler)
    chosen = in_scope(world, dt.date(2024, 4, 10), dt.date(2024, 8, 31))
    _answered, _blank, _hidden, genders = expected_simple(chosen, "gender")

    xlsx = client.get("/staff/tallies/LIB/download/xlsx/", QUERY)
    assert xlsx.status_code == 200 and xlsx["Cache-Control"] == "no-store"
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames[0] == "概要" and "クロス集計" in book.sheetnames
    sheet = next(book[n] for n in book.sheetnames if n.startswith("Q") and "性別" in n)
    counts = {sheet.cell(r, 1).value: sheet.cell(r, 2).value for r in range(4, sheet.max_row + 1)}
    assert counts["女性"] == genders["f"] and counts["男性"] == genders["m"]
    assert counts["回答総数"] == len(chosen)
    assert sheet.cell(4, 2).number_format == "#,##0"
    cross = book["クロス集計"]
    assert cross.cell(cross.max_row - 0, 1).value in ("合計", None) or True
    last = max(r for r in range(1, cross.max_row + 1) if cross.cell(r, 1).value == "合計")
    assert cross.cell(last, cross.max_column).value == len(chosen)

    for encoding, codec in (("", "utf-8-sig"), ("cp932", "cp932")):
        response = client.get("/staff/tallies/LIB/download/csv/", {**QUERY, **({"encoding": encoding} if encoding else {})})
        assert response.status_code == 200
        if codec == "utf-8-sig":
            assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode(codec))))
        start = next(i for i, r in enumerate(rows) if r and r[0].startswith("問2 性別"))
        table = {r[0]: r[1] for r in rows[start + 2:start + 8] if len(r) > 1}
        assert int(table["女性"]) == genders["f"] and int(table["回答総数"]) == len(chosen)

    pdf = client.get("/staff/tallies/LIB/download/pdf/", QUERY)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # scripts/bootstrap --test installs poppler-utils: a missing pdftotext is a broken setup, not a skip.
    assert shutil.which("pdftotext"), "pdftotext missing: run scripts/bootstrap --test (poppler-utils)"
    path = tmp_path / "tally.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "申込集計表" in text and "様式ID" in text and "LIB" in text and "クロス集計" in text
    assert f"{len(chosen):,}件" in text


def test_cp932_reports_characters_it_cannot_hold(world):
    from tenohira.insights import tallies, tally_outputs

    result = tallies.compute(tallies.TallyScope(world.procedure))
    result["questions"][0]["options"][0]["label"] = "𠮷野家"
    with pytest.raises(tallies.TallyError, match="𠮷"):
        tally_outputs.to_csv(result, "cp932")


def test_command_json(world, tmp_path, capsys):
    call_command("form_tally", "LIB", "--from", "2024-04-10", "--to", "2024-08-31", "--cross", "satisfaction",
                 "gender", "--split", "age_group", "--format", "json")
    result = json.loads(capsys.readouterr().out)
    chosen = in_scope(world, dt.date(2024, 4, 10), dt.date(2024, 8, 31))
    assert result["header"]["responses"] == len(chosen)
    check_cross(result, chosen)
    gender = next(q for q in result["questions"] if q["key"] == "gender")
    assert {o["value"]: o["count"] for o in gender["options"] if o["count"]} == dict(expected_simple(chosen, "gender")[3])
    out = tmp_path / "t.xlsx"
    call_command("form_tally", "LIB", "--status", "withdrawn", "--format", "xlsx", "-o", str(out))
    assert out.stat().st_size > 0
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="状態"):
        call_command("form_tally", "LIB", "--status", "nope")
    with pytest.raises(CommandError, match="クロス集計"):
        call_command("form_tally", "LIB", "--cross", "visits", "gender")
