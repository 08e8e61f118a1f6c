"""Plan against actual for the 100%-online goal (the report's `plan`), and the DX
division's to-do list of procedures the catalog calls online while no form is published.

The catalog below: 市民部 plans two procedures for FY2023 and publishes a form for one;
the other is marked 「オンライン」 with no form (behind plan, and on the to-do list). こども部
is ahead with a procedure on an external service planned for FY2025, publishes a form in
FY2024 for its FY2024 plan, and has one procedure without a plan."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.backoffice.models import Role, StaffRole
from tenohira.catalog.models import Channel, Department, Procedure, ProcedureChannel, Section
from tenohira.forms.models import FormVersion
from tenohira.forms.services import publish, set_window
from tenohira.insights import kpi_plan, report
from tenohira.insights.render import to_html, to_xlsx
from tenohira.insights.selectors import restrict

pytestmark = pytest.mark.django_db

JST = dt.timezone(dt.timedelta(hours=9))
MINIMAL_FORM = {
    "title": "テスト申請",
    "steps": [{"key": "applicant", "title": "申請者", "fields": [{"key": "name", "type": "text", "label": "氏名"}]}],
}


def procedure(section: Section, code: str, name: str, annual: int, planned: int | None, *channels,
              published: bool = True) -> Procedure:
    created = Procedure.objects.create(code=code, section=section, name=name, annual_applications=annual,
                                       planned_online_fiscal_year=planned, is_published=published)
    for kind in channels:
        ProcedureChannel.objects.create(procedure=created, kind=kind,
                                        url="https://example.jp/apply" if kind == Channel.EXTERNAL else "")
    return created


def form(of: Procedure, published_at: dt.datetime) -> None:
    version, _created = publish(of, MINIMAL_FORM)
    FormVersion.objects.filter(pk=version.pk).update(published_at=published_at)
    set_window(of, None, None)


@pytest.fixture
def catalog():
    citizens = Department.objects.create(name="市民部", order=1)
    children = Department.objects.create(name="こども部", order=2)
    taxes = Department.objects.create(name="税務部", order=3)
    counter = Section.objects.create(department=citizens, name="市民課")
    nursery = Section.objects.create(department=children, name="保育課")
    tax = Section.objects.create(department=taxes, name="市民税課")
    made = {
        "resident": procedure(counter, "JUM", "住民票の写し等の交付請求", 50_000, 2023, Channel.PLATFORM),
        "seal": procedure(counter, "INK", "印鑑登録", 3_000, 2023, Channel.PLATFORM, Channel.COUNTER),
        "portal": procedure(nursery, "HOK", "保育施設等の利用申込", 2_500, 2025, Channel.EXTERNAL),
        "status": procedure(nursery, "GEN", "保育施設等の現況届", 1_000, 2024, Channel.PLATFORM),
        "unplanned": procedure(nursery, "ICH", "一時預かり利用申請", 500, None, Channel.COUNTER),
        "withdrawn": procedure(tax, "OLD", "廃止された申告", 9_999, 2023, Channel.PLATFORM, published=False),
    }
    form(made["resident"], dt.datetime(2023, 6, 1, 9, 0, tzinfo=JST))
    form(made["status"], dt.datetime(2024, 5, 7, 9, 0, tzinfo=JST))
    return made


def test_plan_against_actual_by_year_and_department(catalog):
    plan = report.build(fiscal_year=2023)["plan"]
    assert [y["fiscal_year"] for y in plan["years"]] == [2023, 2024, 2025]
    fy2023, fy2024, fy2025 = plan["years"]
    assert fy2023["label"] == "令和5年度" and fy2023["actual_known"] is True
    assert fy2023["total"] == {
        "procedures": 5, "planned": 2, "actual": 2, "on_plan": 1, "behind": 1,
        "planned_rate": 40.0, "actual_rate": 40.0, "achievement_rate": 50.0,
        "annual_applications": 57_000, "planned_applications": 53_000, "actual_applications": 52_500,
        "planned_coverage_rate": 93.0, "actual_coverage_rate": 92.1,  # 53,000 and 52,500 of 57,000
    }
    # The unpublished procedure is not in the goal; departments in catalog order.
    assert [d["department"] for d in fy2023["departments"]] == ["市民部", "こども部"]
    citizens, children = fy2023["departments"]
    assert (citizens["planned"], citizens["actual"], citizens["on_plan"], citizens["behind"]) == (2, 1, 1, 1)
    assert citizens["achievement_rate"] == 50.0
    # こども部 is ahead: its portal procedure is online before its planned year.
    assert (children["planned"], children["actual"], children["on_plan"], children["behind"]) == (0, 1, 0, 0)
    assert children["achievement_rate"] is None  # nothing planned yet: no rate, not 0%
    assert (fy2024["total"]["planned"], fy2024["total"]["actual"], fy2024["total"]["on_plan"]) == (3, 3, 2)
    assert (fy2025["total"]["planned"], fy2025["total"]["actual"], fy2025["total"]["on_plan"]) == (4, 3, 3)
    assert plan["behind"] == [{
        "department": "市民部", "section": "市民課", "procedure": "印鑑登録", "id": catalog["seal"].pk,
        "planned_fiscal_year": 2023, "planned_label": "令和5年度", "annual_applications": 3_000,
    }]
    assert plan["behind_count"] == 1
    assert plan["unplanned"] == {"procedures": 1, "annual_applications": 500}


def test_a_year_not_begun_has_a_plan_and_no_actual(catalog):
    plan = kpi_plan.section(2023, today=dt.date(2024, 6, 1))
    fy2024, fy2025 = plan["years"][1:]
    # FY2024 is counted up to today: the form published on 7 May is online.
    assert (fy2024["actual_known"], fy2024["total"]["actual"]) == (True, 3)
    assert fy2025["actual_known"] is False
    assert fy2025["total"]["planned"] == 4 and fy2025["total"]["planned_rate"] == 80.0
    for key in ("actual", "on_plan", "behind", "actual_rate", "achievement_rate", "actual_applications",
                "actual_coverage_rate"):
        assert fy2025["total"][key] is None, key
    assert plan["as_of"] == "2024-06-01"


def test_the_years_shown_are_bounded_around_the_report_year(catalog):
    Procedure.objects.filter(pk=catalog["unplanned"].pk).update(planned_online_fiscal_year=2060)
    Procedure.objects.filter(pk=catalog["seal"].pk).update(planned_online_fiscal_year=2001)
    plan = kpi_plan.section(2023)
    years = [y["fiscal_year"] for y in plan["years"]]
    assert years == list(range(2018, 2034))
    assert plan["years"][0]["total"]["planned"] == 1  # the 2001 plan counts in every year shown


def test_the_report_shows_the_plan_and_a_department_head_only_their_rows(catalog, tmp_path):
    built = report.build(fiscal_year=2023)
    html = to_html(built)
    assert "オンライン化の計画と実績" in html
    assert "部局別のオンライン化の計画と実績（令和5年度）" in html
    assert "令和5年度までにオンライン化を予定していた2手続のうち、1手続（50.0%）が令和5年度にオンラインで申請できました。" in html
    assert "予定年度を過ぎてもオンライン化されていない手続き（令和5年度）" in html and "印鑑登録" in html
    to_xlsx(built, tmp_path / "r.xlsx")
    from openpyxl import load_workbook

    book = load_workbook(tmp_path / "r.xlsx")
    assert {"計画と実績_年度別", "計画と実績_部局別", "計画と実績_未実施"} <= set(book.sheetnames)
    years = book["計画と実績_年度別"]
    assert [c.value for c in years[4]][:4] == ["令和5年度", 5, 2, 2]

    own = restrict(built, ["こども部"])["plan"]
    assert [d["department"] for y in own["years"] for d in y["departments"]] == ["こども部"] * 3
    assert own["behind"] == [] and own["unplanned"] is None
    assert all(y["total"] is None for y in own["years"])
    page = to_html(restrict(built, ["こども部"]))
    assert "市民部" not in page and "印鑑登録" not in page


# --- the DX division's to-do list on the dashboard -------------------------------------


def signed_in(username: str, roles: list[tuple[str, dict]]) -> Client:
    user = get_user_model().objects.create_user(username, password="x-Passw0rd-2026")
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    for role, where in roles:
        StaffRole.objects.create(user=user, role=role, **where)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


TODO_TITLE = "オンライン申請と表示される予定だがフォームが未公開の手続き"


def test_the_dx_division_sees_procedures_called_online_without_a_form_with_admin_links(catalog, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    dx = signed_in("dx", [(Role.DX_ADMIN, {})])
    page = dx.get("/staff/insights/?fy=2023").content.decode()
    assert TODO_TITLE in page
    seal = catalog["seal"]
    assert f'<a href="/admin/catalog/procedure/{seal.pk}/change/">印鑑登録</a>' in page
    assert "3,000" in page and "2件あります" in page
    # Unpublished, it is not shown to residents at all; the catalog still calls it online
    # here without a form, so it is listed too (the largest first).
    withdrawn = catalog["withdrawn"]
    assert page.index(f"/admin/catalog/procedure/{withdrawn.pk}/change/") < page.index(
        f"/admin/catalog/procedure/{seal.pk}/change/")
    # A procedure with a published form is not work to do.
    assert "住民票の写し等の交付請求</a>" not in page
    assert "オンライン化の計画と実績" in page

    children = Department.objects.get(name="こども部")
    one = dx.get(f"/staff/insights/departments/{children.pk}/?fy=2023").content.decode()
    assert TODO_TITLE not in one  # none in こども部


def test_a_department_head_does_not_get_the_to_do_list(catalog, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    citizens = Department.objects.get(name="市民部")
    head = signed_in("bucho", [(Role.DEPARTMENT_HEAD, {"department": citizens})])
    page = head.get("/staff/insights/?fy=2023").content.decode()
    assert TODO_TITLE not in page and "/admin/catalog/procedure/" not in page


def test_the_to_do_list_is_bounded(catalog, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    section = Section.objects.get(name="市民課")
    for number in range(40):
        procedure(section, f"T{number:02d}", f"届出{number:02d}", number, None, Channel.PLATFORM)
    page = signed_in("dx", [(Role.DX_ADMIN, {})]).get("/staff/insights/?fy=2023").content.decode()
    assert "42件あります" in page and "ほかに12件あります" in page
    assert page.count('/change/">') == 30 and 'href="/admin/catalog/procedure/"' in page


def test_the_pdf_carries_the_plan(catalog, tmp_path):
    import subprocess

    from tenohira.insights.render import to_pdf

    to_pdf(report.build(fiscal_year=2023), tmp_path / "r.pdf")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(tmp_path / "r.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert "オンライン化の計画と実績" in text and "予定年度を過ぎてもオンライン化されていない手続き" in text
    assert "印鑑登録" in text
