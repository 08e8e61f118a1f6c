"""Shared fixtures. Tests run on the database DATABASE_URL names (SQLite when unset)."""

import pytest


@pytest.fixture
def sample_catalog(db):
    """The demo city's catalog, imported through the real importer."""
    from tenohira.catalog.management.commands.demo import DEMO_CATALOG
    from tenohira.catalog.services import import_catalog

    return import_catalog(DEMO_CATALOG)

