"""The bundle file that crosses between segments (format version 1, docs/transfer.md).

One ZIP file, entries stored (not compressed: they are encrypted):

    manifest.json   what the bundle is: kind, bundle id, sequence, time, item count, the
                    encryption's ephemeral public key, and the SHA-256 and size of every
                    other entry
    manifest.sig    Ed25519 signature of manifest.json's exact bytes
    payload.json    the items (encrypted for submissions; plain for statuses)
    files/NNNNNN    attachments made harmless (encrypted)

The signature covers the manifest and the manifest covers every entry's hash, so a
change of any byte is found before anything is decrypted or parsed. Encryption: an
ephemeral X25519 key per bundle agrees a secret with the recipient's key, HKDF-SHA256
turns it into an AES-256-GCM key; every entry has its own random nonce and is bound to
the bundle and its name (associated data), so entries cannot be swapped.

A bundle is written under a temporary name and renamed into place when complete: a
reader never sees half a bundle.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tenohira.integrations.transfer import keys

FORMAT = "tenohira-transfer"
VERSION = 1
SCHEME = "X25519-HKDF-SHA256-AES256GCM"
SUFFIX = ".tnhb"
# A reader refuses anything bigger before reading it (a bundle of 1,000 applications with
# photos is tens of MB).
MAX_ENTRY_BYTES = 256 * 1024 * 1024
MAX_ENTRIES = 200_000


class Refused(Exception):
    """The bundle is refused as a whole; the message says why, in Japanese."""


def _hkdf(shared: bytes, ephemeral: bytes, recipient: bytes, bundle_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=uuid.UUID(bundle_id).bytes,
        info=b"tenohira-transfer v1|" + ephemeral + recipient,
    ).derive(shared)


def file_name(kind: str, sequence: int) -> str:
    return f"tenohira-{kind}-{sequence:08d}{SUFFIX}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Writer:
    """Builds one bundle: add entries, then finish() writes it under a temporary name."""

    kind: str
    sequence: int
    directory: Path
    signer: object                      # Ed25519PrivateKey
    recipient: X25519PublicKey | None   # None: entries are signed but not encrypted
    bundle_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    def __post_init__(self):
        self.name = file_name(self.kind, self.sequence)
        self.final_path = self.directory / self.name
        self.partial_path = self.directory / f".{self.name}.{self.bundle_id}.partial"
        self.entries: list[dict] = []
        self._aead = None
        self._encryption = None
        if self.recipient is not None:
            ephemeral = X25519PrivateKey.generate()
            ephemeral_raw = keys.public_raw(ephemeral)
            recipient_raw = keys.public_raw(self.recipient)
            secret = _hkdf(ephemeral.exchange(self.recipient), ephemeral_raw, recipient_raw, self.bundle_id)
            self._aead = AESGCM(secret)
            self._encryption = {
                "scheme": SCHEME,
                "ephemeral_public_key": base64.b64encode(ephemeral_raw).decode(),
                "recipient_key_id": keys.key_id(recipient_raw),
            }
        self.directory.mkdir(parents=True, exist_ok=True)
        self._zip = zipfile.ZipFile(self.partial_path, "x", compression=zipfile.ZIP_STORED)

    def add(self, name: str, data: bytes) -> None:
        if self._aead is not None:
            nonce = os.urandom(12)
            data = nonce + self._aead.encrypt(nonce, data, f"{self.bundle_id}/{name}".encode())
        self._zip.writestr(name, data)
        self.entries.append({"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})

    def finish(self, items: int) -> str:
        """Write manifest and signature, close and sync; the SHA-256 of the whole file."""
        manifest = {
            "format": FORMAT, "version": VERSION, "kind": self.kind, "bundle_id": self.bundle_id,
            "sequence": self.sequence, "created_at": self.created_at, "items": items,
            "signer_key_id": keys.key_id(keys.public_raw(self.signer)),
            "encryption": self._encryption, "entries": self.entries,
        }
        body = json.dumps(manifest, ensure_ascii=False, sort_keys=True).encode()
        self._zip.writestr("manifest.json", body)
        self._zip.writestr("manifest.sig", self.signer.sign(body))
        self._zip.close()
        with open(self.partial_path, "rb") as fh:
            os.fsync(fh.fileno())
        return sha256_file(self.partial_path)

    def abandon(self) -> None:
        try:
            self._zip.close()
        finally:
            self.partial_path.unlink(missing_ok=True)

    def publish(self) -> Path:
        """Rename into place (atomic on one file system) once the database has committed."""
        os.replace(self.partial_path, self.final_path)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return self.final_path


@dataclass
class Opened:
    manifest: dict
    sha256: str
    entries: dict[str, bytes]

    @property
    def bundle_id(self) -> str:
        return self.manifest["bundle_id"]

    @property
    def sequence(self) -> int:
        return self.manifest["sequence"]


def open_bundle(path: Path, *, kind: str, verifier, decryptor: X25519PrivateKey | None) -> Opened:
    """Check the signature, every entry's hash, and decrypt: the verified contents, or
    Refused with the reason. Nothing of the bundle is trusted before its signature is."""
    try:
        size = path.stat().st_size
    except OSError:
        raise Refused(f"束のファイル {path.name} を開けません。場所を確かめてください。") from None
    if size > MAX_ENTRY_BYTES * 4:
        raise Refused(f"束のファイル {path.name} が大きすぎます（{size} バイト）。")
    whole = sha256_file(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise Refused("束のファイルが壊れているか、書き換えられています（ZIP として読めません）。取り込みません。") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES or any(i.file_size > MAX_ENTRY_BYTES for i in infos):
            raise Refused("束の中身が多すぎるか大きすぎます。取り込みません。")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise Refused("束の中に同じ名前のものが二つあります（書き換えの疑い）。取り込みません。")
        try:
            body = archive.read("manifest.json")
            signature = archive.read("manifest.sig")
        except KeyError:
            raise Refused("束に目録（manifest）か署名がありません。取り込みません。") from None
        except (zipfile.BadZipFile, OSError, ValueError):
            raise Refused("束のファイルが壊れているか、書き換えられています。取り込みません。") from None
        try:
            verifier.verify(signature, body)
        except InvalidSignature:
            raise Refused(
                "署名が正しくありません。束が途中で書き換えられたか、別の鍵で署名されています。取り込みません。"
            ) from None
        manifest = json.loads(body)
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise Refused(f"この版の束（{manifest.get('format')} {manifest.get('version')}）は読めません。")
        if manifest.get("kind") != kind:
            raise Refused(f"この束は {manifest.get('kind')} の束です（{kind} の束を指定してください）。")
        listed = {e["name"]: e for e in manifest["entries"]}
        present = set(names) - {"manifest.json", "manifest.sig"}
        if present != set(listed):
            raise Refused("束の中身が目録と合いません（足りないか、余分なものがあります）。取り込みません。")
        entries = {}
        for name, entry in listed.items():
            try:
                data = archive.read(name)
            except (zipfile.BadZipFile, OSError, ValueError):
                raise Refused(f"束の {name} が壊れています。取り込みません。") from None
            if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise Refused(f"束の {name} のハッシュが目録と合いません（書き換えの疑い）。取り込みません。")
            entries[name] = data
    encryption = manifest.get("encryption")
    if decryptor is not None:
        if not encryption or encryption.get("scheme") != SCHEME:
            raise Refused("束が暗号化されていません。取り込みません。")
        recipient_raw = keys.public_raw(decryptor.public_key())
        if encryption.get("recipient_key_id") != keys.key_id(recipient_raw):
            raise Refused("束は別の鍵あてに暗号化されています。こちらの鍵の公開鍵を送り出し側に設定してください。")
        ephemeral_raw = base64.b64decode(encryption["ephemeral_public_key"])
        shared = decryptor.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
        aead = AESGCM(_hkdf(shared, ephemeral_raw, recipient_raw, manifest["bundle_id"]))
        try:
            entries = {
                name: aead.decrypt(data[:12], data[12:], f"{manifest['bundle_id']}/{name}".encode())
                for name, data in entries.items()
            }
        except InvalidTag:
            raise Refused("束を復号できません（鍵が違うか、書き換えられています）。取り込みません。") from None
    return Opened(manifest=manifest, sha256=whole, entries=entries)
