"""The DX dashboards under /staff/insights/: a DX管理者 sees every department, a 部局長 only
their own (no other department's row, no city-wide total), anyone else gets 403; the
downloads (PDF, XLSX, open-data CSV) follow the same cut. Also the 部局長 role itself:
StaffRole.clean and backoffice.selectors.departments_for."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from openpyxl import load_workbook

from tenohira.backoffice import selectors as staff_selectors
from tenohira.backoffice.models import Role, StaffRole
from tenohira.catalog.models import Department, Section
from tenohira.insights.imports import inventory, savings

pytestmark = pytest.mark.django_db

SHARED_DATA = Path(__file__).resolve().parent / "data"  # the real files the figures come from
OTHER_DEPARTMENTS = [
    "総務部", "政策開発部", "財務部", "税務部", "市民部", "文化スポーツ部", "環境部", "保健福祉部", "農林部",
    "産業観光部", "建設部", "都市構想部", "上下水道局", "教育総務部", "学校教育部", "教育委員会",
    "選挙管理委員会", "農業委員会", "議会事務局",
]


def user_with(username: str, roles: list[tuple[str, dict]]):
    user = get_user_model().objects.create_user(username, password="x-Passw0rd-2026")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    for role, where in roles:
        StaffRole.objects.create(user=user, role=role, **where)
    return user


def signed_in(user) -> Client:
    """Signed in with the second factor verified, as after the real login page."""
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


@pytest.fixture
def city(tmp_path, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MUNICIPALITY_NAME = "郡山市"
    for name in ("online_by_department_fy2023.csv", "time_savings_fy2023.csv"):
        shutil.copyfile(SHARED_DATA / name, tmp_path / name)
    inventory.import_file(tmp_path / "online_by_department_fy2023.csv", fiscal_year=2023)
    savings.import_file(tmp_path / "time_savings_fy2023.csv", fiscal_year=2023)
    kodomo = Department.objects.create(name="こども部", order=9)
    soumu = Department.objects.create(name="総務部", order=1)
    section = Section.objects.create(department=kodomo, name="こども政策課")
    users = {
        "dx": user_with("dx", [(Role.DX_ADMIN, {})]),
        "head": user_with("kodomo-bucho", [(Role.DEPARTMENT_HEAD, {"department": kodomo})]),
        "handler": user_with("tanto", [(Role.HANDLER, {"section": section})]),
        "auditor": user_with("kansa", [(Role.AUDITOR, {})]),
        "nobody": user_with("nashi", []),
    }
    return {"kodomo": kodomo, "soumu": soumu, **users}


def body(response) -> str:
    return response.content.decode("utf-8")


def test_a_dx_admin_sees_every_department_and_the_totals(city):
    response = signed_in(city["dx"]).get("/staff/insights/?fy=2023")
    assert response.status_code == 200
    page = body(response)
    for name in ["こども部", *OTHER_DEPARTMENTS]:
        assert name in page, name
    for figure in ("1,804", "22.8%", "56.1%", "1,651,938", "+3.4", "5,019.3"):
        assert figure in page, figure
    assert page.count("<svg") >= 3
    assert 'href="/staff/insights/departments/' in page
    assert "DX推進の状況" in page  # the staff menu links the dashboard


def test_a_department_head_sees_only_their_department(city):
    client = signed_in(city["head"])
    response = client.get("/staff/insights/?fy=2023")
    assert response.status_code == 200
    page = body(response)
    assert "こども部" in page
    for figure in ("102,147", "30,347", "29.7%", "47.1%"):  # こども部's own row
        assert figure in page, figure
    for name in OTHER_DEPARTMENTS:
        assert name not in page, name
    for city_wide in ("1,804", "1,651,938", "22.8%", "56.1%", "5,019.3", '<tr class="total">'):
        assert city_wide not in page, city_wide
    own = client.get(f"/staff/insights/departments/{city['kodomo'].pk}/?fy=2023")
    assert own.status_code == 200 and "102,147" in body(own)
    other = client.get(f"/staff/insights/departments/{city['soumu'].pk}/?fy=2023")
    assert other.status_code == 404
    assert "17,278" not in body(other)


def test_a_dx_admin_can_open_one_department(city):
    response = signed_in(city["dx"]).get(f"/staff/insights/departments/{city['soumu'].pk}/?fy=2023")
    assert response.status_code == 200
    page = body(response)
    assert "17,278" in page and "31.9%" in page  # 総務部
    assert "102,147" not in page and "1,804" not in page


@pytest.mark.parametrize("who", ["handler", "auditor", "nobody"])
def test_staff_without_a_dx_role_are_refused(city, who):
    client = signed_in(city[who])
    for url in ("/staff/insights/", f"/staff/insights/departments/{city['kodomo'].pk}/",
                "/staff/insights/download/pdf/", "/staff/insights/download/csv/"):
        response = client.get(url)
        assert response.status_code == 403, (who, url)
        assert "1,804" not in body(response)


def test_anonymous_visitors_are_sent_to_the_login_page(city):
    response = Client(HTTP_HOST="localhost").get("/staff/insights/")
    assert response.status_code == 302
    assert response["Location"].startswith("/staff/login/")


def test_downloads_follow_the_same_cut(city, tmp_path):
    head = signed_in(city["head"])
    response = head.get("/staff/insights/download/csv/?fy=2023")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows and {r["対象"] for r in rows} == {"こども部"}

    pdf = head.get("/staff/insights/download/pdf/?fy=2023")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    path = tmp_path / "head.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert "こども部" in text and "102,147" in text
    assert not [name for name in OTHER_DEPARTMENTS if name in text]
    assert "1,804" not in text

    refused = head.get(f"/staff/insights/download/xlsx/?fy=2023&department={city['soumu'].pk}")
    assert refused.status_code == 404

    dx = signed_in(city["dx"])
    xlsx = dx.get("/staff/insights/download/xlsx/?fy=2023")
    assert xlsx.status_code == 200
    path = tmp_path / "dx.xlsx"
    path.write_bytes(xlsx.content)
    book = load_workbook(path)
    total = next(r for r in book["オンライン化_部局別"].iter_rows(min_row=4, values_only=True) if r[0] == "合計")
    assert total[:2] == ("合計", 1804)
    assert dx.get("/staff/insights/download/docx/").status_code == 404
    assert dx.post("/staff/insights/download/pdf/").status_code == 405


def test_the_department_head_role_needs_a_department(city):
    user = city["nobody"]
    with pytest.raises(ValidationError):
        StaffRole(user=user, role=Role.DEPARTMENT_HEAD).full_clean()
    with pytest.raises(ValidationError):
        StaffRole(user=user, role=Role.HANDLER, section=Section.objects.get(), department=city["kodomo"]).full_clean()
    with pytest.raises(ValidationError):
        StaffRole(user=user, role=Role.DX_ADMIN, department=city["kodomo"]).full_clean()
    StaffRole(user=user, role=Role.DEPARTMENT_HEAD, department=city["soumu"]).full_clean()


def test_departments_for_follows_the_roles(city):
    assert set(staff_selectors.departments_for(city["dx"])) == {city["kodomo"], city["soumu"]}
    assert list(staff_selectors.departments_for(city["head"])) == [city["kodomo"]]
    assert not staff_selectors.departments_for(city["handler"]).exists()
    assert not staff_selectors.departments_for(city["auditor"]).exists()
    assert staff_selectors.is_department_head(city["head"]) and not staff_selectors.is_department_head(city["dx"])
    # A department head holds no section: no applications come with the role.
    assert staff_selectors.section_ids(city["head"]) == set()
    assert not staff_selectors.submissions_for(city["head"]).exists()
