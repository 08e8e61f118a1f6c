"""The pull API's clients in the admin: added with the key and secret shown once on the
answer page (no-store, never in a message, cookie or log), working with the API at once;
new credentials end the old ones; deactivating ends tokens too; each step audited."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from tenohira.audit.models import AuditRecord
from tenohira.integrations.models import IntegrationClient
from tests.support.integrations import make_world, staff_client


@pytest.fixture
def world(db):
    return make_world()


def _shown(html: str) -> dict[str, str]:
    found = dict(re.findall(r'<th scope="row">(client_id|client_secret|APIキー)</th><td><code>([^<]+)</code>', html))
    return {"client_id": found["client_id"], "secret": found["client_secret"], "api_key": found["APIキー"]}


def _token(api, client_id: str, secret: str):
    body = urlencode({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    return api.post("/api/v1/integration/token", body, content_type="application/x-www-form-urlencoded")


def _add(client, world) -> tuple[IntegrationClient, dict, object]:
    response = client.post("/admin/integrations/integrationclient/add/", {
        "name": "住民記録システム", "sections": [world.section.pk],
        "scopes": ["submissions:read", "submissions:ack"],
    })
    assert response.status_code == 200, response.content.decode()[:2000]
    return IntegrationClient.objects.get(name="住民記録システム"), _shown(response.content.decode()), response


def test_a_client_added_in_the_admin_shows_its_secrets_once_and_works(world):
    admin = staff_client(world.dx_admin)
    row, shown, response = _add(admin, world)
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies.get("messages")
    assert row.client_id == shown["client_id"] and row.scopes == ["submissions:ack", "submissions:read"]
    assert list(row.sections.all()) == [world.section] and row.created_by == world.dx_admin
    assert shown["api_key"] not in str(row.__dict__) and shown["secret"] not in str(row.__dict__)
    assert AuditRecord.objects.filter(action="integration_client_create", target=f"integrations.client:{row.client_id}").exists()
    assert not AuditRecord.objects.filter(detail__icontains=shown["secret"]).exists()

    api = admin.__class__(HTTP_HOST="localhost")
    listed = api.get("/api/v1/integration/submissions", HTTP_AUTHORIZATION=f"Bearer {shown['api_key']}")
    assert listed.status_code == 200
    token = _token(api, shown["client_id"], shown["secret"])
    assert token.status_code == 200

    # The change page never shows the key again: only its first characters.
    page = admin.get(f"/admin/integrations/integrationclient/{row.pk}/change/").content.decode()
    assert shown["api_key"] not in page and shown["api_key"][:12] in page and shown["secret"] not in page


def test_new_credentials_end_the_old_ones_and_deactivating_ends_everything(world):
    admin = staff_client(world.dx_admin)
    row, old, _response = _add(admin, world)
    api = admin.__class__(HTTP_HOST="localhost")
    bearer = _token(api, old["client_id"], old["secret"]).json()["access_token"]

    rotated = admin.post("/admin/integrations/integrationclient/", {
        "action": "issue_new_credentials", "_selected_action": [row.pk],
    })
    assert rotated.status_code == 200 and "no-store" in rotated["Cache-Control"]
    new = _shown(rotated.content.decode())
    assert new["client_id"] == old["client_id"] and new["api_key"] != old["api_key"]
    assert api.get("/api/v1/integration/submissions", HTTP_AUTHORIZATION=f"Bearer {old['api_key']}").status_code == 401
    assert api.get("/api/v1/integration/submissions", HTTP_AUTHORIZATION=f"Bearer {bearer}").status_code == 401
    assert api.get("/api/v1/integration/submissions", HTTP_AUTHORIZATION=f"Bearer {new['api_key']}").status_code == 200
    assert AuditRecord.objects.filter(action="integration_client_rotate").count() == 1

    admin.post("/admin/integrations/integrationclient/", {"action": "deactivate", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert not row.is_active
    assert api.get("/api/v1/integration/submissions", HTTP_AUTHORIZATION=f"Bearer {new['api_key']}").status_code == 401
    assert AuditRecord.objects.filter(action="integration_client_deactivate").count() == 1


def test_a_client_needs_a_section_and_a_scope(world):
    admin = staff_client(world.dx_admin)
    response = admin.post("/admin/integrations/integrationclient/add/", {"name": "税システム", "sections": [], "scopes": []})
    page = response.content.decode()
    assert response.status_code == 200 and "所属を1つ以上選んでください" in page and "権限を1つ以上選んでください" in page
    assert "税システム" in page  # what was typed is kept
    assert not IntegrationClient.objects.exists()


def test_section_staff_cannot_reach_the_page(world):
    response = staff_client(world.handler).get("/admin/integrations/integrationclient/add/")
    assert response.status_code in (302, 403)
