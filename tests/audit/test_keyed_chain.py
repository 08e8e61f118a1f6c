"""The keyed chain and its anchors, attacked as someone with write access to the database
(raw SQL through connection.cursor()) but without the key or the anchor file would."""

import hashlib
import json
import os
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from tenohira.audit import anchors, keys
from tenohira.audit.models import AuditHead, AuditRecord
from tenohira.audit.services import anchor_now, record, verify

pytestmark = pytest.mark.django_db
RECORDS = AuditRecord._meta.db_table
HEAD = AuditHead._meta.db_table


@pytest.fixture
def user():
    return get_user_model().objects.create_user("kansa2", password="correct horse battery")


def _log(user, n, capture):
    """n records, committed as a request would (so their anchors are written)."""
    entries = []
    for i in range(n):
        with capture(execute=True):
            entries.append(record("submission_view", user=user, target=f"2024-HJC-{i:06d}", detail={"n": i}))
    return entries


def _plain_content(row) -> str:
    # The content as the old code serialised it, read back from the row as an attacker would.
    return json.dumps(
        {"at": row.at.isoformat(), "actor_id": row.actor_id, "actor": row.actor, "action": row.action,
         "target": row.target, "detail": row.detail, "ip": row.ip},
        ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str,
    )


def _recompute_plain(from_index: int = 0, *, keep_key_id: bool = False):
    """Rewrite the chain from `from_index` on with plain SHA-256 links, the old way, and
    fix up the head's count and newest hash: all anyone can do without the key."""
    rows = list(AuditRecord.objects.order_by("id"))
    previous = rows[from_index - 1].hash if from_index else "0" * 64
    with connection.cursor() as cursor:
        # Free the unique hashes first, then write the recomputed ones.
        cursor.execute(f"UPDATE {RECORDS} SET hash = 'x' || CAST(id AS VARCHAR(20)) WHERE id >= %s", [rows[from_index].pk])
        for row in rows[from_index:]:
            new = hashlib.sha256(f"{previous}\n{_plain_content(row)}".encode()).hexdigest()
            cursor.execute(
                f"UPDATE {RECORDS} SET prev_hash = %s, hash = %s, key_id = %s WHERE id = %s",
                [previous, new, row.key_id if keep_key_id else "", row.pk],
            )
            previous = new
        cursor.execute(f"UPDATE {HEAD} SET count = %s, last_hash = %s", [len(rows), previous])


def test_new_records_are_keyed_and_the_intact_chain_verifies(user, django_capture_on_commit_callbacks, settings):
    entries = _log(user, 5, django_capture_on_commit_callbacks)
    kid, _ = keys.current()
    assert {entry.key_id for entry in entries} == {kid}
    result = verify()
    assert result.ok and result.checked == 5 and result.anchors >= 1
    # The first record anchors at once (no anchor yet); then every AUDIT_ANCHOR_EVERY.
    assert [a.count for a in anchors.read()] == [1]
    assert stat.S_IMODE(os.stat(settings.AUDIT_ANCHOR_FILE).st_mode) == 0o600


def test_the_default_key_file_is_private(user, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.AUDIT_KEY = ""
    settings.AUDIT_KEY_FILE = ""
    kid, key = keys.current()
    assert stat.S_IMODE(os.stat(tmp_path / "audit_key").st_mode) == 0o600
    assert len(key) >= 32 and keys.key_id(key) == kid


def test_an_edited_record_is_named(user, django_capture_on_commit_callbacks):
    entries = _log(user, 5, django_capture_on_commit_callbacks)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {RECORDS} SET actor = %s WHERE id = %s", ["someone-else", entries[2].pk])
    result = verify()
    assert not result.ok
    assert (result.record_id, result.check, result.checked) == (entries[2].pk, "content", 2)
    assert f"記録 {entries[2].pk}" in result.problem


def test_a_chain_recomputed_the_old_way_is_detected(user, django_capture_on_commit_callbacks):
    entries = _log(user, 5, django_capture_on_commit_callbacks)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {RECORDS} SET target = %s WHERE id = %s", ["2024-HJC-999999", entries[3].pk])
    _recompute_plain(3)
    result = verify()
    assert not result.ok
    assert (result.record_id, result.check) == (entries[3].pk, "legacy")
    with pytest.raises(CommandError, match=f"legacy.*記録 {entries[3].pk}"):
        call_command("audit", "verify")


def test_a_chain_recomputed_keeping_the_key_ids_is_detected(user, django_capture_on_commit_callbacks):
    entries = _log(user, 4, django_capture_on_commit_callbacks)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {RECORDS} SET detail = %s WHERE id = %s", ['{"n": 42}', entries[1].pk])
    _recompute_plain(1, keep_key_id=True)
    result = verify()
    assert (result.ok, result.record_id, result.check) == (False, entries[1].pk, "content")


def test_a_whole_chain_rewritten_as_legacy_is_caught_by_the_anchors(user, django_capture_on_commit_callbacks):
    entries = _log(user, 4, django_capture_on_commit_callbacks)
    _recompute_plain(0)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {HEAD} SET mac = '', key_id = ''")
    result = verify()
    assert not result.ok
    # The first anchor was written after the first record: its hash no longer matches.
    assert (result.record_id, result.check) == (entries[0].pk, "anchor")


def test_legacy_records_before_the_key_still_verify(user, django_capture_on_commit_callbacks):
    """An installation upgraded from the plain chain: its old records stay valid as the
    chain's prefix, and new records are keyed after them."""
    old = _log(user, 3, django_capture_on_commit_callbacks)
    _recompute_plain(0)  # what the old code had written
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {HEAD} SET mac = '', key_id = '', anchored_count = 0, anchored_at = NULL")
    os.remove(anchors.path())
    assert verify().ok
    new = _log(user, 2, django_capture_on_commit_callbacks)
    assert AuditRecord.objects.get(pk=old[0].pk).key_id == "" and new[0].key_id
    result = verify()
    assert result.ok and result.checked == 5


def test_a_truncated_chain_with_a_fixed_up_head_is_detected(user, django_capture_on_commit_callbacks):
    entries = _log(user, 5, django_capture_on_commit_callbacks)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {RECORDS} WHERE id >= %s", [entries[3].pk])
        cursor.execute(f"UPDATE {HEAD} SET count = 3, last_hash = %s", [entries[2].hash])
    result = verify()
    assert (result.ok, result.check) == (False, "head_signature")


def test_a_head_rewound_to_an_older_signed_state_is_caught_by_the_anchors(user, settings, django_capture_on_commit_callbacks):
    settings.AUDIT_ANCHOR_EVERY = 2
    entries = _log(user, 3, django_capture_on_commit_callbacks)
    saved = AuditHead.objects.values("count", "last_hash", "key_id", "mac").get(pk=1)  # the attacker keeps a copy
    more = _log(user, 3, django_capture_on_commit_callbacks)
    assert max(a.count for a in anchors.read()) == 5
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {RECORDS} WHERE id > %s", [entries[-1].pk])
        cursor.execute(f"UPDATE {HEAD} SET count = %s, last_hash = %s, key_id = %s, mac = %s",
                       [saved["count"], saved["last_hash"], saved["key_id"], saved["mac"]])
    result = verify()
    assert not result.ok
    assert (result.check, result.record_id) == ("truncated", more[1].pk)


def test_an_anchor_that_does_not_match_is_named(user, settings, django_capture_on_commit_callbacks):
    entries = _log(user, 3, django_capture_on_commit_callbacks)
    # A forged anchor line (no key): refused by its signature.
    with open(anchors.path(), "a") as fh:
        fh.write(json.dumps({"count": 2, "record_id": entries[1].pk, "hash": "0" * 64, "at": "2026-01-01T00:00:00+00:00",
                             "key_id": keys.current()[0], "mac": "f" * 64}) + "\n")
    result = verify()
    assert (result.ok, result.check) == (False, "anchor_signature")
    # A genuine anchor whose record is no longer what it anchored.
    lines = anchors.path().read_text().splitlines()[:-1]
    lines.append(anchors.make(2, entries[0].pk, entries[1].hash).to_json())
    anchors.path().write_text("\n".join(lines) + "\n")
    result = verify()
    assert (result.ok, result.check, result.record_id) == (False, "anchor", entries[1].pk)
    # A damaged file is a finding too.
    anchors.path().write_text("not an anchor\n")
    assert verify().check == "anchor_file"


def test_key_rotation_keeps_old_records_verifiable(user, settings, django_capture_on_commit_callbacks):
    settings.AUDIT_KEY = "a" * 40
    first = _log(user, 2, django_capture_on_commit_callbacks)
    settings.AUDIT_KEY = "b" * 40
    settings.AUDIT_KEYS = "a" * 40
    second = _log(user, 2, django_capture_on_commit_callbacks)
    assert first[0].key_id != second[0].key_id
    assert verify().ok
    settings.AUDIT_KEYS = ""
    result = verify()
    assert not result.ok and result.check in {"key", "anchor_signature"}


def test_anchor_command_and_extra_anchor_files(user, settings, tmp_path, capsys, django_capture_on_commit_callbacks):
    _log(user, 3, django_capture_on_commit_callbacks)
    call_command("audit", "anchor")
    assert "3 件目まで" in capsys.readouterr().out
    assert [a.count for a in anchors.read()] == [1, 3]
    # Lines gathered from a syslog (with its prefix) are checked as well.
    copied = tmp_path / "from-syslog.log"
    copied.write_text("".join(f"Dec  1 10:00:00 host tenohira-audit-anchor {a.to_json()}\n" for a in anchors.read()))
    call_command("audit", "verify", "--anchors", str(copied))
    assert "アンカー 4 件と一致" in capsys.readouterr().out


def test_a_rolled_back_record_writes_no_anchor(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record("login", user=user)
    assert len(callbacks) == 1  # the anchor waits for the commit, which never came
    assert anchors.read() == []
    assert anchor_now() is not None and [a.count for a in anchors.read()] == [1]


def test_deploy_check_warns_about_the_key_in_the_data_directory(settings):
    from tenohira.audit.apps import check_audit_key

    settings.AUDIT_KEY, settings.AUDIT_KEY_FILE = "", ""
    assert [w.id for w in check_audit_key(None)] == ["audit.W001"]
    settings.AUDIT_KEY = "k" * 40
    assert check_audit_key(None) == []
