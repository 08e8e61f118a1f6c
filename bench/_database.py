"""What the PostgreSQL benchmarks share: a throwaway database and Django set up on it.

A benchmark's database is created empty and dropped afterwards, so its name must start
with tenohira_bench: no other database can be dropped by mistake.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def with_dbname(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/" + name))


def create_database(url: str):
    """(Re)create the database of `url`; returns a function that drops it."""
    import psycopg
    from psycopg import sql

    name = urlparse(url).path.lstrip("/")
    if not name.startswith("tenohira_bench"):
        sys.exit(f"the database name must start with tenohira_bench (it is dropped): {name}")
    admin_url = with_dbname(url, "postgres")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop():
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        print(f"dropped database {name}")

    return drop


def setup_django(data_dir: str, db_url: str) -> None:
    os.environ["TENOHIRA_DATA_DIR"] = str(data_dir)
    os.environ["DATABASE_URL"] = db_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tenohira.config.settings"
    os.environ.pop("TENOHIRA_DEMO", None)
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
