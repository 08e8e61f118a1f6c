"""Attachments: checked by content, scanned, stored outside the web root.

The type is read from the file's first bytes, never from its name: a renamed program
(setup.exe → photo.jpg) is refused. Files go to <data dir>/media/attachments/ (or
ATTACHMENTS_DIR, the storage every node shares) under random names; the web server never
serves that directory, only the application does, after checking who asks.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import socket
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.utils import timezone

logger = logging.getLogger(__name__)

# Type name → (label for residents, MIME type). What a field's `accept` may name.
KNOWN_TYPES = {
    "jpeg": ("JPEG 画像", "image/jpeg"),
    "png": ("PNG 画像", "image/png"),
    "heic": ("HEIC 画像（iPhone の写真）", "image/heic"),
    "pdf": ("PDF", "application/pdf"),
}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}


class AttachmentRejected(ValueError):
    """A file that cannot be accepted; the message tells the resident why."""


def sniff(head: bytes) -> str | None:
    """The file's real type from its first bytes ('jpeg', 'png', ...), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


def _looks_executable(head: bytes) -> bool:
    return head.startswith((b"MZ", b"\x7fELF", b"#!", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa"))


@dataclass
class StoredFile:
    token: str
    stored_name: str
    original_name: str
    content_type: str
    size: int
    sha256: str
    scan: str


def storage_dir() -> Path:
    """ATTACHMENTS_DIR (shared storage every node mounts), else <MEDIA_ROOT>/attachments."""
    configured = getattr(settings, "ATTACHMENTS_DIR", "")
    path = Path(configured) if configured else Path(settings.MEDIA_ROOT) / "attachments"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def accept_upload(upload, *, accept: list[str], max_size_mb: float, label: str) -> StoredFile:
    """Check, scan and store one uploaded file (django UploadedFile)."""
    limit = int(max_size_mb * 1024 * 1024)
    name = Path(upload.name or "file").name[:200]
    if upload.size == 0:
        raise AttachmentRejected(f"{label}: 「{name}」は空のファイルです。")
    if upload.size > limit:
        raise AttachmentRejected(
            f"{label}: 「{name}」は大きすぎます（{upload.size / 1024 / 1024:.1f} MB）。{max_size_mb:g} MB 以下のファイルを選んでください。"
        )
    upload.seek(0)
    head = upload.read(64)
    upload.seek(0)
    kind = sniff(head)
    allowed = "・".join(KNOWN_TYPES[t][0] for t in accept)
    if kind is None:
        if _looks_executable(head):
            raise AttachmentRejected(f"{label}: 「{name}」はプログラム（実行ファイル）なので添付できません。{allowed}を選んでください。")
        raise AttachmentRejected(f"{label}: 「{name}」は添付できる種類のファイルではありません。{allowed}を選んでください。")
    if kind not in accept:
        raise AttachmentRejected(f"{label}: 「{name}」は{KNOWN_TYPES[kind][0]}です。この項目には{allowed}を選んでください。")

    token = secrets.token_urlsafe(32)
    stored_name = new_stored_name()
    if uses_object_store():
        # The scanner reads a local file; the object store only ever gets a scanned one.
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "upload"
            size, digest = _write(target, upload.chunks())
            scan = _scan_or_reject(target, label, name)
            with open(target, "rb") as fh:
                _object_store().save(stored_name, File(fh))
    else:
        target = storage_dir() / stored_name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        size, digest = _write(target, upload.chunks())
        scan = _scan_or_reject(target, label, name)
    return StoredFile(token, stored_name, name, KNOWN_TYPES[kind][1], size, digest, scan)


def new_stored_name() -> str:
    """A random name under the month: nothing in it says whose file it is."""
    return f"{timezone.now():%Y%m}/{secrets.token_hex(20)}"


def _write(target: Path, chunks) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(target, "xb") as fh:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            fh.write(chunk)
    target.chmod(0o600)
    return size, digest.hexdigest()


def _scan_or_reject(target: Path, label: str, name: str) -> str:
    try:
        return scan_file(target)
    except AttachmentRejected:
        target.unlink(missing_ok=True)
        raise AttachmentRejected(f"{label}: 「{name}」からウイルスが見つかったため、受け付けられません。") from None


# --- where the files live: a shared directory, or an S3-compatible object store ------------

_OBJECT_STORES: dict[tuple, object] = {}


def uses_object_store() -> bool:
    return getattr(settings, "ATTACHMENTS_STORAGE", "directory") == "s3"


def _object_store():
    """The S3 storage of the current settings (one per configuration: its connections are
    per thread inside django-storages, so one instance serves every thread)."""
    from storages.backends.s3 import S3Storage

    conf = settings.ATTACHMENTS_S3
    key = tuple(sorted((k, str(v)) for k, v in conf.items()))
    store = _OBJECT_STORES.get(key)
    if store is None:
        sse = conf.get("server_side_encryption") or ""
        store = _OBJECT_STORES[key] = S3Storage(
            bucket_name=conf["bucket_name"],
            endpoint_url=conf.get("endpoint_url"),
            region_name=conf.get("region_name"),
            location=conf.get("location") or "",
            default_acl=None,  # the bucket's own policy: private
            querystring_auth=True,
            # Names are random (new_stored_name): skip the existence check each save costs.
            file_overwrite=True,
            object_parameters={"ServerSideEncryption": sse} if sse else {},
        )
    return store


def _missing(exc) -> bool:
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code")) in {"404", "NoSuchKey", "NotFound"}


def save_stored(data: bytes) -> str:
    """Store bytes that are already checked (an attachment imported from a transfer
    bundle) under a new name; returns the name."""
    stored_name = new_stored_name()
    if uses_object_store():
        from django.core.files.base import ContentFile

        _object_store().save(stored_name, ContentFile(data))
        return stored_name
    target = storage_dir() / stored_name
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(target, "xb") as fh:
        fh.write(data)
    target.chmod(0o600)
    return stored_name


def stored_size(stored_name: str) -> int | None:
    """The stored file's size in bytes, None when it is not there."""
    if uses_object_store():
        from botocore.exceptions import ClientError

        try:
            return _object_store().size(stored_name)
        except FileNotFoundError:
            return None
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
    try:
        return (storage_dir() / stored_name).stat().st_size
    except FileNotFoundError:
        return None


def open_stored(stored_name: str):
    """The stored file opened for reading; FileNotFoundError when it is not there."""
    if uses_object_store():
        from botocore.exceptions import ClientError

        opened = _object_store().open(stored_name, "rb")
        try:
            opened.file  # noqa: B018 - fetches the object now, so a missing one fails here
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(stored_name) from None
            raise
        return opened
    return open(storage_dir() / stored_name, "rb")


def delete_stored(stored_name: str) -> None:
    if uses_object_store():
        _object_store().delete(stored_name)
        return
    (storage_dir() / stored_name).unlink(missing_ok=True)


def scan_file(path: Path) -> str:
    """'clean' after clamd said OK, 'skipped' when no scanner is configured.

    Raises AttachmentRejected when clamd finds something. CLAMD_SOCKET (a Unix socket
    path) or CLAMD_HOST[:CLAMD_PORT] configure the scanner.
    """
    socket_path = getattr(settings, "CLAMD_SOCKET", "")
    host = getattr(settings, "CLAMD_HOST", "")
    if not socket_path and not host:
        logger.warning("attachment %s stored without a virus scan: no CLAMD_SOCKET/CLAMD_HOST configured", path.name)
        return "skipped"
    if socket_path:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(30)
        conn.connect(socket_path)
    else:
        conn = socket.create_connection((host, int(getattr(settings, "CLAMD_PORT", 3310))), timeout=30)
    with conn, open(path, "rb") as fh:
        conn.sendall(b"zINSTREAM\0")
        while chunk := fh.read(64 * 1024):
            conn.sendall(struct.pack("!L", len(chunk)) + chunk)
        conn.sendall(struct.pack("!L", 0))
        reply = b""
        while not reply.endswith(b"\0"):
            part = conn.recv(4096)
            if not part:
                break
            reply += part
    answer = reply.rstrip(b"\0").decode("utf-8", "replace")
    if answer.endswith("OK"):
        return "clean"
    if answer.endswith("FOUND"):
        logger.warning("virus found in upload %s: %s", path.name, answer)
        raise AttachmentRejected(answer)
    raise OSError(f"clamd answered: {answer}")
