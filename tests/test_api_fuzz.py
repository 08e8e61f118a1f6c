"""Schemathesis over the OpenAPI document the site serves: generated requests to every
documented operation (bounded number of examples) never give a 5xx, and every response
matches what the document says (status codes, content types, bodies)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tenohira.config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application, headers={"Host": "localhost"})


@pytest.fixture(autouse=True)
def _catalog(sample_catalog):
    """The demo catalog: searches and pages find something."""


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The requests go through the real WSGI application, whose end-of-request signal
    closes the database connection; the test's transaction must outlive each request
    (Django's test client disconnects the same handler)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case):
    case.call_and_validate(headers={"Host": "localhost"})
