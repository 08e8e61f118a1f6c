"""Shared fixtures. Tests run on the database DATABASE_URL names (SQLite when unset)."""

import pytest


def pytest_collection_modifyitems(items):
    """Every transactional test restores the database as migrations left it
    (serialized_rollback). A transactional test without it ends with Django's flush, which
    recreates the content types and permissions; a later test with it (the browser tests)
    then loads the same rows again and fails on their unique keys — whenever one ran
    after the other in the same worker."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None and marker.kwargs.get("transaction") and "serialized_rollback" not in marker.kwargs:
            item.add_marker(pytest.mark.django_db(*marker.args, **{**marker.kwargs, "serialized_rollback": True}),
                            append=False)  # first: the closest marker is the one pytest-django reads


@pytest.fixture(autouse=True, scope="session")
def _outbox_delivered_after_commit():
    """Tests read the e-mail a request sends from mail.outbox as soon as the request
    returns, so they run with after-commit delivery; tests/core/test_outbox.py covers the
    production mode, where a delivery worker sends the outbox in batches."""
    from django.test import override_settings

    with override_settings(OUTBOX_DELIVERY="after_commit"):
        yield


@pytest.fixture(autouse=True)
def _audit_anchors_per_test(settings, tmp_path):
    """Audit anchors are written outside the database, so they outlive a test's rollback:
    each test gets its own anchor file, or one test's anchors would name records that the
    next test's database never had."""
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "audit-anchors.jsonl")


@pytest.fixture
def sample_catalog(db):
    """The demo city's catalog, imported through the real importer."""
    from tenohira.catalog.services import import_catalog
    from tenohira.platform.demo import DEMO_CATALOG

    return import_catalog(DEMO_CATALOG)



@pytest.fixture(autouse=True)
def _seed_rows_for_transactional_tests(request):
    """Re-create the rows migration 0002 seeds (life events, synonyms) in transactional
    tests: Django empties every table after such a test, so whichever test runs next in
    the same worker would otherwise find no life events at all."""
    marker = request.node.get_closest_marker("django_db")
    wants_transaction = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if not wants_transaction:
        return
    request.getfixturevalue("_django_db_helper")
    from importlib import import_module

    from django.apps import apps

    import_module("tenohira.catalog.migrations.0002_seed_life_events_and_synonyms").seed(apps, None)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: a value cached by one test (the sections that
    have reservations, for the staff menu) must not answer for the next test's rows."""
    from django.core.cache import cache

    cache.clear()
