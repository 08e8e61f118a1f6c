"""Files the site writes are 0600 in 0700 folders: mail files, attachments, the data
directory."""

from __future__ import annotations

import io
import stat
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMessage, get_connection

from tenohira.applications import attachments
from tenohira.core.files import PrivateMailFileBackend, open_private, private_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_is_private():
    assert mode(Path(settings.DATA_DIR)) == 0o700
    assert settings.FILE_UPLOAD_PERMISSIONS == 0o600 and settings.FILE_UPLOAD_DIRECTORY_PERMISSIONS == 0o700


def test_mail_files_are_private_whatever_the_umask(tmp_path, monkeypatch):
    import os

    old = os.umask(0o022)  # a service manager or a server option may reset it
    try:
        folder = tmp_path / "mail"
        connection = get_connection(f"{PrivateMailFileBackend.__module__}.PrivateMailFileBackend", file_path=folder)
        EmailMessage("件名", "本文", "noreply@example.jp", ["resident@example.jp"], connection=connection).send()
    finally:
        os.umask(old)
    (written,) = folder.iterdir()
    assert mode(folder) == 0o700 and mode(written) == 0o600
    assert "resident@example.jp" in written.read_text()


def test_the_site_default_mail_backend_is_the_private_one():
    if not getattr(settings, "EMAIL_HOST", ""):
        from importlib import import_module

        from tenohira.config import settings as site_settings

        import_module(site_settings.__name__)
        assert site_settings.EMAIL_BACKEND == "tenohira.core.files.PrivateMailFileBackend"


def test_helpers_narrow_existing_files_and_folders(tmp_path):
    folder = tmp_path / "wide"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    assert mode(private_dir(folder)) == 0o700
    target = folder / "export.csv"
    target.write_text("old")
    target.chmod(0o644)
    with open_private(target, "w") as fh:
        fh.write("new")
    assert mode(target) == 0o600 and target.read_text() == "new"


def test_a_stored_attachment_is_private(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    upload = SimpleUploadedFile("scan.pdf", b"%PDF-1.4\n" + b"x" * 100, content_type="application/pdf")
    stored = attachments.accept_upload(upload, accept=["pdf"], max_size_mb=1, label="書類")
    path = attachments.storage_dir() / stored.stored_name
    assert mode(path) == 0o600
    folder = path.parent
    while folder != tmp_path:
        assert mode(folder) == 0o700, folder
        folder = folder.parent
    assert io.BytesIO(path.read_bytes()).read(4) == b"%PDF"


def test_files_in_an_export_archive_unpack_private():
    from tenohira.backoffice.exports import _entry

    assert _entry("申請一覧.csv").external_attr >> 16 == 0o600
