"""Logs record routes: the access log of a real `tenohira serve` and Django's request
loggers never show a token, a hand-off code, a draft's UUID or a search word."""

from __future__ import annotations

import logging
import signal
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from tenohira.platform.logs import RouteOnlyFilter, route, scrub
from tests.core.test_outbox import start_serve, wait_for

RESUME_TOKEN = "Zq8vN3kPx1LmR7tY2wQe5sUa"
CORRECTION_TOKEN = "c0rr3ct10nT0k3nAbCdEfGh"
HANDOFF_CODE = "K7P2QX"
DRAFT = str(uuid.UUID("6f1c2b9e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"))
SEARCH_WORD = "山田花子"
STATUS_CODE = "7Hk2Pq9Zr4Xw"
SECRETS = [RESUME_TOKEN, CORRECTION_TOKEN, HANDOFF_CODE, DRAFT, STATUS_CODE, "%E5%B1%B1%E7%94%B0", SEARCH_WORD]


def test_route_hides_tokens_codes_uuids_and_the_query_string():
    assert route(f"/resume/{RESUME_TOKEN}/") == "/resume/…/"
    assert route("/corrections/short/done/") == "/corrections/…/done/"
    assert route(f"/backoffice/counter/handoff/{HANDOFF_CODE}/") == "/backoffice/counter/handoff/…/"
    assert route(f"/apply/{DRAFT}/about/") == "/apply/…/about/"
    assert route(f"/backoffice/?q={SEARCH_WORD}&status=received") == "/backoffice/"
    assert route("/api/v1/postal-codes/9630000") == "/api/v1/postal-codes/…"
    # Routes and receipt numbers (no secret: the status page needs the code too) stay readable.
    assert route("/backoffice/submissions/2024-HJC-000123/") == "/backoffice/submissions/2024-HJC-000123/"
    assert route("/procedures/HJC/apply/") == "/procedures/HJC/apply/"
    assert scrub(f'Not Found: https://city.example.jp/resume/{RESUME_TOKEN}/?x=1 "GET /s?q=a HTTP/1.1"') == (
        'Not Found: https://city.example.jp/resume/…/ "GET /s HTTP/1.1"'
    )


def test_the_django_request_filter_rewrites_the_message_and_drops_the_request():
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s",
                               (f"/resume/{RESUME_TOKEN}/",), None)
    record.request = object()
    assert RouteOnlyFilter().filter(record)
    assert record.getMessage() == "Not Found: /resume/…/" and record.request is None


def test_addresses_and_tracebacks_are_scrubbed_too():
    refusal = "{'hanako@example.jp': (550, b'5.1.1 <hanako@example.jp> unknown user')}"
    assert scrub(f"outbox message 5 not sent: {refusal}") == (
        "outbox message 5 not sent: {'…@…': (550, b'5.1.1 <…@…> unknown user')}"
    )
    try:
        raise ValueError(f"bad link /corrections/{CORRECTION_TOKEN}/")
    except ValueError:
        import sys

        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s",
                                   ("/corrections/x/",), sys.exc_info())
    RouteOnlyFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "ValueError: bad link /corrections/…/" in text and CORRECTION_TOKEN not in text


def test_the_servers_error_log_is_filtered_like_djangos():
    from gunicorn.config import Config

    from tenohira.platform.logs import access_logger_class

    log = access_logger_class()(Config())
    assert any(isinstance(f, RouteOnlyFilter) for f in log.error_log.filters)


def fetch(base: str, path: str) -> int:
    try:
        with urllib.request.urlopen(base + path, timeout=30) as response:  # noqa: S310 (our own test server)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.django_db(transaction=True)
def test_the_access_and_error_logs_of_a_real_server_hold_no_secret(tmp_path):
    server = start_serve(tmp_path, "--no-outbox-worker")
    port = int(server.args[server.args.index("--port") + 1])
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    try:
        try:
            wait_for(up, 60, "the server listens")
        except AssertionError:
            server.kill()
            raise AssertionError(server.communicate()[0].decode(errors="replace")[-3000:]) from None
        statuses = [
            fetch(base, f"/resume/{RESUME_TOKEN}/"),
            fetch(base, f"/corrections/{CORRECTION_TOKEN}/"),
            fetch(base, f"/staff/counter/handoff/{HANDOFF_CODE}/"),
            fetch(base, f"/apply/{DRAFT}/about/"),
            fetch(base, "/staff/?q=" + urllib.parse.quote(SEARCH_WORD)),
            fetch(base, f"/status/?receipt=2024-HJC-000001&code={STATUS_CODE}"),
            fetch(base, "/procedures/?q=" + urllib.parse.quote(SEARCH_WORD)),
            fetch(base, f"/no-such-page/{RESUME_TOKEN}/?q=" + urllib.parse.quote(SEARCH_WORD)),
        ]
        assert all(status < 500 for status in statuses), statuses
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    log = output.decode(errors="replace")
    assert '"GET /resume/…/ HTTP/1.1"' in log and '"GET /apply/…/about/ HTTP/1.1"' in log, log[-3000:]
    assert '"GET /staff/ HTTP/1.1"' in log  # the staff queue's search, without its words
    assert "Not Found: /no-such-page/…/" in log  # Django's 404 log names the route too
    for secret in SECRETS:
        assert secret not in log, f"{secret!r} in the server's log:\n{log[-3000:]}"
