"""Expired, never-submitted drafts are deleted with their files; submitted ones stay."""

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from tenohira.applications import attachments, services
from tenohira.applications.models import Attachment, Draft

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200


@pytest.mark.django_db
def test_purge_deletes_expired_drafts_and_their_files(tiny_form):
    version = tiny_form
    old, _ = services.start_draft(version)
    fresh, _ = services.start_draft(version)
    stored = attachments.accept_upload(
        SimpleUploadedFile("photo.jpg", JPEG), accept=["jpeg"], max_size_mb=1, label="写真"
    )
    Attachment.objects.create(
        token=stored.token, draft=old, field_path="photo", stored_name=stored.stored_name,
        original_name="photo.jpg", content_type="image/jpeg", size=stored.size, sha256=stored.sha256,
        scan=stored.scan,
    )
    path = attachments.storage_dir() / stored.stored_name
    assert path.exists()
    Draft.objects.filter(pk=old.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    out = io.StringIO()
    call_command("drafts", "purge", stdout=out)

    assert "1 件" in out.getvalue()
    assert not Draft.objects.filter(pk=old.pk).exists()
    assert Draft.objects.filter(pk=fresh.pk).exists()
    assert not path.exists()
    assert not Attachment.objects.filter(token=stored.token).exists()
