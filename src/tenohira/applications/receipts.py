"""受付番号: receipt numbers unique under concurrency, in a configurable format.

Default format `{fiscal_year}-{code}-{sequence:06d}` gives 2024-HJC-000123: the fiscal
year of the submission (JST), the procedure's 手続ID and a sequence per procedure and
fiscal year. The sequence comes from one atomic INSERT … ON CONFLICT DO UPDATE … RETURNING
statement, which both PostgreSQL and SQLite run without a race.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import connection

from tenohira.applications.models import ReceiptCounter
from tenohira.core.fiscal import fiscal_year

DEFAULT_FORMAT = "{fiscal_year}-{code}-{sequence:06d}"
# No 0/O, 1/I/L: a resident reads the status code from a screen or paper and types it.
_SECRET_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # noqa: S105 (an alphabet, not a secret)


def next_sequence(code: str, year: int) -> int:
    table = ReceiptCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (procedure_code, fiscal_year, last) VALUES (%s, %s, 1) "  # noqa: S608 (table name is ours)
            f"ON CONFLICT (procedure_code, fiscal_year) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [code, year],
        )
        return cursor.fetchone()[0]


def next_receipt_number(code: str, moment: dt.datetime) -> str:
    year = fiscal_year(moment)
    template = getattr(settings, "RECEIPT_NUMBER_FORMAT", DEFAULT_FORMAT)
    return template.format(fiscal_year=year, code=code, sequence=next_sequence(code, year))


def new_status_secret() -> str:
    """12 characters shown as XXXX-XXXX-XXXX (about 59 bits)."""
    raw = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalise_secret(text: str) -> str:
    from tenohira.core.text import fold_width

    value = fold_width(text or "").upper().replace("-", "").replace(" ", "")
    return f"{value[:4]}-{value[4:8]}-{value[8:]}" if len(value) == 12 else value
