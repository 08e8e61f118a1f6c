"""業務削減時間: the real FY2023 ledger, formulas checked against hours, totals by department,
all-or-nothing and idempotent import, and the ledger editable in the admin."""

import csv
import io
import shutil
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.catalog.services import ImportRejected
from tenohira.insights import kpi_savings, report
from tenohira.insights.imports import savings
from tenohira.insights.models import SavingMeasure

pytestmark = pytest.mark.django_db

SHARED_DATA = Path(__file__).resolve().parent / "data"  # the real files the figures come from
HEADER = ["department", "kind", "measure", "formula", "hours"]


@pytest.fixture
def shared_file(tmp_path):
    def copy(name: str) -> Path:
        source = SHARED_DATA / name
        assert source.is_file(), f"the real data file is missing: {source}"
        target = tmp_path / name
        shutil.copyfile(source, target)
        return target

    return copy


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    return path


@pytest.fixture
def fy2023(shared_file):
    return savings.import_file(shared_file("time_savings_fy2023.csv"), fiscal_year=2023)


@pytest.mark.parametrize(("formula", "minutes"), [
    ("5分×64か所×250日", 80000),
    ("60分×50回", 3000),
    ("30分×20施設×250日", 150000),
    ("40分×2往復×1人×5回×170件", 68000),
    ("30時間×6回", 10800),
    ("2人×7.75時間×5日", Fraction(4650)),
    ("9時間36分×245日", 141120),
    ("申請書確認・情報照会1200時間＋選考1300時間", 150000),
    ("３分×２０件×３００日×２５箇所", 450000),   # full width
    ("10分 x 1,500件", 15000),
    ("別途積算", None),
    ("2020年と2022年の比較", None),
    ("10件×20日", None),                        # no duration
    ("5分×3時間", None),                         # two durations
    ("", None),
])
def test_formulas(formula, minutes):
    assert kpi_savings.formula_minutes(formula) == minutes


def test_the_fy2023_ledger_gives_rpa_5019_3_hours(fy2023):
    assert (fy2023.created, fy2023.computed, fy2023.fiscal_years) == (50, 0, [2023])
    section = report.build(fiscal_year=2023)["savings"]
    assert section["total"] == {"rpa_hours": 5019.3, "other_hours": 31873.3, "total_hours": 36892.6, "measures": 50}
    departments = {row["department"]: row for row in section["departments"]}
    assert list(departments)[:3] == ["総務部", "政策開発部", "財務部"]
    assert list(departments)[-2:] == ["会計管理者", "上下水道局"]
    assert departments["総務部"] == {"department": "総務部", "rpa_hours": 1589.0, "other_hours": 1384.0, "total_hours": 2973.0, "measures": 3}
    assert departments["こども部"] == {"department": "こども部", "rpa_hours": 659.0, "other_hours": 11397.5, "total_hours": 12056.5, "measures": 9}
    assert departments["税務部"]["rpa_hours"] == 165.5 and departments["税務部"]["total_hours"] == 290.5
    assert departments["環境部"] == {"department": "環境部", "rpa_hours": 0.0, "other_hours": 125.0, "total_hours": 125.0, "measures": 1}
    assert sum(Decimal(str(row["rpa_hours"])) for row in section["departments"]) == Decimal("5019.3")


def test_formulas_that_disagree_with_their_hours_by_more_than_half_an_hour_are_flagged(fy2023):
    section = kpi_savings.section(2023)
    assert [(f["department"], f["formula"], f["hours"], f["formula_hours"], f["difference"]) for f in section["flags"]] == [
        ("総務部", "5分×64か所×250日", 1334.0, 1333.3, -0.7),
        ("財務部", "40分×2往復×1人×5回×170件", 1134.0, 1133.3, -0.7),
        ("建設部", "15分×1701枚", 426.0, 425.3, -0.8),
    ]
    measures = {m["measure"]: m for m in section["measures"]}
    assert measures["電子入札"]["formula_hours"] == 874.5 and not measures["電子入札"]["flagged"]  # exactly 0.5 h off
    assert measures["電子契約（電子請求）"]["formula_hours"] is None and not measures["電子契約（電子請求）"]["flagged"]
    assert measures["河川台帳の電子化"]["formula_hours"] == 2352.0
    assert measures["保育所入所申込に関するAI・OCRの活用"]["formula_hours"] == 2500.0
    assert measures["RPA 10業務"]["kind_label"] == "RPA" and measures["電子入札"]["kind_label"] == "その他"


def test_a_formula_alone_gives_the_hours_and_every_error_is_reported(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["部局", "種類", "取組", "計算式", "削減時間", "年度"], [
        ["総務部", "その他", "LPWA", "5分×64か所×250日", "", "令和5年度"],      # 2: hours from the formula
        ["総務部", "RPA", "RPA 27業務", "", "1,589", "2023"],                   # 3
        ["総務部", "外注", "X", "", "1", "2023"],                               # 4: unknown kind
        ["総務部", "other", "Y", "別途積算", "", "2023"],                        # 5: formula not computable, no hours
        ["", "other", "", "", "", "2023"],                                        # 6: department, measure, hours
        ["総務部", "other", "Z", "", "12.34", "2023"],                            # 7: two decimals
        ["総務部", "その他", "LPWA", "", "1", "2023"],                           # 8: same measure again
    ])
    with pytest.raises(ImportRejected) as caught:
        savings.import_file(path)
    assert [(e.row, e.column) for e in caught.value.errors] == [
        (4, "種類"), (5, "計算式"), (6, "部局"), (6, "取組"), (6, "削減時間"), (7, "削減時間"), (8, "取組"),
    ]
    assert str(caught.value.errors[0]) == "4行目 「種類」: 「外注」は使えません。rpa（RPA）か other（その他）です。"
    assert caught.value.errors[-1].message == "2行目と同じ年度・部局・種類・取組です。"
    assert SavingMeasure.objects.count() == 0

    good = write_csv(tmp_path / "good.csv", ["部局", "種類", "取組", "計算式", "削減時間", "年度"], [
        ["総務部", "その他", "LPWA", "5分×64か所×250日", "", "令和5年度"],
        ["総務部", "RPA", "RPA 27業務", "", "1,589", "2023"],
    ])
    result = savings.import_file(good)
    assert (result.created, result.computed) == (2, 1)
    assert SavingMeasure.objects.get(measure="LPWA").hours == Decimal("1333.3")
    assert kpi_savings.section(2023)["flags"] == []


def test_the_fiscal_year_comes_from_the_command_or_the_file(tmp_path, shared_file):
    with pytest.raises(ImportRejected) as caught:
        savings.import_file(shared_file("time_savings_fy2023.csv"))
    assert "--fy" in caught.value.errors[0].message and caught.value.errors[0].row == 0
    path = write_csv(tmp_path / "y.csv", HEADER + ["fiscal_year"], [["総務部", "rpa", "A", "", "1", "2022"]])
    with pytest.raises(ImportRejected) as caught:
        savings.import_file(path, fiscal_year=2023)
    assert (caught.value.errors[0].row, caught.value.errors[0].column) == (2, "fiscal_year")


def test_reimport_is_idempotent_and_updates_in_place(fy2023, shared_file, tmp_path):
    before = list(SavingMeasure.objects.order_by("id").values())
    again = savings.import_file(shared_file("time_savings_fy2023.csv"), fiscal_year=2023)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 50)
    assert list(SavingMeasure.objects.order_by("id").values()) == before

    with open(SHARED_DATA / "time_savings_fy2023.csv", encoding="utf-8") as fh:
        rows = [list(row.values()) for row in csv.DictReader(fh)]
    rows[1][4] = "1333.3"  # the LPWA measure corrected to its formula
    changed = savings.import_file(write_csv(tmp_path / "fixed.csv", HEADER, rows), fiscal_year=2023)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 49)
    lpwa = SavingMeasure.objects.get(measure="LPWA/IoTによる温湿度管理")
    assert lpwa.hours == Decimal("1333.3") and lpwa.pk == before[1]["id"]
    section = kpi_savings.section(2023)
    assert [f["department"] for f in section["flags"]] == ["財務部", "建設部"]
    assert section["total"]["other_hours"] == 31872.6


def test_the_ledger_is_editable_in_the_admin(fy2023, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = get_user_model().objects.create_user("dx", password="x-Passw0rd-2026", is_staff=True, is_superuser=True)  # noqa: S106
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()

    listing = client.get("/admin/insights/savingmeasure/?fiscal_year=2023")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "LPWA/IoTによる温湿度管理" in html and "1333.3" in html

    measure = SavingMeasure.objects.get(measure="LPWA/IoTによる温湿度管理")
    page = client.get(f"/admin/insights/savingmeasure/{measure.pk}/change/")
    assert page.status_code == 200 and "1333.3" in page.content.decode()
    response = client.post(f"/admin/insights/savingmeasure/{measure.pk}/change/", {
        "fiscal_year": 2023, "department": "総務部", "kind": "other", "measure": measure.measure,
        "formula": "5分×64か所×250日", "hours": "1333.3",
    })
    assert response.status_code == 302
    measure.refresh_from_db()
    assert measure.hours == Decimal("1333.3")
    assert [f["department"] for f in kpi_savings.section(2023)["flags"]] == ["財務部", "建設部"]

    for url in ("/admin/insights/inventorydepartment/", "/admin/insights/inventoryprocedure/"):
        assert client.get(url).status_code == 200
