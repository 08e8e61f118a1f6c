"""The admin as a DX管理者 who wants more than their job: a role they give (themselves or
anyone) waits for a second person; every admin change, grant and authenticator change is in
the audit chain; authenticator keys are never shown."""

import base64
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.audit.models import AuditRecord
from tenohira.audit.services import verify
from tenohira.backoffice import selectors
from tenohira.backoffice.models import GrantStatus, Role, StaffRole

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/backoffice/staffrole/"


def make_user(username, full_name, roles, **extra):
    family, given = full_name.split(" ", 1)
    user = get_user_model().objects.create_user(username, password="x" * 20, last_name=family, first_name=given, **extra)
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    for role, section in roles:
        StaffRole.objects.create(user=user, role=role, section=section)
    return user


@pytest.fixture
def second_dx(staff):
    return make_user("dx2", "DX 二人目", [(Role.DX_ADMIN, None)], is_staff=True, is_superuser=True)


def _grant_in_admin(client, user, role=Role.HANDLER, section=None):
    response = client.post(f"{CHANGELIST}add/", {"user": user.pk, "role": role, "section": section.pk if section else ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    return StaffRole.objects.get(user=user, role=role)


def _decide(client, grant, action):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [grant.pk]}, follow=True)


def _fresh(user):
    return type(user).objects.get(pk=user.pk)  # without the roles cached on the instance


def test_a_self_grant_gives_no_access_until_another_person_approves(staff, staff_client, make_submission, second_dx):
    submission = make_submission()
    me = staff_client(staff.dx_admin)
    grant = _grant_in_admin(me, staff.dx_admin, section=staff.section)
    assert grant.status == GrantStatus.PENDING and grant.requested_by == staff.dx_admin
    assert not selectors.submissions_for(_fresh(staff.dx_admin)).filter(pk=submission.pk).exists()
    assert me.get(f"/staff/submissions/{submission.receipt_number}/").status_code in {403, 404}

    # Approving one's own grant (made by oneself, and for oneself) is refused.
    page = _decide(me, grant, "approve_grants").content.decode()
    assert "承認" in page and StaffRole.objects.get(pk=grant.pk).status == GrantStatus.PENDING
    assert not selectors.submissions_for(_fresh(staff.dx_admin)).exists()

    # Another DX管理者 approves: now it counts.
    _decide(staff_client(second_dx), grant, "approve_grants")
    grant.refresh_from_db()
    assert (grant.status, grant.approved_by) == (GrantStatus.ACTIVE, second_dx)
    assert selectors.submissions_for(_fresh(staff.dx_admin)).filter(pk=submission.pk).exists()

    actions = list(AuditRecord.objects.filter(target=f"role:{grant.pk}").values_list("action", "actor"))
    assert actions == [("role_grant_request", "dx"), ("role_grant_approve", "dx2")]
    assert AuditRecord.objects.filter(action="admin_add", target=f"backoffice.staffrole:{grant.pk}").exists()
    assert verify().ok


def test_nobody_approves_a_grant_for_themselves(staff, staff_client, second_dx):
    grant = _grant_in_admin(staff_client(staff.dx_admin), second_dx, role=Role.APPROVER, section=staff.section)
    _decide(staff_client(second_dx), grant, "approve_grants")
    assert StaffRole.objects.get(pk=grant.pk).status == GrantStatus.PENDING
    from tenohira.backoffice.services import approve_role_grant

    with pytest.raises(Exception, match="自分自身"):
        approve_role_grant(second_dx, grant)


def test_the_sections_manager_may_approve_but_not_another_sections(staff, staff_client):
    from tenohira.backoffice.services import approve_role_grant, may_approve_grant

    grant = _grant_in_admin(staff_client(staff.dx_admin), staff.no_role, section=staff.section)
    other_manager = make_user("hoiku-kanri", "保育 管理", [(Role.SECTION_ADMIN, staff.other_section)])
    assert not may_approve_grant(other_manager, grant)
    assert not may_approve_grant(staff.handler, grant)
    approve_role_grant(staff.section_admin, grant)
    assert selectors.section_ids(_fresh(staff.no_role)) == {staff.section.pk}


def test_a_refused_grant_is_gone_and_logged(staff, staff_client, second_dx):
    grant = _grant_in_admin(staff_client(staff.dx_admin), staff.no_role, section=staff.other_section)
    _decide(staff_client(second_dx), grant, "refuse_grants")
    assert not StaffRole.objects.filter(pk=grant.pk).exists()
    assert AuditRecord.objects.filter(action="role_grant_refuse", target=f"role:{grant.pk}", actor="dx2").exists()


def test_approvers_are_told_by_e_mail(staff, staff_client, second_dx, django_capture_on_commit_callbacks):
    for user, address in ((staff.section_admin, "kanri@city.example.jp"), (second_dx, "dx2@city.example.jp"),
                          (staff.dx_admin, "dx@city.example.jp"), (staff.handler, "tanto@city.example.jp")):
        user.email = address
        user.save()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _grant_in_admin(staff_client(staff.dx_admin), staff.no_role, section=staff.section)
    assert sorted(m.to[0] for m in mail.outbox) == ["dx2@city.example.jp", "kanri@city.example.jp"]
    body = mail.outbox[0].body
    assert "DX 管理 さんが、役割 なし さんに「担当」（こども政策課）" in body
    assert "/admin/backoffice/staffrole/?status__exact=pending" in body


def test_a_changed_role_waits_again_and_a_removal_is_logged(staff, staff_client, second_dx):
    grant = StaffRole.objects.get(user=staff.handler)
    client = staff_client(staff.dx_admin)
    response = client.post(f"{CHANGELIST}{grant.pk}/change/", {"user": staff.handler.pk, "role": Role.APPROVER,
                                                                  "section": staff.section.pk})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert (grant.role, grant.status) == (Role.APPROVER, GrantStatus.PENDING)
    change = AuditRecord.objects.get(action="admin_change", target=f"backoffice.staffrole:{grant.pk}")
    assert change.detail == {"model": "backoffice.StaffRole", "id": str(grant.pk), "fields": ["役割"]}
    client.post(f"{CHANGELIST}{grant.pk}/delete/", {"post": "yes"})
    assert not StaffRole.objects.filter(pk=grant.pk).exists()
    assert AuditRecord.objects.filter(action="role_revoke", target=f"role:{grant.pk}").exists()
    assert AuditRecord.objects.filter(action="admin_delete", target=f"backoffice.staffrole:{grant.pk}").exists()


def test_the_status_cannot_be_set_in_the_admin(staff, staff_client):
    client = staff_client(staff.dx_admin)
    client.post(f"{CHANGELIST}add/", {"user": staff.no_role.pk, "role": Role.HANDLER, "section": staff.section.pk,
                                      "status": GrantStatus.ACTIVE, "approved_by": staff.dx_admin.pk})
    grant = StaffRole.objects.get(user=staff.no_role)
    assert (grant.status, grant.approved_by) == (GrantStatus.PENDING, None)


# --- Authenticator keys ------------------------------------------------------------------


def _key_forms(device) -> list[str]:
    raw = bytes.fromhex(device.key)
    b32 = base64.b32encode(raw).decode()
    return [device.key, device.key.upper(), b32, b32.rstrip("=")]


def test_a_totp_key_is_never_shown(staff, staff_client):
    client = staff_client(staff.dx_admin)
    device = TOTPDevice.objects.get(user=staff.handler)
    pages = [
        client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/"),
        client.get("/admin/otp_totp/totpdevice/"),
        client.get("/admin/otp_totp/totpdevice/add/"),
        client.get(f"/admin/otp_totp/totpdevice/{device.pk}/history/"),
    ]
    assert [page.status_code for page in pages] == [200, 200, 200, 200]
    for page in pages:
        html = page.content.decode()
        for form in _key_forms(device):
            assert form not in html
        assert 'name="key"' not in html
    # The QR code carries the key: refused for a confirmed device.
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 403
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 403


def test_totp_device_changes_are_logged_by_name_only(staff, staff_client):
    client = staff_client(staff.dx_admin)
    response = client.post("/admin/otp_totp/totpdevice/add/", {
        "user": staff.no_role.pk, "name": "新しいスマートフォン", "step": 30, "t0": 0, "digits": 6, "tolerance": 1,
        "drift": 0, "throttling_failure_count": 0,
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    device = TOTPDevice.objects.get(user=staff.no_role, name="新しいスマートフォン")
    assert not device.confirmed and device.key
    # Unconfirmed: its QR code may be handed over once, and that is logged.
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 200
    device.confirmed = True
    device.save()
    pk = device.pk
    device.delete()
    actions = list(AuditRecord.objects.filter(target=f"otp:{pk}").order_by("id").values_list("action", flat=True))
    assert actions == ["otp_device_create", "otp_qrcode_view", "otp_device_change", "otp_device_delete"]
    assert AuditRecord.objects.get(action="otp_device_change").detail == {"owner": "yakuwari-nashi", "fields": ["confirmed"]}
    everything = " ".join(str(d) for d in AuditRecord.objects.values_list("detail", flat=True))
    for form in _key_forms(device):
        assert form not in everything
    # Signing in saves the device too (time step, throttling): that is no change.
    before = AuditRecord.objects.count()
    staff_device = TOTPDevice.objects.get(user=staff.handler)
    staff_device.throttle_increment()
    assert AuditRecord.objects.count() == before
    assert re.fullmatch(r"[0-9a-f]+", device.key)


def test_a_role_added_on_the_accounts_own_page_waits_too(staff, staff_client):
    me = staff.dx_admin
    response = staff_client(me).post(f"/admin/auth/user/{me.pk}/change/", {
        "username": me.username, "first_name": me.first_name, "last_name": me.last_name, "email": "",
        "is_active": "on", "is_staff": "on", "is_superuser": "on",
        "date_joined_0": "2026-04-01", "date_joined_1": "09:00:00",
        "staff_roles-TOTAL_FORMS": "2", "staff_roles-INITIAL_FORMS": "1",
        "staff_roles-MIN_NUM_FORMS": "0", "staff_roles-MAX_NUM_FORMS": "1000",
        "staff_roles-0-id": StaffRole.objects.get(user=me).pk, "staff_roles-0-user": me.pk,
        "staff_roles-0-role": Role.DX_ADMIN, "staff_roles-0-section": "", "staff_roles-0-department": "",
        "staff_roles-1-user": me.pk, "staff_roles-1-role": Role.APPROVER,
        "staff_roles-1-section": staff.section.pk, "staff_roles-1-department": "",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    grant = StaffRole.objects.get(user=me, role=Role.APPROVER)
    assert grant.status == GrantStatus.PENDING
    assert StaffRole.objects.get(user=me, role=Role.DX_ADMIN).status == GrantStatus.ACTIVE  # untouched
    assert selectors.section_ids(_fresh(me)) == set()
    assert AuditRecord.objects.filter(action="role_grant_request", target=f"role:{grant.pk}").exists()
    change = AuditRecord.objects.get(action="admin_change", target=f"auth.user:{me.pk}")
    assert "職員の役割（追加）" in change.detail["fields"]
