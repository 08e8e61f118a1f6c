"""The transfer on the background workers' timer: two deployments with their own
databases, each told its side and its two directories, run `tenohira background sweep`
(what the Celery workers and the embedded process run) and the bundles cross, are filed
under done/ or refused/ with the reason, and statuses come back, with no one running
`tenohira transfer` by hand."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from tests.integrations.test_transfer import DECIDE, SECRET, SEED, STATUS_PAGE, _sides

COUNT = 12


def _past(path: Path) -> None:
    """Make a copied file look settled (the sweep leaves files still being written alone)."""
    old = time.time() - 60
    os.utime(path, (old, old))


def test_bundles_cross_on_the_timer_and_refused_ones_are_filed_with_the_reason(tmp_path):
    from tenohira.integrations.transfer import keys

    intake, inside = _sides(tmp_path, f"sqlite:///{tmp_path}/intake.sqlite3", f"sqlite:///{tmp_path}/inside.sqlite3")
    keys.generate(tmp_path / "keys" / "intake", "intake")
    keys.generate(tmp_path / "keys" / "inside", "inside")
    outward, inward = tmp_path / "to-lgwan", tmp_path / "from-lgwan"  # each side's view of the path
    arrived, back = tmp_path / "lgwan-incoming", tmp_path / "internet-incoming"
    intake.env.update(TRANSFER_SIDE="intake", TRANSFER_OUTGOING_DIR=str(outward), TRANSFER_INCOMING_DIR=str(back))
    inside.env.update(TRANSFER_SIDE="inside", TRANSFER_OUTGOING_DIR=str(inward), TRANSFER_INCOMING_DIR=str(arrived))
    intake.run("migrate", "--noinput")
    inside.run("migrate", "--noinput")
    intake.python(SEED, json.dumps({"department": "市民部", "start": 1, "count": COUNT, "secret": SECRET}))
    inside.python(SEED, json.dumps({"department": "LGWAN市民部", "start": 900000, "count": 0, "secret": SECRET}))

    intake.run("background", "sweep")
    bundles = sorted(outward.glob("*.tnhb"))
    assert [b.name for b in bundles] == ["tenohira-submissions-00000001.tnhb"]

    # The appliance carries it across; a tampered copy with the next number arrives too.
    arrived.mkdir()
    shutil.copy(bundles[0], arrived / bundles[0].name)
    _past(arrived / bundles[0].name)
    inside.run("background", "sweep")
    assert inside.count() == COUNT
    assert (arrived / "done" / bundles[0].name).exists() and not (arrived / bundles[0].name).exists()

    # A replay of the same bundle under its own name: refused, filed with the reason.
    shutil.copy(bundles[0], arrived / bundles[0].name)
    _past(arrived / bundles[0].name)
    inside.run("background", "sweep")
    reason = (arrived / "refused" / f"{bundles[0].name}.reason.txt").read_text(encoding="utf-8")
    assert "すでに取り込み済み" in reason
    assert inside.count() == COUNT

    # A bundle whose predecessor has not arrived waits, untouched.
    early = arrived / "tenohira-submissions-00000003.tnhb"
    early.write_bytes(b"not yet")
    _past(early)
    inside.run("background", "sweep")
    assert early.exists() and not (arrived / "refused" / early.name).exists()
    early.unlink()

    # A decision inside goes back out as a status bundle and reaches the resident's page.
    inside.python(DECIDE, "2025-TRX-000001")
    inside.run("background", "sweep")
    statuses = sorted(inward.glob("*.tnhb"))
    assert [s.name for s in statuses] == ["tenohira-status-00000001.tnhb"]
    back.mkdir()
    shutil.copy(statuses[0], back / statuses[0].name)
    _past(back / statuses[0].name)
    intake.run("background", "sweep")
    assert (back / "done" / statuses[0].name).exists()
    page = intake.python(STATUS_PAGE, "2025-TRX-000001", SECRET)
    assert page["code"] == 200 and "承認しました。証明書を郵送します。" in page["body"]


def test_a_file_still_being_copied_is_left_alone(tmp_path):
    from tenohira.integrations.transfer import keys

    intake, inside = _sides(tmp_path, f"sqlite:///{tmp_path}/intake.sqlite3", f"sqlite:///{tmp_path}/inside.sqlite3")
    keys.generate(tmp_path / "keys" / "inside", "inside")
    keys.generate(tmp_path / "keys" / "intake", "intake")
    arrived = tmp_path / "lgwan-incoming"
    arrived.mkdir()
    # An hour of settling: the sweep's own start-up time cannot make the file look old.
    inside.env.update(TRANSFER_SIDE="inside", TRANSFER_INCOMING_DIR=str(arrived), TRANSFER_SETTLE_SECONDS="3600")
    inside.run("migrate", "--noinput")
    partial = arrived / "tenohira-submissions-00000001.tnhb"
    partial.write_bytes(b"TNHB half of a bundle")  # just written: not settled
    inside.run("background", "sweep")
    assert partial.exists() and not (arrived / "refused").exists()
