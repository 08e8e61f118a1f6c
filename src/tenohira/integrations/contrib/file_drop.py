"""File drop: a bundle directory per delivery, for RPA and systems that read a folder.

    <directory>/<receipt number>-<delivery id>/
        submission.json   the standard document (UTF-8), with what CP932 could not hold
        submission.csv    one header row of standard item names and one row (CP932, CRLF)
        attachments/      the application's files, named <n>-<original name>

The bundle is written under a temporary name beginning with "." in the same directory and
renamed into place in one step (rename within a file system is atomic), so a reader that
ignores dot names never sees a half-written bundle. A bundle already in place (a worker
killed after the rename) counts as delivered: the delivery id in its name is the same.
A CSV cell whose characters CP932 cannot hold gets "〓" for each of them, and the
characters are listed in submission.json under csv_unencodable so no one takes 〓 for data.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import shutil
from pathlib import Path

from tenohira.core.tabular import cp932_missing, neutralise_formula, to_cp932_forms
from tenohira.integrations.layout import ITEM_NAMES
from tenohira.integrations.registry import DeliveryKind, Outcome, register

CSV_HEADERS = ["受付番号", "手続きコード", "手続き", "申請日時", "状態", *ITEM_NAMES]
_UNSAFE = re.compile(r"[^\w.\-ぁ-んァ-ヶ一-龯ー]+")


def bundle_name(document: dict, delivery) -> str:
    return f"{document['receipt_number']}-{delivery.delivery_id}"


def csv_bytes(document: dict) -> tuple[bytes, list[dict]]:
    """The CP932 CSV of the document and [{column, chars}] of what it could not hold."""
    items = document["items"]
    row = [document["receipt_number"], document["procedure"]["code"], document["procedure"]["name"],
           document["submitted_at"] or "", document["status"],
           *["" if items.get(name) is None else str(items[name]) for name in ITEM_NAMES]]
    missing = []
    cells = []
    for header, value in zip(CSV_HEADERS, row, strict=True):
        text = to_cp932_forms(neutralise_formula(value))
        lost = cp932_missing(text)
        if lost:
            missing.append({"column": header, "chars": list(dict.fromkeys(lost))})
            text = "".join("〓" if char in lost else char for char in text)
        cells.append(text)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    writer.writerow(cells)
    return out.getvalue().encode("cp932"), missing


def _safe_name(index: int, name: str) -> str:
    stem = _UNSAFE.sub("_", os.path.basename(name or "file")).strip("._") or "file"
    return f"{index}-{stem[:100]}"


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


@register.register
class FileDrop(DeliveryKind):
    name = "file_drop"
    label = "ファイル連携（フォルダに出力）"

    def validate(self, config: dict) -> list[str]:
        directory = (config or {}).get("directory", "")
        if not isinstance(directory, str) or not os.path.isabs(directory):
            return ["directory（出力するフォルダ）を / で始まる絶対パスで入力してください。"]
        return []

    def send(self, delivery, document: dict) -> Outcome:
        from tenohira.applications.attachments import open_stored

        problems = self.validate(delivery.target.config)
        if problems:
            return Outcome(False, reason=problems[0] + " 管理画面で連携先を直してから再送してください。")
        directory = Path(delivery.target.config["directory"])
        if not directory.is_dir():
            return Outcome(False, reason="出力するフォルダがありません。フォルダを作るか設定を直してから再送してください。",
                           detail="directory missing")
        final = directory / bundle_name(document, delivery)
        if final.exists():
            return Outcome(True)  # written before a worker was killed: the same delivery
        temporary = directory / f".{final.name}.{secrets.token_hex(4)}.tmp"
        try:
            temporary.mkdir(mode=0o700)
            data, missing = csv_bytes(document)
            _write(temporary / "submission.csv", data)
            (temporary / "attachments").mkdir()
            names = []
            for index, attachment in enumerate(delivery.submission.attachments.order_by("pk"), start=1):
                name = _safe_name(index, attachment.original_name)
                with open_stored(attachment.stored_name) as source, open(temporary / "attachments" / name, "wb") as target:
                    shutil.copyfileobj(source, target)
                    target.flush()
                    os.fsync(target.fileno())
                names.append(name)
            bundle = {**document, "csv_unencodable": missing, "files": names}
            _write(temporary / "submission.json", json.dumps(bundle, ensure_ascii=False, indent=1).encode())
            try:
                os.rename(temporary, final)
            except OSError:
                if final.exists():  # another worker finished the same delivery first
                    shutil.rmtree(temporary, ignore_errors=True)
                    return Outcome(True)
                raise
            _fsync_directory(directory)
        except FileNotFoundError as exc:
            shutil.rmtree(temporary, ignore_errors=True)
            return Outcome(False, retry=True, reason="添付ファイルかフォルダが見つかりませんでした。自動で再送します。",
                           detail=type(exc).__name__)
        except OSError as exc:
            shutil.rmtree(temporary, ignore_errors=True)
            return Outcome(False, retry=True, reason="フォルダに書き込めませんでした（容量や権限を確かめてください）。自動で再送します。",
                           detail=f"{type(exc).__name__} errno={exc.errno}")
        return Outcome(True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
