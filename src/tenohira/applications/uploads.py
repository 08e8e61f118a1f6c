"""Upload limits enforced while the request body streams in.

Django writes every uploaded file to memory or a temporary file before a view sees it,
so a size or count checked in the view comes after the whole body was read and stored.
`LimitedUploadHandler` sits first among the upload handlers and counts bytes as they
arrive: a file past its limit is skipped (the handlers after it never receive the bytes
past the limit, and its temporary file is removed), a file input the page does not have is
never stored at all, and a body larger than the site's maximum is not read.

The resident pages that take files (`bounded_uploads`) tell the handler the limits of
the fields on the page and show what it refused as messages by the field, keeping what
was typed; a request too large as a whole gets a page in Japanese with status 413.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.http import QueryDict
from django.shortcuts import render
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt, csrf_protect

MB = 1024 * 1024


@dataclass(frozen=True)
class FileLimit:
    label: str
    max_bytes: int
    max_files: int


def site_max_file_bytes() -> int:
    return int(getattr(settings, "UPLOAD_MAX_FILE_MB", 20) * MB)


def site_max_request_bytes() -> int:
    return int(getattr(settings, "UPLOAD_MAX_REQUEST_MB", 60) * MB)


def site_max_files() -> int:
    return int(getattr(settings, "UPLOAD_MAX_FILES_PER_REQUEST", 20))


class LimitedUploadHandler(FileUploadHandler):
    """Counts the bytes and files of a multipart body as it streams (see the module)."""

    def __init__(self, request=None):
        super().__init__(request)
        #: input name → limit; None means any input, under the site's limits only
        self.limits: Callable[[str], FileLimit | None] | None = None
        self.refused: list[tuple[str, str]] = []  # (input name, message for the resident)
        self.too_large = False
        self._per_input: Counter[str] = Counter()
        self._files = 0
        self._total = 0
        self._limit: FileLimit | None = None
        self._skip = False
        self._size = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > site_max_request_bytes():
            # Not read at all: the view answers 413 from an empty POST.
            self.too_large = True
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        # A file refused here is skipped at its first chunk, not by raising now: Django
        # closes every handler's current file on a skip, and before the handlers after
        # this one have started the new file that is still the previous, accepted one.
        self._skip = False
        self._size = 0
        site = FileLimit("", site_max_file_bytes(), site_max_files())
        limit = site if self.limits is None else self.limits(field_name)
        if limit is None or not file_name:
            self._skip = True  # not a file input of this page, or no file chosen
            return
        self._limit = FileLimit(limit.label, min(limit.max_bytes, site.max_bytes), limit.max_files)
        self._per_input[field_name] += 1
        self._files += 1
        if self._per_input[field_name] > limit.max_files or self._files > site.max_files:
            self._refuse(f"{limit.label}は{limit.max_files}ファイルまで添付できます。" if limit.label
                         else f"一度に添付できるのは{site.max_files}ファイルまでです。")
            self._skip = True

    def receive_data_chunk(self, raw_data, start):
        if self._skip:
            raise SkipFile()
        self._size += len(raw_data)
        self._total += len(raw_data)
        if self._total > site_max_request_bytes():
            self.too_large = True
            raise StopUpload(connection_reset=True)
        if self._size > self._limit.max_bytes:
            megabytes = f"{self._limit.max_bytes / MB:g}"
            name = (self.file_name or "")[:200]
            prefix = f"{self._limit.label}: " if self._limit.label else ""
            self._refuse(f"{prefix}「{name}」は大きすぎます。{megabytes} MB 以下のファイルを選んでください。")
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler (memory or temporary file) makes the file

    def _refuse(self, message: str) -> None:
        if (self.field_name, message) not in self.refused:
            self.refused.append((self.field_name, message))


def handler_of(request) -> LimitedUploadHandler | None:
    return next((h for h in request.upload_handlers if isinstance(h, LimitedUploadHandler)), None)


def refused(request) -> list[tuple[str, str]]:
    """(input name, message) of each file the handler did not take in this request."""
    handler = getattr(request, "_limited_upload_handler", None)
    return list(handler.refused) if handler is not None else []


def too_large_page(request):
    limit = f"{site_max_request_bytes() / MB:g}"
    return render(request, "applications/too_large.html", {"limit_mb": limit}, status=413)


def bounded_uploads(limits_for: Callable[..., Callable[[str], FileLimit | None]]):
    """Decorate a view that takes files: `limits_for(request, *args, **kwargs)` returns
    the page's limits by input name. The CSRF check runs after the handler is set up
    (it reads the body, and the handler must be in place before anything does)."""

    def decorate(view):
        protected = csrf_protect(view)

        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method == "POST":
                handler = handler_of(request)
                if handler is None:
                    handler = LimitedUploadHandler(request)
                    request.upload_handlers.insert(0, handler)
                if request.content_type == "multipart/form-data":
                    handler.limits = limits_for(request, *args, **kwargs)
                request._limited_upload_handler = handler
                try:
                    request.POST  # noqa: B018 (parse now, under the limits)
                except (RequestDataTooBig, TooManyFieldsSent):
                    return too_large_page(request)
                if handler.too_large:
                    return too_large_page(request)
            return protected(request, *args, **kwargs)

        return wrapper

    return decorate


def file_limits(fields: dict) -> Callable[[str], FileLimit | None]:
    """Limits by input name for file fields of a schema's field map (`key`, or
    `group-row-key` inside a repeating group)."""

    def limit_for(name: str) -> FileLimit | None:
        parts = name.split("-")
        field = fields.get(f"{parts[0]}.{parts[2]}") if len(parts) == 3 else fields.get(name)
        if field is None or field.type != "file":
            return None
        return FileLimit(field.label, int(field.option("max_size_mb", 10) * MB), field.option("max_files", 5))

    return limit_for


def _no_files(name: str) -> None:
    return None


def step_limits(request, public_id, step_key: str):
    """The file fields of a draft's step; none when the draft cannot be found."""
    from django.http import Http404

    from tenohira.applications import selectors

    try:
        draft = selectors.get_draft(public_id)
    except Http404:  # the view itself answers for a missing draft
        return _no_files
    schema = draft.form_version.parsed()
    step = schema.step(step_key)
    if step is None:
        return _no_files
    fields = {k: f for k, f in schema.field_map().items() if k.split(".", 1)[0] in {f.key for f in step.fields}}
    return file_limits(fields)


def correction_limits(request, token: str):
    """The file fields of an open correction's steps (staff decide which)."""
    from tenohira.applications import services

    correction = services.open_correction(token)
    if correction is None:
        return _no_files
    keys = {f.key for step in services.correction_steps(correction) for f in step.fields}
    schema = correction.submission.form_version.parsed()
    return file_limits({k: f for k, f in schema.field_map().items() if k.split(".", 1)[0] in keys})
