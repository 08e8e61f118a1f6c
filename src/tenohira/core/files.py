"""Files the site writes are readable by its own account only.

Mail files (the e-mail backend used when there is no mail server), attachments, exports
and the embedded database hold residents' personal data. The settings set the process's
umask to 077, so whatever is created is 0600 in 0700 folders; the helpers here make that
explicit where a file is written, so it holds even when a wrapper (a service manager, a
server option) resets the umask.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.mail.backends import filebased

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: str | os.PathLike) -> Path:
    """Create `path` (and missing parents) as 0700; an existing one is narrowed to 0700."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if path.stat().st_mode & 0o777 != PRIVATE_DIR:
        path.chmod(PRIVATE_DIR)
    return path


def open_private(path: str | os.PathLike, mode: str = "ab"):
    """Open `path` for writing, creating it as 0600; never widened by the umask and narrowed
    if it existed with wider permissions."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


class PrivateMailFileBackend(filebased.EmailBackend):
    """Django's file e-mail backend, writing 0600 files in a 0700 folder."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        private_dir(self.file_path)

    def open(self):
        if self.stream is None:
            self.stream = open_private(self._get_filename(), "ab")
            return True
        return False
