"""Health checks for load balancers and orchestrators.

`/healthz` (liveness) answers from the web process alone: a node whose database is
briefly slow must not be taken out of the pool for it. `/readyz` (readiness) also asks
PostgreSQL, and Redis when background work runs on Celery, each bounded in time, so a
node that cannot serve a resident is not sent any. Neither says anything but "ok" or
which dependency failed: no versions, no addresses, no error texts.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

#: How long a readiness probe waits for each dependency (seconds).
PROBE_TIMEOUT = 2.0


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # A probe must not hang behind a lock or a stuck server.
                cursor.execute("SET LOCAL statement_timeout = %s", [int(PROBE_TIMEOUT * 1000)])
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


def _broker_ok() -> bool:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001
        return False


@never_cache
@require_GET
def readyz(request):
    checks = {"database": _database_ok()}
    if settings.BACKGROUND == "celery":
        checks["broker"] = _broker_ok()
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": {k: "ok" if v else "failed" for k, v in checks.items()}}
    return JsonResponse(body, status=200 if ready else 503)
