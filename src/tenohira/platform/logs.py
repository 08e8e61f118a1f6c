"""Logs record routes, not secrets or personal data.

A URL can carry a resume or correction token, a counter hand-off code, a draft's UUID, a
postal code a resident typed, or (in the query string) the name a member of staff
searched for. Whoever reads the access or error log (operators, a log collector, a backup)
must not be able to open a resident's draft or learn who applied, so every path written
to a log goes through `route()`: the query string is dropped and secret segments become
"…". The server's access log (gunicorn) and Django's request loggers share it.
"""

from __future__ import annotations

import logging
import re

HIDDEN = "…"
# Segments that follow these words are secrets or personal data whatever they look like.
SECRET_AFTER = frozenset({"resume", "corrections", "handoff", "postal-codes"})
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
# A random token: long, URL-safe, with a digit in it (route words have none).
_TOKEN = re.compile(r"^(?=[^/]*\d)[A-Za-z0-9_\-.~%]{16,}$")
# A path as it appears inside a log line: from a slash to the next space or quote.
_PATH_IN_TEXT = re.compile(r"(?<![\w.:/])/[^\s\"']*")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_IN_TEXT = re.compile(r"(https?://[^/\s\"'?#]+)([^\s\"']*)")


def route(target: str) -> str:
    """The route of a request target: no query string, secret segments hidden."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    segments = path.split("/")
    out = []
    hide_next = False
    for segment in segments:
        if segment and (hide_next or _UUID.match(segment) or _TOKEN.match(segment)):
            out.append(HIDDEN)
        else:
            out.append(segment)
        hide_next = segment.lower() in SECRET_AFTER
    return "/".join(out)


def scrub(text: str) -> str:
    """Every path in a line of text replaced by its route, every e-mail address by "…@…"
    (a mail server's refusal quotes the resident's address)."""
    text = _EMAIL_IN_TEXT.sub("…@…", text)
    text = _URL_IN_TEXT.sub(lambda m: m.group(1) + route(m.group(2)), text)
    return _PATH_IN_TEXT.sub(lambda m: route(m.group(0)), text)


class RouteOnlyFilter(logging.Filter):
    """For django.request and django.server: the message says which route failed, not
    which token, code or search word was in the URL. The record's request object is
    dropped too, so a handler that would print the whole request (GET parameters
    included) has nothing to print."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as it would
            return True
        record.msg, record.args = scrub(message), ()
        if record.exc_info and not record.exc_text:
            # The formatter prints exc_text when it is set: the traceback is scrubbed too.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        if hasattr(record, "request"):
            record.request = None
        return True


def access_logger_class():
    """Gunicorn's logger with the request line, URL and referrer reduced to routes, and its
    error log filtered like Django's."""
    from gunicorn.glogging import Logger

    class RouteOnlyAccessLogger(Logger):
        def setup(self, cfg):
            super().setup(cfg)
            # "Error handling request GET /resume/<token>/?…" and the like.
            self.error_log.addFilter(RouteOnlyFilter())

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            path = route(environ.get("RAW_URI") or environ.get("PATH_INFO") or "")
            atoms["U"] = path
            atoms["q"] = ""
            atoms["r"] = f"{environ.get('REQUEST_METHOD', '-')} {path} {environ.get('SERVER_PROTOCOL', '-')}"
            atoms["f"] = "-"  # the referrer is the previous page's full URL, tokens and all
            return atoms

    return RouteOnlyAccessLogger


# Method, route, status, bytes, seconds: what an operator needs to see load and failures.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'
