"""/staff/forms/files/: the template gallery, starting a form from a template, and form
files written and read in the builder, for the procedures the user may edit only."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tenohira.audit.models import AuditRecord
from tenohira.backoffice.models import Role, StaffRole
from tenohira.forms import interchange, library
from tenohira.forms.models import FormDefinition

pytestmark = pytest.mark.django_db

INDEX = "/staff/forms/files/"


def upload(data: bytes, name: str = "form.json"):
    return SimpleUploadedFile(name, data, content_type="application/json")


def test_gallery_lists_every_template_by_category(staff, staff_client):
    response = staff_client(staff.section_admin).get(INDEX)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    for template in library.templates():
        assert template.title in page
        assert f"/staff/forms/files/templates/{template.slug}/" in page
    for category, _items in library.by_category():
        assert f"<h3>{category}</h3>" in page
    # Only the procedures of the admin's own section are offered.
    assert staff.procedure.code in page and staff.second_procedure.code in page
    assert staff.other_procedure.name not in page


def test_template_preview_lists_steps_and_fields(staff, staff_client):
    response = staff_client(staff.section_admin).get("/staff/forms/files/templates/koseki/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "戸籍証明書等の交付請求" in page
    for step in library.get("koseki").schema["steps"]:
        assert step["title"] in page
    assert "本籍（1行の文字・必須）" in page and "種類（選択（1つ）・必須）" in page
    assert "このテンプレートで作る" in page
    assert staff_client(staff.section_admin).get("/staff/forms/files/templates/no_such/").status_code == 404


def test_use_a_template_starts_the_working_copy_and_opens_the_editor(staff, staff_client):
    client = staff_client(staff.section_admin)
    response = client.post(INDEX, {"action": "use", "template": "shimin_manzoku", "procedure": staff.second_procedure.code})
    assert response.status_code == 302
    assert response["Location"] == f"/staff/forms/{staff.second_procedure.code}/"
    definition = FormDefinition.objects.get(procedure=staff.second_procedure)
    assert definition.working_schema == library.get("shimin_manzoku").schema
    assert (definition.kind, definition.anonymous) == ("survey", True)
    assert definition.working_updated_by == staff.section_admin
    assert AuditRecord.objects.filter(action="forms.start_from_template", actor=staff.section_admin.username,
                                      target=f"procedure:{staff.second_procedure.code}").exists()


def test_a_working_copy_is_replaced_only_when_asked(staff, staff_client):
    client = staff_client(staff.section_admin)
    code = staff.procedure.code
    client.post(INDEX, {"action": "use", "template": "juminhyo", "procedure": code})
    response = client.post(INDEX, {"action": "use", "template": "koseki", "procedure": code})
    assert response.status_code == 409
    page = response.content.decode()
    assert "編集中のフォームがあります" in page
    assert f'<option value="{code}" selected>' in page  # the choice is kept
    definition = FormDefinition.objects.get(procedure=staff.procedure)
    assert definition.working_schema["title"] == library.get("juminhyo").schema["title"]
    response = client.post(INDEX, {"action": "use", "template": "koseki", "procedure": code, "replace": "1"})
    assert response.status_code == 302
    definition.refresh_from_db()
    assert definition.working_schema["title"] == library.get("koseki").schema["title"]


def test_export_published_and_working_copy_is_audited(staff, staff_client):
    client = staff_client(staff.section_admin)
    response = client.post(INDEX, {"action": "export", "procedure": staff.procedure.code, "which": "published"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment;" in response["Content-Disposition"] and "no-store" in response["Cache-Control"]
    loaded = interchange.load(response.content)
    assert loaded.schema == staff.form.schema
    assert loaded.meta["procedure"] == {"code": staff.procedure.code, "name": staff.procedure.name}
    record = AuditRecord.objects.get(action="forms.export")
    assert record.detail["which"] == "published" and record.detail["version"] == staff.form.number

    # No working copy yet: refused with the reason, the choice kept, nothing audited.
    response = client.post(INDEX, {"action": "export", "procedure": staff.procedure.code, "which": "working"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "編集中のフォームがありません" in page and 'id="which-working" name="which" value="working" checked' in page
    assert AuditRecord.objects.filter(action="forms.export").count() == 1


def test_import_a_file_into_the_working_copy(staff, staff_client):
    client = staff_client(staff.section_admin)
    data = (library.LIBRARY_DIR / "sodai_gomi.json").read_bytes()
    response = client.post(INDEX, {"action": "import", "procedure": staff.second_procedure.code, "form_file": upload(data)})
    assert response.status_code == 302 and response["Location"] == f"/staff/forms/{staff.second_procedure.code}/"
    definition = FormDefinition.objects.get(procedure=staff.second_procedure)
    assert definition.working_schema == json.loads(data)["form"]
    # Importing starts a working copy only: the published version is untouched.
    assert definition.published_version().schema == staff.second_form.schema
    assert AuditRecord.objects.filter(action="forms.import", actor=staff.section_admin.username).exists()


def test_import_refusal_lists_every_reason_and_keeps_the_choice(staff, staff_client):
    client = staff_client(staff.section_admin)
    document = json.loads((library.LIBRARY_DIR / "koseki.json").read_text(encoding="utf-8"))
    document["format_version"] = 1
    document["meta"]["kind"] = "poll"
    document["form"]["steps"][0]["fields"][0]["type"] = "signature_pad"
    del document["exported_at"]
    bad = json.dumps(document, ensure_ascii=False).encode()
    response = client.post(INDEX, {"action": "import", "procedure": staff.procedure.code, "replace": "1",
                                   "form_file": upload(bad, "戸籍.json")})
    assert response.status_code == 400
    page = response.content.decode()
    assert "読み込めませんでした（理由 3 件）" in page
    assert "必要な項目がありません: exported_at" in page
    assert "kind「poll」は使えません" in page
    assert "不明な項目の種類「signature_pad」" in page
    assert f'<option value="{staff.procedure.code}" selected>' in page
    assert 'id="import-procedure-replace" name="replace" value="1" checked' in page
    assert "選んだファイル: 戸籍.json" in page
    assert FormDefinition.objects.get(procedure=staff.procedure).working_schema is None

    # No procedure and no file: both reasons at once.
    response = client.post(INDEX, {"action": "import"})
    page = response.content.decode()
    assert "読み込む手続きを選んでください" in page
    assert "読み込むフォームファイルを選んでください" in page


def test_import_of_a_file_over_the_limit_is_refused_unread(staff, staff_client):
    client = staff_client(staff.section_admin)
    big = b" " * (interchange.MAX_BYTES + 10)
    response = client.post(INDEX, {"action": "import", "procedure": staff.procedure.code, "form_file": upload(big)})
    assert response.status_code == 400
    assert "大きすぎます" in response.content.decode()
    assert FormDefinition.objects.get(procedure=staff.procedure).working_schema is None


def test_scoped_to_the_procedures_the_user_may_edit(staff, staff_client):
    admin = staff_client(staff.section_admin)
    other = staff.other_procedure.code
    for data in ({"action": "use", "template": "juminhyo", "procedure": other},
                 {"action": "export", "procedure": other, "which": "published"},
                 {"action": "import", "procedure": other, "replace": "1",
                  "form_file": upload((library.LIBRARY_DIR / "juminhyo.json").read_bytes())}):
        response = admin.post(INDEX, data)
        assert response.status_code in {400, 409}, data
        assert staff.other_procedure.name not in response.content.decode()
    assert FormDefinition.objects.get(procedure=staff.other_procedure).working_schema is None
    assert not AuditRecord.objects.filter(action__in=["forms.export", "forms.import"]).exists()

    # Handlers, approvers and auditors build no forms: the pages are closed to them.
    for user in (staff.handler, staff.approver, staff.auditor):
        client = staff_client(user)
        assert client.get(INDEX).status_code == 403
        assert client.get("/staff/forms/files/templates/juminhyo/").status_code == 403
        assert client.post(INDEX, {"action": "export", "procedure": staff.procedure.code}).status_code == 403

    # The DX管理者 may use every procedure.
    dx = staff_client(staff.dx_admin)
    response = dx.post(INDEX, {"action": "export", "procedure": other, "which": "published"})
    assert response.status_code == 200 and interchange.load(response.content).schema == staff.other_form.schema
    # A section admin who gains a second section gets its procedures too.
    StaffRole.objects.create(user=staff.section_admin, role=Role.SECTION_ADMIN, section=staff.other_section)
    admin = staff_client(staff.section_admin)
    assert admin.post(INDEX, {"action": "export", "procedure": other, "which": "published"}).status_code == 200


def test_signed_out_is_sent_to_sign_in(anonymous_client):
    response = anonymous_client.get(INDEX)
    assert response.status_code == 302 and "/staff/login/" in response["Location"]
