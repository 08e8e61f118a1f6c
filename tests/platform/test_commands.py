"""`tenohira demo` and `tenohira serve` are the platform's commands, and the platform sits
above every domain app: nothing below imports it."""

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import tenohira

SRC = Path(tenohira.__file__).resolve().parent
# The site as a whole (and its settings and entry point) may import any app; no domain app
# may import them back.
ABOVE = {"platform", "config"}


def test_demo_and_serve_belong_to_the_platform():
    from django.core.management import get_commands

    commands = get_commands()
    assert commands["demo"] == commands["serve"] == "tenohira.platform"


def test_no_domain_app_imports_the_platform():
    offenders = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC)
        if relative.parts[0] in ABOVE or len(relative.parts) == 1:
            continue
        if re.search(r"^\s*(from|import) tenohira\.platform\b", path.read_text(encoding="utf-8"), re.M):
            offenders.append(str(relative))
    assert offenders == []


def test_the_standard_library_platform_module_is_not_shadowed():
    import platform

    assert Path(platform.__file__).name == "platform.py"
    assert callable(platform.python_version)


def test_the_demo_prepares_the_city_and_its_mail_links_to_the_port_it_serves(tmp_path):
    environment = {k: v for k, v in os.environ.items()
                   if k not in {"DATABASE_URL", "TENOHIRA_DEMO", "SITE_URL", "DJANGO_SETTINGS_MODULE"}}
    environment["TENOHIRA_DATA_DIR"] = str(tmp_path)
    completed = subprocess.run(
        [sys.executable, "-c", "from tenohira.cli import main; main()", "demo", "--no-serve", "--port", "8123"],
        env=environment, capture_output=True, text=True, timeout=600, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "新規 453 件" in completed.stdout  # 452 procedures and the demo survey (ANK)
    assert "http://127.0.0.1:8123/" in completed.stdout
    with sqlite3.connect(tmp_path / "tenohira.sqlite3") as database:
        bodies = list(database.execute("SELECT kind, body FROM core_outboxmessage"))
        pages = {slug for (slug,) in database.execute("SELECT slug FROM platform_sitepage")}
        fees = dict(database.execute(
            "SELECT p.code, f.timing FROM payments_feesetting f JOIN catalog_procedure p ON p.id = f.procedure_id"))
    # 住民票 by post is paid when sent, 粗大ごみ after the items are confirmed.
    assert fees == {"HJC": "at_submission", "SDG": "after_review"}
    assert "オンラインで払える手数料" in completed.stdout
    # The sample applications' confirmation e-mails point at the demo's own address, and so
    # do the booking e-mails of the 粗大ごみ applications' collection days.
    assert bodies and all(
        ("http://127.0.0.1:8123/status/" if kind.startswith("submission_") else "http://127.0.0.1:8123/reservations/b/")
        in body for kind, body in bodies
    )
    assert sum(kind == "reservation_booked" for kind, _body in bodies) == 12
    assert pages == {"contact", "privacy", "accessibility", "terms"}
