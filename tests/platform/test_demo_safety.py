"""The demo stays a demo: `tenohira demo` refuses any database but its own SQLite file,
the sign-in page shows one-time codes only in demo mode, and `tenohira --help` creates
no file at all."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.platform.management.commands.demo import own_embedded_database


def environment(data_dir, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "TENOHIRA_DEMO", "TENOHIRA_HELP_ONLY", "DJANGO_SETTINGS_MODULE"}}
    env["TENOHIRA_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def tenohira(*args, env):
    return subprocess.run([sys.executable, "-c", "from tenohira.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("url", [
    "postgres://tenohira:secret@127.0.0.1:1/tenohira",  # never even connected to
    "sqlite:///{elsewhere}/production.sqlite3",
])
def test_the_demo_refuses_a_database_given_by_database_url(tmp_path, url):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = tmp_path / "demo-data"
    result = tenohira("demo", "--no-serve", env=environment(data, DATABASE_URL=url.format(elsewhere=elsewhere)))
    assert result.returncode != 0
    assert "デモ専用のデータベース" in result.stderr
    assert "--allow-database" in result.stderr
    assert list(elsewhere.iterdir()) == []  # nothing written there
    assert not (data / "tenohira.sqlite3").exists()


def test_only_the_sqlite_file_in_the_data_directory_is_the_demos_own(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "tenohira.sqlite3")}
    with override_settings(DATABASES={"default": database}):
        assert own_embedded_database()
    for other in ({**database, "NAME": str(tmp_path.parent / "x.sqlite3")}, {**database, "NAME": ":memory:"},
                  {"ENGINE": "django.db.backends.postgresql", "NAME": "tenohira"}):
        with override_settings(DATABASES={"default": other}):
            assert not own_embedded_database()


def test_outside_demo_mode_the_sign_in_page_shows_no_codes(db, settings):
    from tenohira.platform.demo import DEMO_ACCOUNTS

    settings.DEMO = False
    # Even with devices named like the demo's in the database (say a database the demo
    # once ran against), nothing of them appears.
    for username, *_rest in DEMO_ACCOUNTS:
        user = get_user_model().objects.create_user(username)
        TOTPDevice.objects.create(user=user, name="demo", confirmed=True)
    page = Client(HTTP_HOST="localhost").get("/staff/login/").content.decode()
    assert not any(username in page for username, *_rest in DEMO_ACCOUNTS)
    assert not re.search(r"\b\d{6}\b", re.sub(r"<[^>]+>", " ", page))
    settings.DEMO = True
    page = Client(HTTP_HOST="localhost").get("/staff/login/").content.decode()
    assert DEMO_ACCOUNTS[0][0] in page


def test_the_demo_mode_is_set_only_by_the_demo_command(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEMO)"
    env = environment(tmp_path, DJANGO_SETTINGS_MODULE="tenohira.config.settings")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("args", [["--help"], [], ["help"], ["help", "migrate"], ["migrate", "--help"], ["demo", "-h"]])
def test_asking_for_help_creates_no_file(tmp_path, args):
    home = tmp_path / "home"
    home.mkdir()
    data = tmp_path / "data"
    data.mkdir()  # empty, as an operator may have prepared it
    env = environment(data, HOME=str(home), XDG_DATA_HOME="")
    result = tenohira(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "tenohira" in result.stdout
    assert list(data.rglob("*")) == []
    assert list(home.rglob("*")) == []


def test_without_a_data_directory_help_creates_none(tmp_path):
    env = environment(tmp_path / "not-yet", HOME=str(tmp_path), XDG_DATA_HOME="")
    assert tenohira("--help", env=env).returncode == 0
    assert list(tmp_path.iterdir()) == []
