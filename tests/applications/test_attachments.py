"""Attachments: the type is read from the content, size limits per field, storage outside
the web root under random names, removal, and the clamd virus-scan hook."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import stat
import struct
import tempfile
import threading
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from tenohira.applications.models import Attachment, Draft

# Minimal files with real signatures, as phones and scanners write them.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x11" * 300 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00" + b"\x22" * 100
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x33" * 200
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"This program cannot be run in DOS mode." + b"\x00" * 200
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

FORM = {
    "title": "添付のテスト",
    "steps": [
        {
            "key": "docs",
            "title": "書類",
            "fields": [
                {"key": "note", "type": "text", "label": "メモ", "required": True},
                {"key": "photo", "type": "file", "label": "本人確認書類", "required": True, "max_size_mb": 1,
                 "max_files": 3},
            ],
        },
        {"key": "end", "title": "おわり", "fields": [{"key": "ok", "type": "consent", "label": "同意", "required": True}]},
    ],
}


@pytest.fixture
def upload_form(publish_form):
    return publish_form(FORM, code="ATT")


@pytest.fixture
def started(upload_form, flow, browser):
    """(browser, draft public id) on the attachment page."""
    return browser, flow.start(browser, "ATT")


@pytest.fixture
def private_media(settings, tmp_path):
    """A media directory of this test alone, for tests that assert nothing was written
    (the shared data directory also receives other test workers' files)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def storage_root() -> Path:
    return Path(django_settings.MEDIA_ROOT) / "attachments"


def stored_files() -> set[Path]:
    root = storage_root()
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def post_upload(browser, public_id, upload, *, note="書類を添付します", action="continue"):
    return browser.post(f"/apply/{public_id}/docs/", {"action": action, "note": note, "photo": upload})


def test_attachments_live_in_the_data_directory_outside_the_web_root():
    data_dir = Path(os.environ.get("TENOHIRA_DATA_DIR") or django_settings.DATA_DIR).resolve()
    assert Path(django_settings.MEDIA_ROOT).resolve() == data_dir / "media"
    assert not str(storage_root().resolve()).startswith(str(Path(django_settings.STATIC_ROOT).resolve()))


def test_a_renamed_executable_is_refused_and_the_typing_is_kept(private_media, started):
    browser, public_id = started
    response = post_upload(browser, public_id, SimpleUploadedFile("photo.jpg", EXE, content_type="image/jpeg"),
                           note="運転免許証の写真です")
    assert response.status_code == 400
    html = response.content.decode()
    assert "本人確認書類: 「photo.jpg」はプログラム（実行ファイル）なので添付できません。" in html
    assert "JPEG 画像・PNG 画像・HEIC 画像（iPhone の写真）・PDFを選んでください" in html
    assert 'value="運転免許証の写真です"' in html
    # The summary links to the file input, and the message by the field is read out with it.
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S).group(0)
    assert set(re.findall(r'href="#([^"]+)"', summary)) == {"f-photo"}
    assert 'id="f-photo"' in html
    described = {i for value in re.findall(r'aria-describedby="([^"]*)"', html) for i in value.split()}
    assert set(re.findall(r'class="error-message" id="([^"]+)"', html)) <= described
    assert not Attachment.objects.exists()
    assert stored_files() == set()
    draft = Draft.objects.get(public_id=public_id)
    assert draft.raw["docs"]["note"] == ["運転免許証の写真です"]
    assert draft.raw["docs"].get("photo", []) == []


def test_a_file_of_an_unknown_kind_is_refused_by_content_not_name(started):
    browser, public_id = started
    response = post_upload(browser, public_id, SimpleUploadedFile("scan.pdf", b"PK\x03\x04 a zip, not a pdf"))
    assert response.status_code == 400
    assert "「scan.pdf」は添付できる種類のファイルではありません。" in response.content.decode()
    assert not Attachment.objects.exists()


def test_a_file_of_a_kind_the_field_does_not_accept_is_refused(publish_form, flow, browser):
    only_pdf = {**FORM, "steps": [{**FORM["steps"][0], "fields": [
        FORM["steps"][0]["fields"][0], {**FORM["steps"][0]["fields"][1], "accept": ["pdf"]},
    ]}, FORM["steps"][1]]}
    publish_form(only_pdf, code="PDF")
    public_id = flow.start(browser, "PDF")
    response = post_upload(browser, public_id, SimpleUploadedFile("photo.jpg", JPEG))
    assert response.status_code == 400
    assert "「photo.jpg」はJPEG 画像です。この項目にはPDFを選んでください。" in response.content.decode()


def test_an_oversized_file_is_refused_with_the_limit_in_the_message(private_media, started):
    browser, public_id = started
    big = JPEG + b"\x00" * (1024 * 1024)  # just over the field's 1 MB
    response = post_upload(browser, public_id, SimpleUploadedFile("big_photo.jpg", big), note="大きい写真")
    assert response.status_code == 400
    html = response.content.decode()
    assert "本人確認書類: 「big_photo.jpg」は大きすぎます。1 MB 以下のファイルを選んでください。" in html
    assert 'value="大きい写真"' in html
    assert not Attachment.objects.exists()
    assert stored_files() == set()


def test_an_upload_spooled_to_disk_is_checked_the_same_way(publish_form, flow, browser):
    """Above FILE_UPLOAD_MAX_MEMORY_SIZE Django writes the upload to a temporary file."""
    two_mb = {**FORM, "steps": [{**FORM["steps"][0], "fields": [
        FORM["steps"][0]["fields"][0], {**FORM["steps"][0]["fields"][1], "max_size_mb": 2},
    ]}, FORM["steps"][1]]}
    publish_form(two_mb, code="BIG")
    public_id = flow.start(browser, "BIG")
    size = 3 * 1024 * 1024
    assert size > django_settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    response = post_upload(browser, public_id, SimpleUploadedFile("scan.pdf", PDF + b"\x00" * (size - len(PDF))))
    assert response.status_code == 400
    assert "「scan.pdf」は大きすぎます。2 MB 以下のファイルを選んでください。" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("IMG_0001.JPG", JPEG, "image/jpeg"),
        ("screenshot.png", PNG, "image/png"),
        ("就労証明書.pdf", PDF, "application/pdf"),
        ("IMG_0002.HEIC", HEIC, "image/heic"),
    ],
)
def test_phone_photos_and_pdf_are_stored_privately_under_random_names(started, name, content, content_type):
    browser, public_id = started
    response = post_upload(browser, public_id, SimpleUploadedFile(name, content, content_type="application/octet-stream"))
    assert response.status_code == 302 and response["Location"] == f"/apply/{public_id}/end/"

    attachment = Attachment.objects.get()
    assert attachment.original_name == name
    assert attachment.content_type == content_type
    assert attachment.size == len(content)
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert attachment.scan == "skipped"
    assert attachment.field_path == "photo"
    assert Path(name).stem not in attachment.stored_name and name not in attachment.stored_name

    path = storage_root() / attachment.stored_name
    assert path.read_bytes() == content
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.resolve().is_relative_to(Path(django_settings.DATA_DIR).resolve() / "media" / "attachments")
    assert Draft.objects.get(public_id=public_id).raw["docs"]["photo"] == [attachment.token]


def test_stored_names_are_random(started):
    browser, public_id = started
    for _ in range(2):
        post_upload(browser, public_id, SimpleUploadedFile("photo.jpg", JPEG), action="upload")
    first, second = Attachment.objects.order_by("pk")
    assert first.stored_name != second.stored_name and first.token != second.token
    assert len(first.stored_name.rsplit("/", 1)[1]) == 40


def test_an_attached_file_stays_attached_when_the_page_has_other_errors(started):
    browser, public_id = started
    response = post_upload(browser, public_id, SimpleUploadedFile("photo.jpg", JPEG), note="")
    assert response.status_code == 400
    html = response.content.decode()
    assert "メモを入力してください。" in html
    attachment = Attachment.objects.get()
    assert f'value="{attachment.token}"' in html and "photo.jpg" in html

    # The page is sent again with the token the page carries: still one file, now complete.
    response = browser.post(f"/apply/{public_id}/docs/", {"action": "continue", "note": "メモ", "photo": attachment.token})
    assert response.status_code == 302
    assert Draft.objects.get(public_id=public_id).raw["docs"]["photo"] == [attachment.token]


def test_a_token_of_another_draft_is_not_taken_over(upload_form, flow):
    owner, other = flow.client(), flow.client()
    mine = flow.start(owner, "ATT")
    post_upload(owner, mine, SimpleUploadedFile("mine.jpg", JPEG), action="upload")
    token = Attachment.objects.get().token
    theirs = flow.start(other, "ATT")
    response = other.post(f"/apply/{theirs}/docs/", {"action": "continue", "note": "x", "photo": token})
    assert response.status_code == 400
    assert "本人確認書類を添付してください。" in response.content.decode()
    assert "mine.jpg" not in response.content.decode()
    other_draft = Draft.objects.get(public_id=theirs)
    assert not other_draft.attachments.exists()
    assert other_draft.raw["docs"]["photo"] == []
    assert Attachment.objects.get().draft.public_id == Draft.objects.get(public_id=mine).public_id


def test_a_made_up_token_does_not_count_as_an_attached_file(started):
    browser, public_id = started
    response = browser.post(f"/apply/{public_id}/docs/", {"action": "continue", "note": "x", "photo": "made-up"})
    assert response.status_code == 400
    assert "本人確認書類を添付してください。" in response.content.decode()
    assert Draft.objects.get(public_id=public_id).raw["docs"]["photo"] == []


def test_removing_an_attachment_deletes_its_file(started):
    browser, public_id = started
    post_upload(browser, public_id, SimpleUploadedFile("photo.jpg", JPEG), action="upload")
    attachment = Attachment.objects.get()
    path = storage_root() / attachment.stored_name
    assert path.exists()

    response = browser.post(f"/apply/{public_id}/docs/", {
        "action": f"remove_file:{attachment.token}", "note": "書類", "photo": attachment.token,
    })
    assert response.status_code == 200
    assert not path.exists()
    assert not Attachment.objects.exists()
    assert Draft.objects.get(public_id=public_id).raw["docs"].get("photo", []) == []
    assert 'value="書類"' in response.content.decode()


# --- the virus-scan hook -------------------------------------------------------------------


class FakeClamd:
    """A clamd speaking zINSTREAM on a Unix socket: chunks of <4-byte length><data> until a
    zero-length chunk, then "stream: OK\\0" or "stream: Eicar-Test-Signature FOUND\\0"."""

    def __init__(self):
        # AF_UNIX paths are limited to ~108 bytes: keep it short (not under tmp_path).
        self.directory = tempfile.mkdtemp(prefix="clamd-")
        self.path = os.path.join(self.directory, "clamd.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(5)
        self.received: list[bytes] = []
        self.commands: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _read(conn, size: int) -> bytes:
        data = b""
        while len(data) < size:
            part = conn.recv(size - len(data))
            if not part:
                raise ConnectionError("client went away")
            data += part
        return data

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:  # closed by stop()
                return
            with conn:
                self.commands.append(self._read(conn, len(b"zINSTREAM\0")))
                stream = b""
                while True:
                    (length,) = struct.unpack("!L", self._read(conn, 4))
                    if length == 0:
                        break
                    stream += self._read(conn, length)
                self.received.append(stream)
                found = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in stream
                conn.sendall(b"stream: Eicar-Test-Signature FOUND\0" if found else b"stream: OK\0")

    def stop(self):
        self.server.close()
        self.thread.join(timeout=5)
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def clamd(settings):
    server = FakeClamd()
    settings.CLAMD_SOCKET = server.path
    yield server
    server.stop()


def test_clamd_ok_marks_the_file_clean(started, clamd):
    browser, public_id = started
    response = post_upload(browser, public_id, SimpleUploadedFile("photo.jpg", JPEG))
    assert response.status_code == 302
    attachment = Attachment.objects.get()
    assert attachment.scan == "clean"
    assert clamd.commands == [b"zINSTREAM\0"]
    assert clamd.received == [JPEG]


def test_clamd_found_rejects_the_file_and_deletes_it(private_media, started, clamd):
    browser, public_id = started
    infected = JPEG[:20] + EICAR + JPEG[20:]
    response = post_upload(browser, public_id, SimpleUploadedFile("infected.jpg", infected), note="ウイルス入り")
    assert response.status_code == 400
    html = response.content.decode()
    assert "本人確認書類: 「infected.jpg」からウイルスが見つかったため、受け付けられません。" in html
    assert 'value="ウイルス入り"' in html
    assert clamd.received == [infected]
    assert not Attachment.objects.exists()
    assert stored_files() == set()


def test_without_a_scanner_the_scan_is_skipped_with_a_warning(started, settings, caplog):
    settings.CLAMD_SOCKET = ""
    settings.CLAMD_HOST = ""
    browser, public_id = started
    with caplog.at_level(logging.WARNING, logger="tenohira.applications.attachments"):
        response = post_upload(browser, public_id, SimpleUploadedFile("photo.jpg", JPEG))
    assert response.status_code == 302
    attachment = Attachment.objects.get()
    assert attachment.scan == "skipped"
    warnings = [r for r in caplog.records if r.name == "tenohira.applications.attachments" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "without a virus scan" in warnings[0].getMessage()
    assert attachment.stored_name.rsplit("/", 1)[1] in warnings[0].getMessage()


# --- limits enforced while the body streams -------------------------------------------------


@pytest.fixture
def received(monkeypatch):
    """What Django's own upload handlers (memory, temporary file) were given: the most
    bytes of each file, by file name. They store whatever reaches them."""
    from django.core.files import uploadhandler

    seen: dict[str, int] = {}
    for cls in (uploadhandler.MemoryFileUploadHandler, uploadhandler.TemporaryFileUploadHandler):
        original = cls.receive_data_chunk

        def spy(self, raw_data, start, original=original):
            seen[self.file_name] = max(seen.get(self.file_name, 0), start + len(raw_data))
            return original(self, raw_data, start)

        monkeypatch.setattr(cls, "receive_data_chunk", spy)
    return seen


def big_form(publish_form, flow, browser, code="BIG"):
    two_mb = {**FORM, "steps": [{**FORM["steps"][0], "fields": [
        FORM["steps"][0]["fields"][0], {**FORM["steps"][0]["fields"][1], "max_size_mb": 2},
    ]}, FORM["steps"][1]]}
    publish_form(two_mb, code=code)
    return flow.start(browser, code)


def test_an_oversized_file_is_refused_before_the_body_is_stored(private_media, publish_form, flow, browser, received):
    public_id = big_form(publish_form, flow, browser)
    size = 8 * 1024 * 1024
    response = post_upload(browser, public_id, SimpleUploadedFile("scan.pdf", PDF + b"\x00" * (size - len(PDF))),
                           note="大きいスキャン")
    assert response.status_code == 400
    html = response.content.decode()
    assert "本人確認書類: 「scan.pdf」は大きすぎます。2 MB 以下のファイルを選んでください。" in html
    assert 'value="大きいスキャン"' in html
    # The temporary file never held more than the field's limit (plus at most one chunk).
    assert 0 < received["scan.pdf"] <= 2 * 1024 * 1024
    assert not Attachment.objects.exists() and stored_files() == set()
    assert Draft.objects.get(public_id=public_id).raw["docs"]["note"] == ["大きいスキャン"]


def test_files_past_max_files_are_not_read_into_storage(private_media, started, received):
    browser, public_id = started
    photos = [SimpleUploadedFile(f"photo{i}.jpg", JPEG) for i in range(5)]
    response = post_upload(browser, public_id, photos)
    assert response.status_code == 400
    assert "本人確認書類は3ファイルまで添付できます。" in response.content.decode()
    assert set(received) == {"photo0.jpg", "photo1.jpg", "photo2.jpg"}
    assert Attachment.objects.count() == 3


def test_a_file_under_a_name_the_page_does_not_have_is_never_stored(private_media, started, received):
    browser, public_id = started
    response = browser.post(f"/apply/{public_id}/docs/", {
        "action": "continue", "note": "メモ", "photo": SimpleUploadedFile("photo.jpg", JPEG),
        "extra": SimpleUploadedFile("extra.jpg", JPEG), "ok": SimpleUploadedFile("ok.jpg", JPEG),
    })
    assert response.status_code == 302
    assert set(received) == {"photo.jpg"}
    assert Attachment.objects.count() == 1


def test_a_request_larger_than_the_site_maximum_gets_a_413_page(private_media, started, settings, received):
    settings.UPLOAD_MAX_REQUEST_MB = 1
    browser, public_id = started
    big = SimpleUploadedFile("photo.jpg", JPEG + b"\x00" * (2 * 1024 * 1024))
    response = post_upload(browser, public_id, big, note="送られない")
    assert response.status_code == 413
    html = response.content.decode()
    assert "送信された内容が大きすぎます" in html and "合計 1 MB まで" in html
    assert received == {}
    assert "docs" not in Draft.objects.get(public_id=public_id).raw


def test_too_much_form_data_gets_the_413_page_too(started, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    browser, public_id = started
    response = browser.post(f"/apply/{public_id}/docs/", {"action": "continue", "note": "あ" * 2000})
    assert response.status_code == 413
    assert "送信された内容が大きすぎます" in response.content.decode()
