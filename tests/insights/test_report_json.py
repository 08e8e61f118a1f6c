"""The headquarters report's JSON shape (docs/insights-report.md): plain JSON types, the
period options, every documented key, and every section computed by its module."""

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from tenohira.insights import report
from tenohira.insights.imports import inventory, savings

pytestmark = pytest.mark.django_db

SHARED_DATA = Path(__file__).resolve().parent / "data"  # the real files the figures come from
DOC = Path(__file__).resolve().parents[2] / "docs" / "insights-report.md"


@pytest.fixture
def shared_file(tmp_path):
    def copy(name: str) -> Path:
        source = SHARED_DATA / name
        assert source.is_file(), f"the real data file is missing: {source}"
        target = tmp_path / name
        shutil.copyfile(source, target)
        return target

    return copy


@pytest.fixture
def loaded(shared_file):
    inventory.import_file(shared_file("online_by_department_fy2023.csv"), fiscal_year=2023)
    inventory.import_file(shared_file("target_procedures_fy2024.csv"), fiscal_year=2023)
    savings.import_file(shared_file("time_savings_fy2023.csv"), fiscal_year=2023)


def walk(value, path="$"):
    """Every (path, leaf) of a JSON-like value."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), path
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")
    else:
        yield path, value


TOP_KEYS = [
    "schema_version", "municipality", "period", "generated_at", "rounding", "notes",
    "online", "next", "plan", "after_hours", "savings", "cashless", "paperless",
]


def test_the_report_is_plain_json_with_every_documented_key(loaded, settings):
    settings.MUNICIPALITY_NAME = "郡山市"
    built = report.build(fiscal_year=2023)
    assert list(built) == TOP_KEYS
    for path, leaf in walk(built):
        assert leaf is None or isinstance(leaf, str | int | float | bool), (path, type(leaf))
    # It survives a JSON round trip unchanged (no Decimal, date or tuple anywhere).
    assert json.loads(json.dumps(built, ensure_ascii=False)) == built

    assert built["schema_version"] == 1
    assert built["municipality"] == {"name": "郡山市"}
    assert built["period"] == {"kind": "fiscal_year", "from": "2023-04-01", "to": "2024-03-31",
                               "label": "令和5年度", "fiscal_year": 2023}
    generated = dt.datetime.fromisoformat(built["generated_at"])
    assert generated.utcoffset() == dt.timedelta(hours=9)
    assert built["rounding"]["rule"] == "half_up" and built["rounding"]["decimals"] == 1
    assert "四捨五入" in built["rounding"]["description"]
    assert built["notes"] == []

    online = built["online"]
    assert set(online) == {"fiscal_year", "previous_fiscal_year", "label", "previous_label", "source",
                           "previous_source", "columns", "departments", "online_applications_departments",
                           "total", "flags"}
    assert (online["label"], online["previous_label"]) == ("令和5年度", "令和4年度")
    assert online["columns"]["coverage_rate"] == "カバー率(%)"
    row = online["departments"][0]
    assert set(row) == {"department", "current", "previous", "difference", "published", "flags"}
    assert set(row["difference"]) == {"procedures", "online_procedures", "online_rate_points", "annual_applications",
                                      "covered_applications", "coverage_rate_points", "online_applications",
                                      "online_use_rate_points"}
    assert set(built["next"]) == {"fiscal_year", "base", "candidates", "simulation"}
    assert set(built["next"]["candidates"][0]) == {"rank", "id", "department", "section", "procedure",
                                                   "annual_applications", "coverage_gain_points",
                                                   "cumulative_coverage_rate"}
    assert set(built["savings"]) == {"fiscal_year", "departments", "total", "measures", "flags"}
    assert built["savings"]["total"]["rpa_hours"] == 5019.3

    # Every top-level and section key the report uses is named in the documentation.
    doc = DOC.read_text(encoding="utf-8")
    plan = built["plan"]
    for key in TOP_KEYS + list(online) + list(row) + list(built["next"]) + list(built["savings"]) + list(
        built["next"]["candidates"][0]) + list(built["savings"]["measures"][0]) + list(built["savings"]["flags"][0]) + list(
        plan) + list(plan["years"][0]) + list(plan["years"][0]["total"]) + list(plan["unplanned"]):
        assert f"`{key}`" in doc or f'"{key}"' in doc, key


def test_rates_are_numbers_with_one_decimal_or_null(loaded):
    built = report.build(fiscal_year=2023)
    rate_keys = re.compile(r"\.(online_rate|coverage_rate|online_rate_points|coverage_rate_points|"
                           r"coverage_gain_points|cumulative_coverage_rate|gain_points)$")
    seen = 0
    for path, leaf in walk({"online": built["online"], "next": built["next"]}):
        if rate_keys.search(path) and ".columns." not in path:
            seen += 1
            assert leaf is None or (isinstance(leaf, float) and round(leaf, 1) == leaf), (path, leaf)
    assert seen > 200
    text = json.dumps(built, ensure_ascii=False)
    assert '"coverage_rate": 56.1' in text and '"online_rate": 22.8' in text


def test_the_sections_of_the_other_modules_are_computed_over_the_period(loaded):
    from tenohira.insights import kpi_afterhours, kpi_cashless, kpi_paperless

    built = report.build(fiscal_year=2023)
    start, end = dt.date(2023, 4, 1), dt.date(2024, 3, 31)
    assert built["after_hours"] == report.jsonable(kpi_afterhours.section(start, end))
    assert built["cashless"] == report.jsonable(kpi_cashless.section(start, end))
    assert built["paperless"] == report.jsonable(kpi_paperless.section(start, end))
    for key in ("after_hours", "cashless", "paperless"):
        assert isinstance(built[key], dict) and built[key], key


def test_a_calendar_year_and_a_range(loaded):
    year = report.build(year=2023)
    assert year["period"] == {"kind": "calendar_year", "from": "2023-01-01", "to": "2023-12-31",
                              "label": "2023年（令和5年）", "fiscal_year": 2023}
    assert year["online"]["fiscal_year"] == 2023 and year["online"]["total"]["current"]["coverage_rate"] == 56.1
    assert year["notes"] == ["オンライン化・次の候補・計画と実績・業務削減時間は年度単位の集計のため、令和5年度の値です。"]

    window = report.build(date_from=dt.date(2023, 11, 6), date_to=dt.date(2023, 11, 30))
    assert window["period"] == {"kind": "range", "from": "2023-11-06", "to": "2023-11-30",
                                "label": "令和5年11月6日～11月30日", "fiscal_year": 2023}
    early = report.build(date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 3, 31))
    assert early["period"]["fiscal_year"] == 2023
    late = report.build(date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 4, 1))
    assert late["period"]["fiscal_year"] == 2024 and late["online"]["source"] is None

    for wrong in ({"fiscal_year": 2023, "year": 2023}, {"date_from": dt.date(2023, 1, 1)},
                  {"date_from": dt.date(2023, 2, 1), "date_to": dt.date(2023, 1, 1)}):
        with pytest.raises(report.PeriodError):
            report.build(**wrong)


def test_an_empty_installation_still_gives_every_key():
    built = report.build(fiscal_year=2030)
    assert list(built) == TOP_KEYS
    assert built["online"]["departments"] == [] and built["online"]["total"] == {
        "current": None, "previous": None, "difference": None}
    assert built["next"]["candidates"] == [] and built["next"]["simulation"] is None
    assert built["savings"]["total"] == {"rpa_hours": 0.0, "other_hours": 0.0, "total_hours": 0.0, "measures": 0}
    assert built["plan"]["years"][0]["fiscal_year"] == 2030 and built["plan"]["years"][0]["departments"] == []
    assert built["plan"]["behind"] == [] and built["plan"]["unplanned"] == {"procedures": 0, "annual_applications": 0}
    assert built["notes"] == ["令和12年度の手続棚卸が取り込まれていません。"]
    json.dumps(built)


def test_the_default_period_is_the_current_fiscal_year(loaded):
    from django.utils import timezone

    today = timezone.localdate()
    expected = today.year if today.month >= 4 else today.year - 1
    assert report.build()["period"]["fiscal_year"] == expected
