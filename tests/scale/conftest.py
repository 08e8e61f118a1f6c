"""What the scale tests share: a PostgreSQL database of the test's own.

The serve nodes and workers are other processes, so they cannot see the test's
transaction: each test gets a database created here and dropped afterwards."""

from __future__ import annotations

import os
from urllib.parse import urlparse, urlunparse

import pytest

DATABASE_URL = os.environ.get("DATABASE_URL", "")


def with_dbname(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/" + name))


@pytest.fixture
def scale_database(request):
    import psycopg
    from psycopg import sql

    name = f"tenohira_scale_{request.node.name[:20].lower()}_{os.getpid()}"
    name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    admin = with_dbname(DATABASE_URL, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield with_dbname(DATABASE_URL, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
