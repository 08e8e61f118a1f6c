"""Attachments on an S3-compatible object store (ATTACHMENTS_STORAGE=s3): a resident's
upload goes to the bucket, never to a local directory; staff download it from there;
deleting and purging remove the object. The store is a real server process speaking S3."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tenohira.applications import attachments as files
from tenohira.applications.models import Attachment
from tests.support.s3 import CREDENTIALS, s3_server

BUCKET = "tenohira-attachments"


@pytest.fixture(scope="module")
def server():
    with s3_server() as running:
        yield running


@pytest.fixture
def object_store(server, monkeypatch, tmp_path, settings):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    client = server.client()
    bucket = f"{BUCKET}-{tmp_path.name.lower().replace('_', '-')}"[:63]
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
    local = tmp_path / "local-attachments"
    settings.ATTACHMENTS_DIR = str(local)
    settings.ATTACHMENTS_STORAGE = "s3"
    settings.ATTACHMENTS_S3 = {
        "bucket_name": bucket, "endpoint_url": server.endpoint, "region_name": "ap-northeast-1",
        "location": "attachments", "server_side_encryption": "AES256",
    }
    yield client, bucket, local


def keys(client, bucket) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_an_upload_goes_to_the_bucket_and_staff_download_it_from_there(object_store, staff, staff_client,
                                                                        make_submission, pdf_bytes):
    client, bucket, local = object_store
    submission = make_submission(attachment=("住民票の写し.pdf", pdf_bytes))
    attachment = submission.attachments.get()
    assert keys(client, bucket) == [f"attachments/{attachment.stored_name}"]
    head = client.head_object(Bucket=bucket, Key=f"attachments/{attachment.stored_name}")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == len(pdf_bytes)
    # Nothing of the resident's file is left on the node's disk.
    assert not local.exists() or not any(p.is_file() for p in local.rglob("*"))

    response = staff_client(staff.handler).get(
        f"/staff/submissions/{submission.receipt_number}/attachments/{attachment.pk}/"
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == pdf_bytes
    assert "no-store" in response["Cache-Control"]


def test_a_missing_object_is_a_missing_file(object_store, staff, staff_client, make_submission, pdf_bytes):
    client, bucket, _local = object_store
    submission = make_submission(attachment=("a.pdf", pdf_bytes))
    attachment = submission.attachments.get()
    client.delete_object(Bucket=bucket, Key=f"attachments/{attachment.stored_name}")
    with pytest.raises(FileNotFoundError):
        files.open_stored(attachment.stored_name)
    assert files.stored_size(attachment.stored_name) is None
    response = staff_client(staff.handler).get(
        f"/staff/submissions/{submission.receipt_number}/attachments/{attachment.pk}/"
    )
    assert response.status_code == 404


def test_save_size_and_delete(object_store):
    client, bucket, _local = object_store
    name = files.save_stored(b"bundle attachment")
    assert files.stored_size(name) == len(b"bundle attachment")
    with files.open_stored(name) as fh:
        assert fh.read() == b"bundle attachment"
    files.delete_stored(name)
    assert keys(client, bucket) == []
    files.delete_stored(name)  # deleting twice is harmless


def test_a_wrong_storage_setting_is_refused():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "tenohira.config.settings",
             "ATTACHMENTS_STORAGE": "s3", "ATTACHMENTS_S3_BUCKET": ""},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0 and "ATTACHMENTS_S3_BUCKET" in result.stderr


@override_settings(ATTACHMENTS_STORAGE="directory")
def test_the_directory_store_is_unchanged(tmp_path, settings):
    settings.ATTACHMENTS_DIR = str(tmp_path)
    name = files.save_stored(b"x")
    assert (tmp_path / name).read_bytes() == b"x"
    assert Attachment  # the model is the same whichever store holds the bytes
