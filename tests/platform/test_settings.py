"""Settings come from the environment; each case loads them in a fresh interpreter."""

import json
import os
import stat
import subprocess
import sys

import pytest

PRINT_SETTINGS = """
import json
from tenohira.config import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "DEMO": s.DEMO,
    "SECRET_KEY": s.SECRET_KEY,
    "ENGINE": s.DATABASES["default"]["ENGINE"],
    "NAME": str(s.DATABASES["default"]["NAME"]),
    "HOST": s.DATABASES["default"].get("HOST", ""),
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "DATA_DIR": str(s.DATA_DIR),
    "SITE_URL": s.SITE_URL,
}))
"""

CONTROLLED = {"TENOHIRA_DEMO", "DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "TENOHIRA_DATA_DIR", "DJANGO_SETTINGS_MODULE",
              "SITE_URL"}


def load_settings(data_dir, **env) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    environment["TENOHIRA_DATA_DIR"] = str(data_dir)
    environment.update(env)
    completed = subprocess.run([sys.executable, "-c", PRINT_SETTINGS], env=environment,
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_debug_is_off_by_default(tmp_path):
    loaded = load_settings(tmp_path)
    assert loaded["DEBUG"] is False
    assert loaded["DEMO"] is False


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_the_demo_never_shows_debug_pages_either(tmp_path, value):
    # Residents trying the demo get the Japanese error pages, not Django's debug page.
    loaded = load_settings(tmp_path, TENOHIRA_DEMO=value)
    assert loaded["DEBUG"] is False
    assert loaded["DEMO"] is True


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_debug_stays_off_when_the_demo_flag_is_off(tmp_path, value):
    loaded = load_settings(tmp_path, TENOHIRA_DEMO=value)
    assert loaded["DEBUG"] is False
    assert loaded["DEMO"] is False


def test_embedded_default_is_sqlite_in_the_data_directory(tmp_path):
    loaded = load_settings(tmp_path)
    assert loaded["ENGINE"] == "django.db.backends.sqlite3"
    assert loaded["NAME"] == str(tmp_path / "tenohira.sqlite3")
    assert loaded["DATA_DIR"] == str(tmp_path)


def test_database_url_picks_postgresql(tmp_path):
    loaded = load_settings(tmp_path, DATABASE_URL="postgres://tenohira@db.example:5432/tenohira_prod")
    assert loaded["ENGINE"] == "django.db.backends.postgresql"
    assert loaded["NAME"] == "tenohira_prod"
    assert loaded["HOST"] == "db.example"


def test_allowed_hosts_from_the_environment(tmp_path):
    assert load_settings(tmp_path)["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"]
    loaded = load_settings(tmp_path, ALLOWED_HOSTS="city.example.jp, www.city.example.jp")
    assert loaded["ALLOWED_HOSTS"] == ["city.example.jp", "www.city.example.jp"]


def test_site_url_has_no_stale_default(tmp_path):
    # Unset, links follow the address each request came to (tests/platform/test_site_url.py).
    assert load_settings(tmp_path)["SITE_URL"] == ""
    assert load_settings(tmp_path, SITE_URL="https://tetsuzuki.example.lg.jp")["SITE_URL"] == "https://tetsuzuki.example.lg.jp"


def test_secret_key_from_the_environment_is_used_and_no_key_file_is_written(tmp_path):
    loaded = load_settings(tmp_path, SECRET_KEY="a-key-from-the-environment-0123456789")
    assert loaded["SECRET_KEY"] == "a-key-from-the-environment-0123456789"
    assert not (tmp_path / "secret_key").exists()


def test_without_a_secret_key_one_is_generated_once_kept_private_and_reused(tmp_path):
    first = load_settings(tmp_path)
    key_file = tmp_path / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first["SECRET_KEY"]) >= 50

    second = load_settings(tmp_path)
    assert second["SECRET_KEY"] == first["SECRET_KEY"]

    elsewhere = load_settings(tmp_path / "another")
    assert elsewhere["SECRET_KEY"] != first["SECRET_KEY"]


def test_demo_keeps_its_own_data_directory(tmp_path):
    home = tmp_path / "home"
    environment = {"HOME": str(home), "XDG_DATA_HOME": ""}
    # Without TENOHIRA_DATA_DIR the demo and a real installation must not share data.
    real = _load_without_data_dir(environment)
    demo = _load_without_data_dir({**environment, "TENOHIRA_DEMO": "1"})
    assert real["DATA_DIR"] == str(home / ".local" / "share" / "tenohira")
    assert demo["DATA_DIR"] == str(home / ".local" / "share" / "tenohira-demo")


def _load_without_data_dir(env: dict) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in CONTROLLED | {"XDG_DATA_HOME"}}
    environment.update(env)
    completed = subprocess.run([sys.executable, "-c", PRINT_SETTINGS], env=environment,
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_the_test_run_itself_is_not_in_debug(settings):
    assert settings.DEBUG is False
