"""フォーム作成 pages (/staff/forms/): who may open which procedure's builder, every action
as a plain POST (no JavaScript), the confirmation before removal, the preview through
the real engine, and publishing (refused with every problem, or version N+1 with the
difference shown)."""

from __future__ import annotations

import re

import pytest

from tenohira.audit.models import AuditRecord
from tenohira.forms.models import FormDefinition, FormVersion

pytestmark = pytest.mark.django_db


def _editing(client, code: str):
    """Open the builder for a procedure (from its live version when it has one)."""
    response = client.post("/staff/forms/", {"action": "start", "procedure": code, "mode": "live"})
    assert response.status_code == 302
    return FormDefinition.objects.get(procedure__code=code)


def _rev(definition) -> str:
    definition.refresh_from_db()
    return definition.working_updated_at.isoformat()


def _post(client, code, definition, **data):
    return client.post(f"/staff/forms/{code}/", {"revision": _rev(definition), **data})


# --- who may do what ----------------------------------------------------------------------


def test_list_shows_only_own_sections_procedures_with_state(staff, staff_client):
    client = staff_client(staff.section_admin)
    page = client.get("/staff/forms/").content.decode()
    assert staff.procedure.code in page and staff.second_procedure.code in page
    assert staff.other_procedure.code not in page
    assert "公開中 第" in page


def test_section_admin_of_another_section_gets_404(staff, staff_client):
    client = staff_client(staff.section_admin)
    for url in (f"/staff/forms/{staff.other_procedure.code}/", f"/staff/forms/{staff.other_procedure.code}/publish/",
                f"/staff/forms/{staff.other_procedure.code}/preview/"):
        assert client.get(url).status_code == 404
    response = client.post("/staff/forms/", {"action": "start", "procedure": staff.other_procedure.code, "mode": "scratch"})
    assert response.status_code == 404
    assert FormDefinition.objects.get(procedure=staff.other_procedure).working_schema is None


def test_handler_cannot_build(staff, staff_client):
    client = staff_client(staff.handler)
    assert client.get("/staff/forms/").content.decode().count("<tr>") <= 1  # header only: nothing to edit
    assert client.get(f"/staff/forms/{staff.procedure.code}/").status_code == 404
    response = client.post("/staff/forms/", {"action": "start", "procedure": staff.procedure.code, "mode": "scratch"})
    assert response.status_code == 404


def test_no_role_gets_403(staff, staff_client):
    assert staff_client(staff.no_role).get("/staff/forms/").status_code == 403


def test_dx_admin_sees_and_edits_every_section(staff, staff_client):
    client = staff_client(staff.dx_admin)
    page = client.get("/staff/forms/").content.decode()
    assert staff.procedure.code in page and staff.other_procedure.code in page
    _editing(client, staff.other_procedure.code)
    assert client.get(f"/staff/forms/{staff.other_procedure.code}/").status_code == 200


# --- every action without JavaScript ------------------------------------------------------


def test_start_from_live_then_add_edit_move_remove(staff, staff_client):
    client = staff_client(staff.section_admin)
    code = staff.procedure.code
    definition = _editing(client, code)
    assert definition.working_schema == definition.published_version().schema
    editor = client.get(f"/staff/forms/{code}/").content.decode()
    # Enter in a text input sends its form with the form's first button: a form with a
    # text input either has no remove button or starts with the hidden default.
    for form in re.findall(r"<form.*?</form>", editor, re.S):
        if re.search(r'<input class="input', form) and "remove_" in form:
            assert form.index("<button") == form.index('<button type="submit" class="default-submit"')

    response = _post(client, code, definition, action="add_step", step_title="確認事項")
    assert response.status_code == 302
    definition.refresh_from_db()
    new_step = definition.working_schema["steps"][-1]
    assert new_step["title"] == "確認事項" and new_step["fields"] == []

    key = new_step["key"]
    response = _post(client, code, definition, action=f"add_field:{key}", **{f"type_{key}": "choice", f"label_{key}": "受け取り方法"})
    assert response.status_code == 302
    definition.refresh_from_db()
    added = definition.working_schema["steps"][-1]["fields"][0]
    assert added["type"] == "choice" and added["label"] == "受け取り方法"

    # Move it up: it goes to the end of the page before.
    response = _post(client, code, definition, action=f"move_field:{added['key']}:up")
    definition.refresh_from_db()
    assert definition.working_schema["steps"][-2]["fields"][-1]["key"] == added["key"]
    # Move the page up.
    _post(client, code, definition, action=f"move_step:{key}:up")
    definition.refresh_from_db()
    assert [s["key"] for s in definition.working_schema["steps"]].index(key) == 1

    # 削除 asks first on a page of its own; nothing is removed yet.
    response = _post(client, code, definition, action=f"remove_field:{added['key']}")
    assert response.status_code == 200
    assert "を削除しますか" in response.content.decode()
    assert added["key"] in str(FormDefinition.objects.get(pk=definition.pk).working_schema)
    response = _post(client, code, definition, action=f"remove_field_confirmed:{added['key']}")
    assert response.status_code == 302
    definition.refresh_from_db()
    assert added["key"] not in {f["key"] for s in definition.working_schema["steps"] for f in s["fields"]}
    actions = set(AuditRecord.objects.filter(target=f"procedure:{code}").values_list("action", flat=True))
    assert {"forms.start_from_live", "forms.add_step", "forms.add_field", "forms.move", "forms.remove"} <= actions


def test_field_page_saves_choices_condition_and_fee(staff, staff_client):
    client = staff_client(staff.section_admin)
    code = staff.procedure.code
    definition = _editing(client, code)
    _post(client, code, definition, action="add_field:request", type_request="yesno", label_request="郵送を希望しますか")
    definition.refresh_from_db()
    yesno = definition.working_schema["steps"][1]["fields"][-1]["key"]
    _post(client, code, definition, action="add_field:request", type_request="text", label_request="送付先のメモ")
    definition.refresh_from_db()
    memo = definition.working_schema["steps"][1]["fields"][-1]["key"]
    response = client.post(f"/staff/forms/{code}/fields/{memo}/", {
        "revision": _rev(definition), "action": "save", "label": "送付先のメモ", "max_length": "50",
        "show_source": yesno, "show_op": "is", "show_value": ["yes"],
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    definition.refresh_from_db()
    saved = definition.working_schema["steps"][1]["fields"][-1]
    assert saved["show_if"] == {"field": yesno, "equals": True} and saved["max_length"] == 50

    # The fee: 通数 × 300 + 郵送料 200 picked from the terms.
    response = client.post(f"/staff/forms/{code}/fields/fee/", {
        "revision": _rev(definition), "action": "save", "label": "手数料", "yen": "1",
        "term_kind": ["field", "constant", ""], "term_field": ["copies", "", ""], "term_amount": ["300", "200", ""],
        "term_times": ["", "", ""],
    })
    assert response.status_code == 302
    definition.refresh_from_db()
    fee = next(f for f in definition.working_schema["steps"][1]["fields"] if f["key"] == "fee")
    assert fee["expression"] == {"add": [{"mul": [{"field": "copies"}, 300]}, 200]}


def test_bad_input_keeps_what_was_typed_and_changes_nothing(staff, staff_client):
    client = staff_client(staff.section_admin)
    code = staff.procedure.code
    definition = _editing(client, code)
    before = definition.working_schema
    response = client.post(f"/staff/forms/{code}/fields/copies/", {
        "revision": _rev(definition), "action": "save", "label": "部数（新）", "min": "10", "max": "1", "integer": "1",
    })
    assert response.status_code == 400
    page = response.content.decode()
    assert "最小値は最大値以下にしてください。" in page and 'value="部数（新）"' in page
    definition.refresh_from_db()
    assert definition.working_schema == before


def test_out_of_date_page_is_refused(staff, staff_client):
    client = staff_client(staff.section_admin)
    code = staff.procedure.code
    definition = _editing(client, code)
    old = _rev(definition)
    _post(client, code, definition, action="add_step", step_title="A")
    response = client.post(f"/staff/forms/{code}/", {"revision": old, "action": "add_step", "step_title": "B"}, follow=True)
    assert "ほかの職員がこのフォームを先に変更しました" in response.content.decode()
    definition.refresh_from_db()
    assert [s["title"] for s in definition.working_schema["steps"]][-1] == "A"


def test_window_is_saved_in_japan_time(staff, staff_client):
    client = staff_client(staff.section_admin)
    code = staff.procedure.code
    definition = _editing(client, code)
    response = client.post(f"/staff/forms/{code}/", {"action": "window", "opens": "2030-04-01T08:30", "closes": "令和12年5月1日"})
    assert response.status_code == 302
    definition.refresh_from_db()
    assert definition.opens_at.isoformat() == "2030-03-31T23:30:00+00:00"
    response = client.post(f"/staff/forms/{code}/", {"action": "window", "opens": "2030-04-01T08:30", "closes": "2030-03-01T00:00"})
    assert response.status_code == 400 and "受付終了は受付開始より後に" in response.content.decode()


def test_new_survey_in_own_section(staff, staff_client):
    client = staff_client(staff.section_admin)
    response = client.post("/staff/forms/", {"action": "survey", "name": "子育て支援アンケート", "section": staff.section.pk,
                                             "anonymous": "1"})
    assert response.status_code == 302
    definition = FormDefinition.objects.get(procedure__name="子育て支援アンケート")
    assert definition.kind == "survey" and definition.anonymous and definition.procedure.code.startswith("Q")
    refused = client.post("/staff/forms/", {"action": "survey", "name": "よそのアンケート", "section": staff.other_section.pk})
    assert refused.status_code == 400 and "所属を選んでください" in refused.content.decode()
    empty = client.post("/staff/forms/", {"action": "survey", "name": "", "section": staff.section.pk})
    assert empty.status_code == 400 and "アンケートの名前を入力してください" in empty.content.decode()


# --- preview and publishing ---------------------------------------------------------------


def test_preview_steps_through_with_conditions_and_stores_nothing(staff, staff_client):
    from tenohira.applications.models import Draft, Submission

    client = staff_client(staff.section_admin)
    code = staff.procedure.code
    _editing(client, code)
    drafts, submissions = Draft.objects.count(), Submission.objects.count()
    start = client.get(f"/staff/forms/{code}/preview/")
    assert start.status_code == 200 and start["X-Frame-Options"] == "SAMEORIGIN"
    page = client.get(f"/staff/forms/{code}/preview/applicant/")
    assert page.status_code == 200 and "氏名" in page.content.decode()
    response = client.post(f"/staff/forms/{code}/preview/applicant/", {"action": "continue"})
    assert response.status_code == 400 and "氏名を入力してください" in response.content.decode()
    response = client.post(f"/staff/forms/{code}/preview/applicant/", {
        "action": "continue", "applicant__family": "山田", "applicant__given": "花子",
        "applicant__family_kana": "やまだ", "applicant__given_kana": "はなこ", "email": "h@example.jp",
    })
    assert response.status_code == 302 and response["Location"].endswith("/preview/request/")
    response = client.post(f"/staff/forms/{code}/preview/request/", {"action": "continue", "reason": "テスト", "copies": "3"})
    assert response.status_code == 302 and response["Location"].endswith("/preview-check/")
    check = client.get(f"/staff/forms/{code}/preview-check/").content.decode()
    assert "900円" in check and "送信はできません" in check
    assert Draft.objects.count() == drafts and Submission.objects.count() == submissions


def test_publish_refuses_with_every_problem(staff, staff_client):
    client = staff_client(staff.section_admin)
    code = staff.procedure.code
    definition = _editing(client, code)
    _post(client, code, definition, action="add_step", step_title="空のページ")
    definition.refresh_from_db()
    _post(client, code, definition, action="add_field:request", type_request="multichoice", label_request="")
    definition.refresh_from_db()
    multi = definition.working_schema["steps"][1]["fields"][-1]["key"]
    client.post(f"/staff/forms/{code}/fields/{multi}/", {
        "revision": _rev(definition), "action": "save", "label": "受け取る書類", "choice_label": ["", ""], "choice_value": ["c1", "c2"],
    })
    page = client.get(f"/staff/forms/{code}/publish/").content.decode()
    assert "ページ「空のページ」に項目が1つもありません" in page
    assert "「受け取る書類」の選択肢が1つもありません" in page
    response = client.post(f"/staff/forms/{code}/publish/", {"revision": _rev(definition)})
    assert response.status_code == 400
    assert FormVersion.objects.filter(definition=definition).count() == 1


def test_publish_creates_next_version_with_difference(staff, staff_client):
    client = staff_client(staff.section_admin)
    code = staff.procedure.code
    definition = _editing(client, code)
    live = definition.published_version().number
    response = _post(client, code, definition, action="label:copies", label="部数")
    assert response.status_code == 302
    page = client.get(f"/staff/forms/{code}/publish/").content.decode()
    assert "「通数」のラベルを「通数」から「部数」に変更" in page
    response = client.post(f"/staff/forms/{code}/publish/", {"revision": _rev(definition)}, follow=True)
    assert f"第{live + 1}版を公開しました" in response.content.decode()
    version = definition.published_version()
    assert version.number == live + 1
    assert version.schema["steps"][1]["fields"][2]["label"] == "部数"
    assert AuditRecord.objects.filter(action="forms.publish", target=f"procedure:{code}").exists()


def test_json_actions_for_the_script(staff, staff_client):
    client = staff_client(staff.section_admin)
    code = staff.procedure.code
    definition = _editing(client, code)
    response = client.post(f"/staff/forms/{code}/", {"revision": _rev(definition), "action": "move_to", "field": "fee",
                                                     "step": "applicant", "position": "0"}, HTTP_X_REQUESTED_WITH="builder")
    assert response.status_code == 200 and response.json()["ok"]
    definition.refresh_from_db()
    assert definition.working_schema["steps"][0]["fields"][0]["key"] == "fee"
    response = client.post(f"/staff/forms/{code}/", {"revision": _rev(definition), "action": "label:fee", "label": ""},
                           HTTP_X_REQUESTED_WITH="builder")
    assert response.status_code == 400 and "項目名を入力してください" in response.json()["error"]
