"""Liveness and readiness probes answer without personal data and say what failed."""

import pytest
from django.test import override_settings


def test_liveness_needs_no_database(client):
    # No django_db mark: any database query here would fail the test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


@pytest.mark.django_db
def test_readiness_asks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


@pytest.mark.django_db
def test_readiness_fails_when_the_broker_does_not_answer(client):
    # Port 9 (discard) on localhost: nothing listens, the connection is refused at once.
    with override_settings(BACKGROUND="celery", CELERY_BROKER_URL="redis://127.0.0.1:9/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "broker": "failed"}}


def test_probes_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
