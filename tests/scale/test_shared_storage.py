"""Attachments on shared storage: ATTACHMENTS_DIR names the directory every node mounts."""

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from tenohira.applications import attachments

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def test_attachments_go_to_the_configured_shared_directory(settings, tmp_path):
    settings.ATTACHMENTS_DIR = str(tmp_path / "shared")
    settings.MEDIA_ROOT = str(tmp_path / "node-media")
    stored = attachments.accept_upload(SimpleUploadedFile("申請書.pdf", PDF), accept=["pdf"], max_size_mb=1,
                                       label="添付書類")
    path = tmp_path / "shared" / stored.stored_name
    assert path.read_bytes() == PDF
    assert not (tmp_path / "node-media").exists()
    with attachments.open_stored(stored.stored_name) as fh:
        assert fh.read() == PDF


def test_without_the_setting_attachments_stay_in_the_media_directory(settings, tmp_path):
    settings.ATTACHMENTS_DIR = ""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    assert attachments.storage_dir() == Path(tmp_path / "media" / "attachments")
