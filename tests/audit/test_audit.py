"""The audit log: append-only, hash-chained, verifiable; searchable by auditors only."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.audit.models import AuditRecord
from tenohira.audit.services import record, verify
from tenohira.backoffice.models import Role, StaffRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("kansa", password="correct horse battery")


def _log(user, n=5):
    return [record("submission_view", user=user, target=f"2024-HJC-{i:06d}", detail={"n": i}) for i in range(n)]


def test_records_chain_and_verify(user):
    entries = _log(user)
    assert entries[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(entries, entries[1:], strict=False))
    result = verify()
    assert result.ok and result.checked == 5


def test_an_edited_record_is_detected(user):
    entries = _log(user)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditRecord._meta.db_table} SET target = %s WHERE id = %s", ["2024-HJC-999999", entries[2].pk]
        )
    result = verify()
    assert not result.ok
    assert f"記録 {entries[2].pk}" in result.problem
    assert result.checked == 2
    with pytest.raises(CommandError, match="監査ログの検証に失敗しました"):
        call_command("audit", "verify")


def test_a_deleted_record_is_detected(user):
    entries = _log(user)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditRecord._meta.db_table} WHERE id = %s", [entries[1].pk])
    result = verify()
    assert not result.ok and "削除" in result.problem


def test_deleting_the_newest_records_is_detected(user):
    entries = _log(user)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditRecord._meta.db_table} WHERE id = %s", [entries[-1].pk])
    result = verify()
    assert not result.ok and "末尾" in result.problem


def test_the_model_refuses_changes_and_deletes(user):
    entry = _log(user, 1)[0]
    entry.target = "x"
    with pytest.raises(PermissionDenied):
        entry.save()
    with pytest.raises(PermissionDenied):
        entry.delete()


def test_verify_command_passes_on_an_intact_chain(user, capsys):
    _log(user, 3)
    call_command("audit", "verify")
    assert "3 件を検証" in capsys.readouterr().out


def _verified_client(user):
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def test_auditors_search_the_log_and_others_cannot(user):
    _log(user, 3)
    StaffRole.objects.create(user=user, role=Role.AUDITOR)
    page = _verified_client(user).get("/staff/audit/", {"target": "2024-hjc-000001"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "2024-HJC-000001" in html and "2024-HJC-000002" not in html

    other = get_user_model().objects.create_user("tantou", password="correct horse battery")
    StaffRole.objects.create(user=other, role=Role.DX_ADMIN)
    assert _verified_client(other).get("/staff/audit/").status_code == 403


def test_the_audit_page_needs_the_second_factor(user):
    StaffRole.objects.create(user=user, role=Role.AUDITOR)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)  # password only, no one-time code
    response = client.get("/staff/audit/")
    assert response.status_code == 302 and response["Location"].startswith("/staff/login/")
