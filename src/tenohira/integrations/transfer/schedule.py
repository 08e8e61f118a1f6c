"""The transfer on a timer, run by the background workers (Celery, or the embedded
process): no person has to run `tenohira transfer` by hand or from cron.

Each deployment says which side it is and which two directories the one-way path between
the segments uses (the file-transfer appliance, a shared folder of the 無害化 system):

    TRANSFER_SIDE=intake   the internet side: writes submission bundles to
                           TRANSFER_OUTGOING_DIR, imports status bundles found in
                           TRANSFER_INCOMING_DIR
    TRANSFER_SIDE=inside   the LGWAN side: imports submission bundles found in
                           TRANSFER_INCOMING_DIR, writes status bundles to
                           TRANSFER_OUTGOING_DIR
    TRANSFER_INTERVAL_SECONDS (60): how often a bundle is written
    TRANSFER_SETTLE_SECONDS (5): an incoming file is only read once it has not changed
                           for this long (the appliance may still be copying it)

Bundles found in the incoming directory are imported in sequence order. An imported one is
moved to `done/`. One that is refused (tampered, signed by another key, a replay) is moved
to `refused/` with a `.reason.txt` beside it, audited, and logged by number only; one whose
predecessor has not arrived yet stays where it is until it has. The bundle code, checks and
audit records are those of the commands (export, importer, status): this only decides
when they run and what happens to the files.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from django.db.models import Max

from tenohira.audit.services import record
from tenohira.core import background
from tenohira.integrations.models import TransferBundle
from tenohira.integrations.transfer import bundle, keys

logger = logging.getLogger(__name__)

_last_export: dict[str, float] = {}


def _interval() -> float:
    try:
        return max(1.0, float(keys.setting("TRANSFER_INTERVAL_SECONDS") or 60))
    except ValueError:
        return 60.0


def _settle() -> float:
    try:
        return max(0.0, float(keys.setting("TRANSFER_SETTLE_SECONDS") or 5))
    except ValueError:
        return 5.0


def _due(kind: str) -> bool:
    """Bundles are written every interval, not at every turn of the embedded worker (about
    once a second): one bundle a minute, not one per submission."""
    now = time.monotonic()
    if now - _last_export.get(kind, float("-inf")) < _interval():
        return False
    _last_export[kind] = now
    return True


def _pattern(kind: str) -> re.Pattern:
    return re.compile(rf"^tenohira-{re.escape(kind)}-(\d{{8}}){re.escape(bundle.SUFFIX)}$")


def _move(path: Path, folder: str, reason: str = "") -> Path:
    target_dir = path.parent / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    path.replace(target)
    if reason:
        (target_dir / f"{path.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target


def import_incoming(directory: Path, kind: str, direction: str, importer) -> int:
    """Import the bundles of `kind` waiting in `directory`, in order; returns how many."""
    if not directory.is_dir():
        return 0
    pattern = _pattern(kind)
    settled_before = time.time() - _settle()
    waiting = sorted(
        (int(match.group(1)), path) for path in directory.iterdir()
        if (match := pattern.match(path.name)) and path.is_file() and path.stat().st_mtime <= settled_before
    )
    done = 0
    for sequence, path in waiting:
        last = TransferBundle.objects.filter(direction=direction).aggregate(m=Max("sequence"))["m"] or 0
        if sequence > last + 1:
            break  # its predecessor is still on its way: wait for it
        try:
            importer(path)
        except bundle.Refused as refused:
            _move(path, "refused", str(refused))
            record("transfer.refused", target=f"{kind} #{sequence}", detail={"file": path.name, "reason": str(refused)})
            logger.warning("transfer: %s bundle %s refused", kind, sequence)
            continue
        _move(path, "done")
        done += 1
    return done


@background.periodic("integrations.transfer", seconds=10)
def transfer_sweep() -> bool:
    side = keys.setting("TRANSFER_SIDE")
    if side not in {"intake", "inside"}:
        return False
    outgoing = keys.setting("TRANSFER_OUTGOING_DIR")
    incoming = keys.setting("TRANSFER_INCOMING_DIR")
    if side == "intake":
        from tenohira.integrations.transfer.export import export
        from tenohira.integrations.transfer.status import import_status

        if incoming:
            import_incoming(Path(incoming), "status", TransferBundle.Direction.STATUS_IN, import_status)
        if outgoing and _due("submissions"):
            _export(lambda: export(Path(outgoing)))
        return False
    from tenohira.integrations.transfer.importer import import_bundle
    from tenohira.integrations.transfer.status import export_status

    if incoming:
        import_incoming(Path(incoming), "submissions", TransferBundle.Direction.SUBMISSIONS_IN, import_bundle)
    if outgoing and _due("status"):
        _export(lambda: export_status(Path(outgoing)))
    return False


def _export(write) -> None:
    try:
        write()
    except bundle.Refused as refused:  # another worker is writing the same bundle: next turn
        logger.info("transfer: export skipped: %s", refused)
