"""`tenohira insights …` end to end: imports (errors by row, exit 1), and the JSON report
written to a file or standard output and read back."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenohira.insights.models import InventoryDepartment, SavingMeasure

pytestmark = pytest.mark.django_db

SHARED_DATA = Path(__file__).resolve().parent / "data"  # the real files the figures come from


@pytest.fixture
def shared_file(tmp_path):
    def copy(name: str) -> Path:
        source = SHARED_DATA / name
        assert source.is_file(), f"the real data file is missing: {source}"
        target = tmp_path / name
        shutil.copyfile(source, target)
        return target

    return copy


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("insights", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def bad_inventory(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    with open(SHARED_DATA / "online_by_department_fy2023.csv", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows[3][1] = "x"        # row 4: 手続数 not a number
    rows[7][4] = "999999"   # row 8: covered > annual
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_imports_and_the_json_report_to_a_file(shared_file, tmp_path):
    out, _ = run("import-inventory", shared_file("online_by_department_fy2023.csv"), "--fy", 2023)
    assert out.strip().splitlines() == [
        "取り込みました（csv-utf-8）: 部局計（2023年度・2022年度）: 新規 40 件、更新 0 件、変更なし 0 件",
        # The two published rates that contradict their counts: told, not refused.
        "注意: 17行目 「published_online_rate_pct」: 学校教育部のオンライン化率は公表値 0.0% ですが、"
        "件数から計算すると 33.3%（3/9）です。",
        "注意: 18行目 「published_online_rate_pct」: 教育委員会のオンライン化率は公表値 42.9% ですが、"
        "件数から計算すると 21.4%（3/14）です。",
    ]
    out, _ = run("import-inventory", shared_file("target_procedures_fy2024.csv"), "--fy", 2023)
    assert "手続ごと（2023年度）: 新規 43 件" in out
    out, _ = run("import-savings", shared_file("time_savings_fy2023.csv"), "--fy", 2023)
    assert "新規 50 件" in out

    target = tmp_path / "report.json"
    _, err = run("report", "--fy", 2023, "--format", "json", "--output", target)
    assert f"書き出しました: {target}" in err
    text = target.read_text(encoding="utf-8")
    assert "学校教育部" in text and "\\u" not in text  # UTF-8, not ASCII escapes
    assert text.startswith('{\n  "schema_version": 1,')  # indented by 2
    report = json.loads(text)
    total = report["online"]["total"]
    assert [total["current"][k] for k in ("procedures", "online_procedures", "online_rate", "annual_applications",
                                          "covered_applications", "coverage_rate")] == [1804, 412, 22.8, 1651938, 926592, 56.1]
    assert [total["previous"][k] for k in ("procedures", "online_procedures", "online_rate", "annual_applications",
                                           "covered_applications", "coverage_rate")] == [1829, 369, 20.2, 1671015, 880447, 52.7]
    assert total["difference"]["coverage_rate_points"] == 3.4
    assert {f["department"] for f in report["online"]["flags"]} == {"学校教育部", "教育委員会"}
    assert report["next"]["simulation"]["coverage_rate"] == 73.3
    assert report["savings"]["total"]["rpa_hours"] == 5019.3
    assert report["period"]["label"] == "令和5年度"


def test_the_json_report_to_standard_output_for_a_calendar_year_and_a_range(shared_file):
    run("import-inventory", shared_file("online_by_department_fy2023.csv"), "--fy", 2023)
    out, _ = run("report", "--year", 2023, "--format", "json")
    assert json.loads(out)["period"]["kind"] == "calendar_year"
    out, _ = run("report", "--from", "令和5年11月6日", "--to", "2023-11-30", "--format", "json", "--output", "-")
    period = json.loads(out)["period"]
    assert (period["kind"], period["from"], period["to"]) == ("range", "2023-11-06", "2023-11-30")


def test_a_bad_file_prints_every_error_and_applies_nothing(tmp_path):
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("insights", "import-inventory", str(bad_inventory(tmp_path)), "--fy", "2023", stderr=err)
    assert str(caught.value) == "2 件の誤りがあるため、何も取り込みませんでした。"
    assert err.getvalue().splitlines() == [
        "4行目 「procedures」: 「x」は件数（0以上の整数）ではありません。",
        "8行目 「covered_applications」: オンライン化手続の申請件数（999999）が年間申請件数（38880）を超えています。",
    ]
    assert InventoryDepartment.objects.count() == 0

    with pytest.raises(CommandError):
        run("import-savings", SHARED_DATA / "time_savings_fy2023.csv")  # no --fy and no 年度 column
    assert SavingMeasure.objects.count() == 0


def test_wrong_report_options_are_refused(tmp_path):
    for args in (["report", "--from", "2023-11-06"], ["report", "--to", "2023-11-30"],
                 ["report", "--from", "2023-12-01", "--to", "2023-11-30"],
                 ["report", "--from", "2023-13-01", "--to", "2023-12-31"],
                 ["report", "--format", "xlsx"], ["report", "--format", "pdf", "--output", "-"]):
        with pytest.raises(CommandError):
            run(*args)
    assert not list(tmp_path.iterdir())


def test_the_other_imports_are_reached_through_the_same_command(shared_file):
    out, _ = run("import-printouts", shared_file("printouts_by_department_fy2022_fy2023.csv"))
    assert out.startswith("取り込みました")
    out, _ = run("import-pos", shared_file("cashless_by_facility_2023.csv"), "--year", 2023)
    assert out.startswith("取り込みました")


def test_the_real_command_line_exits_1_on_errors_and_writes_the_report(tmp_path, shared_file):
    # A separate process on its own SQLite database in a temporary data directory.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "TENOHIRA_DEMO"}}
    env["TENOHIRA_DATA_DIR"] = str(tmp_path / "data")

    def tenohira(*args):
        return subprocess.run([sys.executable, "-m", "tenohira", *[str(a) for a in args]], env=env,
                              capture_output=True, text=True, check=False)

    assert tenohira("migrate", "-v", "0").returncode == 0
    bad = tenohira("insights", "import-inventory", bad_inventory(tmp_path), "--fy", 2023)
    assert bad.returncode == 1
    assert "4行目 「procedures」: " in bad.stderr and "8行目 「covered_applications」: " in bad.stderr
    good = tenohira("insights", "import-inventory", shared_file("online_by_department_fy2023.csv"), "--fy", 2023)
    assert good.returncode == 0, good.stderr
    target = tmp_path / "r.json"
    written = tenohira("insights", "report", "--fy", 2023, "--format", "json", "--output", target)
    assert written.returncode == 0, written.stderr
    report = json.loads(target.read_text(encoding="utf-8"))
    assert report["online"]["total"]["current"]["coverage_rate"] == 56.1
    assert report["online"]["total"]["difference"]["coverage_rate_points"] == 3.4


def test_every_format_is_written_from_the_same_report(shared_file, tmp_path):
    from openpyxl import load_workbook

    run("import-inventory", shared_file("online_by_department_fy2023.csv"), "--fy", 2023)
    for fmt in ("xlsx", "pdf", "html", "csv"):
        _, err = run("report", "--fy", 2023, "--format", fmt, "--output", tmp_path / f"report.{fmt}")
        assert f"書き出しました: {tmp_path / f'report.{fmt}'}" in err
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    book = load_workbook(tmp_path / "report.xlsx", read_only=True)
    assert len(book.sheetnames) >= 2
    book.close()
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "学校教育部" in html and "令和5年度" in html
    written = (tmp_path / "report.csv").read_text(encoding="utf-8-sig")
    out, _ = run("report", "--fy", 2023, "--format", "csv")
    assert out == written
    rows = list(csv.reader(io.StringIO(written)))
    total = {row[8]: row[10] for row in rows[1:] if row[7] == "全体" and row[5] == "部局別オンライン化の状況（令和5年度）"}
    assert (total["procedures"], total["online_rate"], total["coverage_rate"]) == ("1804", "22.8", "56.1")
    out, _ = run("report", "--fy", 2023, "--format", "html")
    assert out == html


def test_rebuild_recounts_the_daily_table(db, capsys):
    from django.core.management import call_command

    from tenohira.insights.models import DailyApplications

    call_command("insights", "rebuild", "--from", "2023-04-01", "--to", "令和6年3月31日")
    out = capsys.readouterr().out
    assert "日別の申請件数を作り直しました" in out
    assert DailyApplications.objects.count() == 0  # no submissions: nothing to count, and no error
