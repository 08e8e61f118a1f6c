"""フォーム作成 (the form builder): staff pages under /staff/forms/.

Thin views: every page reads the procedure through backoffice.selectors.form_procedure_for
(所属管理者 for their sections, DX管理者 for all; anyone else gets 404), every change is a
forms.builder operation applied by forms.services.edit_working_copy (locked, audited, and
refused when the page was out of date). Every action is a POST from a button and works
without JavaScript; builder.js only adds drag reordering, inline label editing and a
preview that refreshes itself.

The preview runs the working copy through the resident's own engine and field templates
(forms.engine, forms.rendering, forms/fields/*): what was typed there lives in the staff
member's session only, never as a draft or a submission.
"""

from __future__ import annotations

import datetime as dt
import json

from csp.decorators import csp_replace
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_http_methods, require_POST

from tenohira.backoffice import selectors
from tenohira.backoffice.auth import staff_required
from tenohira.core.fiscal import JST, local
from tenohira.forms import builder, editing
from tenohira.forms import services as form_services
from tenohira.forms.builder import BuilderError
from tenohira.forms.engine import FormRun, display, raw_from_post
from tenohira.forms.models import FormDefinition
from tenohira.forms.rendering import bind_step, error_summary
from tenohira.forms.schema import SchemaError, parse

STALE = "ほかの職員がこのフォームを先に変更しました。最新の内容を表示していますので、もう一度操作してください。"
PREVIEW_SESSION_KEY = "form_builder_preview"


def _definition(procedure) -> FormDefinition | None:
    return FormDefinition.objects.filter(procedure=procedure).first()


def _editing(request, code: str) -> tuple:
    """(procedure, definition with a working copy) or 404 for anyone who may not edit it."""
    procedure = selectors.form_procedure_for(request.user, code)
    definition = _definition(procedure)
    if definition is None or definition.working_schema is None:
        raise Http404("no working copy")
    return procedure, definition


def _editor_url(code: str, anchor: str = "") -> str:
    url = reverse("forms:editor", args=[code])
    return f"{url}#{anchor}" if anchor else url


def _wants_json(request) -> bool:
    return request.headers.get("X-Requested-With") == "builder"


# --- the list -----------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def index(request):
    """Procedures the user may build forms for, with each form's state, and the starts."""
    user = request.user
    survey_error, survey_typed = "", {}
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "start":
            procedure = selectors.form_procedure_for(user, request.POST.get("procedure", "")[:20])
            return _start(request, procedure, request.POST.get("mode", ""))
        if action == "survey":
            survey_typed = {"name": request.POST.get("name", "")[:300], "section": request.POST.get("section", "")[:20],
                            "anonymous": bool(request.POST.get("anonymous"))}
            section = selectors.form_sections_for(user).filter(pk=_int(survey_typed["section"])).first()
            if section is None:
                survey_error = "アンケートを置く所属を選んでください。"
            else:
                try:
                    definition = form_services.create_survey(section, survey_typed["name"], user=user,
                                                             anonymous=survey_typed["anonymous"])
                except BuilderError as exc:
                    survey_error = str(exc)
                else:
                    messages.success(request, f"アンケート「{definition.procedure.name}」（{definition.procedure.code}）を作りました。")
                    return HttpResponseRedirect(_editor_url(definition.procedure.code))
    procedures = list(selectors.form_procedures_for(user).order_by("section__department__order", "section__order", "code"))
    definitions = {d.procedure_id: d for d in FormDefinition.objects.filter(procedure__in=procedures)}
    live = _live_numbers(definitions.values())
    rows = []
    for procedure in procedures:
        definition = definitions.get(procedure.pk)
        number = live.get(definition.pk) if definition else None
        editing_now = bool(definition and definition.working_schema is not None)
        state = "なし"
        if editing_now:
            state = "編集中" + (f"（公開中 第{number}版）" if number else "")
        elif number:
            state = f"公開中 第{number}版"
        rows.append({"procedure": procedure, "state": state, "editing": editing_now, "live": number,
                     "kind": definition.get_kind_display() if definition else ""})
    return render(request, "backoffice/forms/index.html", {
        "rows": rows, "sections": selectors.form_sections_for(user).order_by("department__order", "order"),
        "survey_error": survey_error, "survey_typed": survey_typed,
    }, status=400 if survey_error else 200)


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def _live_numbers(definitions) -> dict[int, int]:
    from django.db.models import Max

    from tenohira.forms.models import FormVersion

    return dict(
        FormVersion.objects.filter(definition__in=list(definitions), status=FormVersion.Status.PUBLISHED)
        .values("definition").annotate(n=Max("number")).values_list("definition", "n")
    )


def _start(request, procedure, mode: str):
    definition = _definition(procedure)
    if definition is not None and definition.working_schema is not None:
        return HttpResponseRedirect(_editor_url(procedure.code))  # already being edited: open it
    live = definition.published_version() if definition else None
    if mode == "live" and live is not None:
        schema, action, note = live.schema, "forms.start_from_live", f"公開中の第{live.number}版から編集を始めました。"
    else:
        schema, action, note = builder.new_schema(procedure.name), "forms.start", "新しいフォームを作り始めました。"
    form_services.start_working_copy(procedure, schema, user=request.user, action=action)
    messages.success(request, note)
    return HttpResponseRedirect(_editor_url(procedure.code))


# --- the editor ---------------------------------------------------------------------------


def _field_rows(schema: dict) -> list[dict]:
    steps = []
    for step in builder.steps_of(schema):
        rows = []
        for fld in step.get("fields") or []:
            if not isinstance(fld, dict):
                continue
            row = _field_row(schema, fld, fld.get("key", ""))
            row["children"] = [_field_row(schema, c, f"{fld.get('key')}.{c.get('key')}")
                               for c in fld.get("fields") or [] if isinstance(c, dict)] if fld.get("type") == "group" else []
            rows.append(row)
        steps.append({"key": step.get("key"), "title": step.get("title") or "（見出しなし）", "fields": rows,
                      "condition": builder.describe_condition(schema, step.get("show_if"))})
    return steps


def _field_row(schema: dict, fld: dict, path: str) -> dict:
    notes = []
    if fld.get("required"):
        notes.append("必須")
    if fld.get("required_if"):
        notes.append("必須になる条件: " + builder.describe_condition(schema, fld["required_if"]))
    if fld.get("show_if"):
        notes.append("表示条件: " + builder.describe_condition(schema, fld["show_if"]))
    if fld.get("type") == "computed":
        notes.append("計算式: " + builder.describe_expression(schema, fld.get("expression")))
    if fld.get("type") in {"choice", "multichoice"}:
        notes.append("選択肢: " + "、".join(str(c.get("label")) for c in (fld.get("choices") or [])[:8] if isinstance(c, dict))
                     + ("…" if len(fld.get("choices") or []) > 8 else ""))
    return {"path": path, "key": fld.get("key"), "label": builder.label_of(fld), "type": fld.get("type"),
            "type_label": builder.TYPE_LABELS.get(fld.get("type"), fld.get("type")), "notes": notes,
            "anchor": builder.anchor_of(path), "is_guidance": fld.get("type") == "guidance"}


def _window_value(moment) -> str:
    return local(moment).strftime("%Y-%m-%dT%H:%M") if moment else ""


def _parse_moment(text: str, what: str):
    """「2025-04-01T08:30」 (the browser's date-time input), 「2025-04-01 08:30」 or a date
    (令和7年4月1日 as well), read as Japan time; "" → None."""
    from tenohira.core.wareki import WarekiError, parse_date

    text = (text or "")[:40].strip()
    if not text:
        return None
    for pattern in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"):
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=JST)
        except ValueError:
            pass
    try:
        return dt.datetime.combine(parse_date(text), dt.time(0, 0), tzinfo=JST)
    except WarekiError:
        raise BuilderError(f"{what}は 2025-04-01 08:30 のように入力してください（日付だけなら令和7年4月1日も可）。") from None


def _editor_context(request, procedure, definition, **extra) -> dict:
    schema = definition.working_schema
    live = definition.published_version()
    found = builder.problems(schema)
    return {
        "procedure": procedure, "definition": definition, "schema": schema, "steps": _field_rows(schema),
        "problems": [p for p in found if p.blocking], "warnings": [p for p in found if not p.blocking],
        "revision": form_services.revision_of(definition), "types": builder.TYPE_LABELS.items(),
        "live": live, "emails": [(p, builder.label_of(f)) for p, f, _s, g in builder.walk_fields(schema)
                                 if g is None and f.get("type") == "email"],
        "window": {"opens": _window_value(definition.opens_at), "closes": _window_value(definition.closes_at)},
        "settings": {"title": schema.get("title", ""), "intro": schema.get("intro", ""),
                     "you_need": "\n".join(schema.get("you_need") or []), "minutes": schema.get("minutes") or "",
                     "consent_label": (schema.get("consent") or {}).get("label", ""),
                     "consent_text": (schema.get("consent") or {}).get("text", ""),
                     "email_field": schema.get("email_field", "")},
        **extra,
    }


@staff_required
@require_http_methods(["GET", "POST"])
def editor(request, procedure_code: str):
    code = procedure_code
    procedure, definition = _editing(request, code)
    if request.method == "GET":
        return render(request, "backoffice/forms/editor.html", _editor_context(request, procedure, definition))
    action = request.POST.get("action", "")[:200]
    kind, _sep, rest = action.partition(":")
    # 削除 asks first, on a page of its own (with JavaScript, in the browser's dialog).
    if kind in {"remove_field", "remove_step"}:
        return _confirm_removal(request, procedure, definition, kind, rest)
    revision = request.POST.get("revision", "")[:64]
    typed: dict = {}
    if kind == "window":
        return _window(request, procedure, definition)
    try:
        change, note, anchor, audit = _editor_change(request, kind, rest, typed)
        result = form_services.edit_working_copy(definition, change, user=request.user, revision=revision,
                                                 action=f"forms.{audit}", detail={"action": action[:100]})
    except form_services.StaleWorkingCopy:
        if _wants_json(request):
            return JsonResponse({"ok": False, "error": STALE}, status=409)
        messages.error(request, STALE)
        return HttpResponseRedirect(_editor_url(code))
    except BuilderError as exc:
        if _wants_json(request):
            return JsonResponse({"ok": False, "error": str(exc)}, status=400)
        definition.refresh_from_db()
        # What was typed stays in the inputs, with the message by the form it came from.
        context = _editor_context(request, procedure, definition, error=str(exc), error_at=kind, typed=typed)
        if kind == "settings":
            context["settings"] = {**context["settings"], **typed}
        return render(request, "backoffice/forms/editor.html", context, status=400)
    if _wants_json(request):
        return JsonResponse({"ok": True, "revision": form_services.revision_of(definition),
                             "problems": len(builder.blocking(definition.working_schema))})
    if kind in {"add_field", "add_child"} and result:
        anchor = builder.anchor_of(result)
    messages.success(request, note if not callable(note) else note(result))
    return HttpResponseRedirect(_editor_url(code, anchor))


def _window(request, procedure, definition):
    """受付期間: stored on the definition (not in the schema), so it applies at once."""
    typed = {"opens": request.POST.get("opens", "")[:40], "closes": request.POST.get("closes", "")[:40]}
    try:
        opens = _parse_moment(typed["opens"], "受付開始")
        closes = _parse_moment(typed["closes"], "受付終了")
        if opens and closes and closes <= opens:
            raise BuilderError("受付終了は受付開始より後にしてください。")
    except BuilderError as exc:
        context = _editor_context(request, procedure, definition, error=str(exc), error_at="window", window=typed)
        return render(request, "backoffice/forms/editor.html", context, status=400)
    form_services.set_window_by(definition, opens, closes, user=request.user)
    messages.success(request, "受付期間を保存しました。")
    return HttpResponseRedirect(_editor_url(procedure.code, "form-window"))


def _editor_change(request, kind: str, rest: str, typed: dict):
    """(change(schema), message, anchor, audit action) for a button of the editor page."""
    post = request.POST
    if kind == "settings":
        typed.update({name: post.get(name, "")[:builder.MAX_TEXT + 1] for name in
                      ("title", "intro", "you_need", "minutes", "consent_label", "consent_text", "email_field")})
        return (lambda s: builder.edit_form(s, typed)), "フォームの設定を保存しました。", "form-settings", "edit_settings"
    if kind == "add_step":
        typed["step_title"] = post.get("step_title", "")[:builder.MAX_LABEL + 1]
        return ((lambda s: builder.add_step(s, typed["step_title"])),
                (lambda key: "ページを追加しました。"), "steps-end", "add_step")
    if kind in {"add_field", "add_child"}:
        step_key, _sep, group = rest.partition(":")
        ftype = post.get(f"type_{rest}", "")[:20]
        label = post.get(f"label_{rest}", "")[:builder.MAX_LABEL + 1]
        typed.update({"add_at": rest, "type": ftype, "label": label})
        return ((lambda s: builder.add_field(s, step_key, ftype, label, group=group)),
                (lambda path: f"項目「{label or builder.TYPE_LABELS.get(ftype, '')}」を追加しました。"
                 "「編集」から選択肢や条件を設定できます。"), "", "add_field")
    if kind in {"move_field", "move_step"}:
        target, _sep, direction = rest.rpartition(":")
        delta = -1 if direction == "up" else 1
        if kind == "move_field":
            return (lambda s: builder.move_field(s, target, delta)), "項目を移動しました。", builder.anchor_of(target), "move"
        return (lambda s: builder.move_step(s, target, delta)), "ページを移動しました。", f"step-{target}", "move"
    if kind == "move_to":
        path, step_key = post.get("field", "")[:90], post.get("step", "")[:45]
        position = _int(post.get("position", "")[:5]) or 0
        return (lambda s: builder.move_field_to(s, path, step_key, position)), "項目を移動しました。", builder.anchor_of(path), "move"
    if kind == "label":
        label = post.get("label", "")[:builder.MAX_TEXT + 1]
        return (lambda s: builder.set_label(s, rest, label)), "項目名を変更しました。", builder.anchor_of(rest), "edit_field"
    if kind == "remove_field_confirmed":
        return (lambda s: builder.remove_field(s, rest)), (lambda f: f"項目「{builder.label_of(f)}」を削除しました。"), "", "remove"
    if kind == "remove_step_confirmed":
        return (lambda s: builder.remove_step(s, rest)), (lambda st: f"ページ「{st.get('title')}」を削除しました。"), "", "remove"
    raise BuilderError("この操作はできません。ページを読み込み直してください。")


def _confirm_removal(request, procedure, definition, kind: str, target: str):
    schema = definition.working_schema
    try:
        if kind == "remove_field":
            fld, step, parent = builder.find_field(schema, target)
            question = f"項目「{builder.label_of(fld)}」を削除しますか？"
            what = [f"ページ「{step.get('title')}」" + (f" の繰り返し項目「{builder.label_of(parent)}」" if parent else "")]
            if fld.get("type") == "group":
                what.append(f"中の項目{len(fld.get('fields') or [])}つも一緒に削除されます。")
            users = [builder.label_of(f) for p, f, _s, _g in builder.walk_fields(schema)
                     if p != target and target in json.dumps([f.get("show_if"), f.get("required_if"), f.get("expression")])]
        else:
            step = builder.find_step(schema, target)
            question = f"ページ「{step.get('title')}」を削除しますか？"
            what = [f"このページの項目{len(step.get('fields') or [])}つも一緒に削除されます。"]
            users = []
    except BuilderError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(_editor_url(procedure.code))
    if users:
        what.append("次の項目の条件や計算式がこの項目を使っています（削除すると、公開の前に直す必要があります）: "
                    + "、".join(f"「{u}」" for u in users))
    return render(request, "backoffice/forms/remove_confirm.html", {
        "procedure": procedure, "question": question, "what": what, "action": f"{kind}_confirmed:{target}",
        "revision": form_services.revision_of(definition), "back_url": _editor_url(procedure.code),
    })


# --- one field, one page ------------------------------------------------------------------


def _picker_state(schema: dict, condition, data=None, prefix: str = "show") -> dict:
    if data is not None:
        return {"source": data.get(f"{prefix}_source", "")[:80], "op": data.get(f"{prefix}_op", "")[:20],
                "values": data.getlist(f"{prefix}_value")[:builder.MAX_CHOICES],
                "keep": data.get(f"{prefix}_keep") == "1", "described": builder.describe_condition(schema, condition)}
    picked = builder.condition_picker(condition)
    if picked is None:
        return {"source": "", "op": "", "values": [], "keep": True, "described": builder.describe_condition(schema, condition)}
    return {**picked, "keep": False, "described": builder.describe_condition(schema, condition)}


def _field_state(schema: dict, fld: dict, data=None) -> dict:
    """What the field page's inputs hold: the stored field, or what was just typed."""
    if data is not None:
        values = {name: data.get(name, "")[:builder.MAX_TEXT + 1] for name in data if not name.startswith(("choice_", "term_", "csrf"))}
        values["accept"] = data.getlist("accept")[:10]
        choices = list(zip(data.getlist("choice_label")[:builder.MAX_CHOICES + 5],
                           data.getlist("choice_value")[:builder.MAX_CHOICES + 5],
                           data.getlist("choice_fee")[:builder.MAX_CHOICES + 5], strict=False))
        terms = [dict(zip(("kind", "field", "amount", "times"), row, strict=False)) for row in zip(
            data.getlist("term_kind")[:builder.MAX_TERMS + 2], data.getlist("term_field")[:builder.MAX_TERMS + 2],
            data.getlist("term_amount")[:builder.MAX_TERMS + 2], data.getlist("term_times")[:builder.MAX_TERMS + 2], strict=False)]
        values["expression_keep"] = data.get("expression_keep") == "1"
    else:
        values = {k: v for k, v in fld.items() if not isinstance(v, dict | list)}
        values["accept"] = fld.get("accept") or ["jpeg", "png", "heic", "pdf"]
        values["yen"] = fld.get("format") == "yen"
        values["integer"] = fld.get("integer", True)
        values["kana"] = fld.get("kana", True)
        choices = [(str(c.get("label", "")), str(c.get("value", "")), "" if c.get("fee") is None else str(c.get("fee")))
                   for c in fld.get("choices") or [] if isinstance(c, dict)]
        terms = builder.expression_terms(fld.get("expression")) if fld.get("type") == "computed" else []
        values["expression_keep"] = terms is None
        terms = terms or []
    choices = [{"label": c[0], "value": c[1], "fee": c[2] if len(c) > 2 else ""} for c in choices if c[0] or c[1]]
    choices += [{"label": "", "value": "", "fee": ""}] * 3  # blank rows add choices
    terms = [t for t in terms if t.get("kind")] + [{"kind": "", "field": "", "amount": "", "times": ""}] * 2
    return {"values": values, "choices": choices, "terms": terms[:builder.MAX_TERMS]}


def _save_field(request, definition, path: str) -> tuple[str, int]:
    """("", 200) when stored, else the message and status (what was typed is shown again)."""
    try:
        form_services.edit_working_copy(
            definition, lambda s: builder.edit_field(s, path, request.POST), user=request.user,
            revision=request.POST.get("revision", "")[:64], action="forms.edit_field", detail={"field": path[:90]},
        )
    except form_services.StaleWorkingCopy:
        definition.refresh_from_db()
        return STALE, 409
    except BuilderError as exc:
        return str(exc), 400
    return "", 200


@staff_required
@require_http_methods(["GET", "POST"])
def field(request, procedure_code: str, field_key: str):
    code, path = procedure_code, field_key
    procedure, definition = _editing(request, code)
    schema = definition.working_schema
    try:
        fld, step, parent = builder.find_field(schema, path[:90])
    except BuilderError:
        raise Http404("no such field") from None
    data, error, status = None, "", 200
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action == "remove":
            return _confirm_removal(request, procedure, definition, "remove_field", path)
        if action == "refresh":
            # 「この項目の答えを表示」 (without JavaScript): show the chosen field's answers
            # to pick from, with everything typed kept; nothing is stored yet.
            data = request.POST
        else:
            error, status = _save_field(request, definition, path)
            if not error:
                saved = builder.find_field(definition.working_schema, path)[0]
                messages.success(request, f"項目「{builder.label_of(saved)}」を保存しました。")
                return HttpResponseRedirect(_editor_url(code, builder.anchor_of(path)))
            data = request.POST
        schema = definition.working_schema
        fld, step, parent = builder.find_field(schema, path)
    state = _field_state(schema, fld, data)
    sources = builder.condition_sources(schema, before=path)
    return render(request, "backoffice/forms/field.html", {
        "procedure": procedure, "definition": definition, "field": fld, "path": path, "step": step, "parent": parent,
        "type_label": builder.TYPE_LABELS.get(fld.get("type"), fld.get("type")), "state": state, "v": state["values"],
        "show": _picker_state(schema, fld.get("show_if"), data, "show"),
        "req": _picker_state(schema, fld.get("required_if"), data, "req"),
        "sources": sources, "sources_json": json.dumps({s["path"]: s["choices"] for s in sources}, ensure_ascii=False),
        "term_kinds": builder.TERM_KINDS.items(), "term_sources": builder.term_sources(schema, path),
        "expression_words": builder.describe_expression(schema, fld.get("expression")) if fld.get("type") == "computed" else "",
        "file_types": builder.FILE_TYPES.items(), "revision": form_services.revision_of(definition), "error": error,
        "back_url": _editor_url(code, builder.anchor_of(path)),
    }, status=status)


def _save_step(request, definition, key: str):
    try:
        form_services.edit_working_copy(
            definition, lambda s: builder.edit_step(s, key, request.POST), user=request.user,
            revision=request.POST.get("revision", "")[:64], action="forms.edit_step", detail={"step": key[:45]},
        )
    except form_services.StaleWorkingCopy:
        definition.refresh_from_db()
        return request.POST, STALE, 409
    except BuilderError as exc:
        return request.POST, str(exc), 400
    return None, "", 200


@staff_required
@require_http_methods(["GET", "POST"])
def step(request, procedure_code: str, step_key: str):
    code, key = procedure_code, step_key
    procedure, definition = _editing(request, code)
    schema = definition.working_schema
    try:
        current = builder.find_step(schema, key[:45])
    except BuilderError:
        raise Http404("no such step") from None
    data, error, status = None, "", 200
    if request.method == "POST":
        if request.POST.get("action") == "remove":
            return _confirm_removal(request, procedure, definition, "remove_step", key)
        if request.POST.get("action") == "refresh":
            data = request.POST
        else:
            data, error, status = _save_step(request, definition, key)
            if data is None:
                messages.success(request, "ページを保存しました。")
                return HttpResponseRedirect(_editor_url(code, f"step-{key}"))
    typed = {"title": data.get("title", "")[:builder.MAX_LABEL + 1], "description": data.get("description", "")[:builder.MAX_TEXT + 1]} if data else \
        {"title": current.get("title", ""), "description": current.get("description", "")}
    sources = builder.condition_sources(schema, before_step=key)
    return render(request, "backoffice/forms/step.html", {
        "procedure": procedure, "step": current, "typed": typed, "show": _picker_state(schema, current.get("show_if"), data),
        "sources": sources, "sources_json": json.dumps({s["path"]: s["choices"] for s in sources}, ensure_ascii=False),
        "revision": form_services.revision_of(definition), "error": error, "back_url": _editor_url(code, f"step-{key}"),
        "first": builder.steps_of(schema)[0] is current,
    }, status=status)


# --- publishing ---------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def publish(request, procedure_code: str):
    code = procedure_code
    procedure, definition = _editing(request, code)
    status, refused = 200, []
    if request.method == "POST":
        if request.POST.get("revision", "")[:64] != form_services.revision_of(definition):
            messages.error(request, "公開の確認のあとでフォームが変更されました。変更点をもう一度確かめてください。")
            return HttpResponseRedirect(reverse("forms:publish", args=[code]))
        try:
            version, created = form_services.publish_working_copy(definition, user=request.user)
        except SchemaError as exc:
            refused, status = exc.errors, 400
        else:
            if created:
                messages.success(request, f"第{version.number}版を公開しました。これから始める申請はこの版になります。")
            else:
                messages.info(request, f"公開中の第{version.number}版と同じ内容のため、新しい版は作りませんでした。")
            return HttpResponseRedirect(_editor_url(code))
    live = definition.published_version()
    found = builder.problems(definition.working_schema)
    return render(request, "backoffice/forms/publish.html", {
        "procedure": procedure, "definition": definition, "live": live,
        "changes": builder.diff(live.schema if live else None, definition.working_schema),
        "problems": refused or [p.message for p in found if p.blocking],
        "warnings": [p.message for p in found if not p.blocking],
        "revision": form_services.revision_of(definition), "next_number": (live.number + 1) if live else 1,
    }, status=status)


# --- the preview: the real engine, nothing stored but the session -------------------------


def _preview_raw(request, code: str) -> dict:
    stored = request.session.get(PREVIEW_SESSION_KEY) or {}
    return stored.get("raw", {}) if stored.get("code") == code else {}


def _keep_preview_raw(request, code: str, raw_by_step: dict) -> None:
    # One form's typing at a time: the session never grows with the forms a clerk opens.
    request.session[PREVIEW_SESSION_KEY] = {"code": code, "raw": raw_by_step}


def _preview_schema(request, code: str):
    procedure, definition = _editing(request, code)
    try:
        return procedure, definition, parse(definition.working_schema), []
    except SchemaError as exc:
        return procedure, definition, None, exc.errors


preview_frame = [xframe_options_sameorigin, csp_replace({"frame-ancestors": ["'self'"]})]


def _framed(view):
    for decorate in reversed(preview_frame):
        view = decorate(view)
    return view


@_framed
@staff_required
@require_http_methods(["GET", "POST"])
def preview(request, procedure_code: str):
    """The start of the preview: a POST begins again with nothing typed."""
    code = procedure_code
    procedure, definition, schema, problems = _preview_schema(request, code)
    if request.method == "POST" or schema is None:
        _keep_preview_raw(request, code, {})
    if schema is None:
        return render(request, "backoffice/forms/preview_problems.html", {"procedure": procedure, "problems": problems})
    run = FormRun(schema, _preview_raw(request, code))
    return render(request, "backoffice/forms/preview_start.html", {
        "procedure": procedure, "schema": schema, "definition": definition,
        "first_url": reverse("forms:preview_step", args=[code, run.visible[0].key]) if run.visible else "",
    })


@_framed
@staff_required
@require_http_methods(["GET", "POST"])
def preview_step(request, procedure_code: str, step_key: str):
    code = procedure_code
    procedure, definition, schema, problems = _preview_schema(request, code)
    if schema is None:
        return render(request, "backoffice/forms/preview_problems.html", {"procedure": procedure, "problems": problems})
    raw_by_step = _preview_raw(request, code)
    run = FormRun(schema, raw_by_step)
    current = schema.step(step_key[:45])
    if current is None or not run.is_visible(current):
        target = run.first_incomplete() or run.visible[-1]
        return HttpResponseRedirect(reverse("forms:preview_step", args=[code, target.key]))
    raw = dict(raw_by_step.get(current.key, {}))
    show_errors, extra = False, []
    if request.method == "POST":
        action = request.POST.get("action", "continue")[:200]
        raw = raw_from_post(request.POST, current)
        if action.startswith("remove_confirmed:"):
            action = "remove:" + action.split(":", 1)[1]  # a preview removes a row without asking
        _removals, problem = editing.apply_button(action, raw, schema.field_map())
        if problem:
            extra.append(problem)
        raw_by_step = {**raw_by_step, current.key: raw}
        _keep_preview_raw(request, code, raw_by_step)
        run = FormRun(schema, raw_by_step)
        if action == "continue" and not extra:
            if run.outcomes[current.key].ok:
                following = run.next_step(current)
                return HttpResponseRedirect(
                    reverse("forms:preview_step", args=[code, following.key]) if following
                    else reverse("forms:preview_check", args=[code]))
            show_errors = True
    bound = bind_step(run, current, raw, run.outcomes.get(current.key) if show_errors else None, {})
    previous = run.previous_step(current)
    computed = []
    for earlier in run.visible:
        if earlier is current:
            break
        computed += [{"label": f.label, "value": display(f, run.answers[f.key])} for f in earlier.fields
                     if f.type == "computed" and f.key in run.answers]
    return render(request, "backoffice/forms/preview_step.html", {
        "procedure": procedure, "schema": schema, "step": current, "fields": bound,
        "errors": error_summary(bound, extra) if (show_errors or extra) else [], "extra_errors": dict(extra),
        "back_url": reverse("forms:preview_step", args=[code, previous.key]) if previous else reverse("forms:preview", args=[code]),
        "step_number": schema.steps.index(current) + 1, "step_total": len(schema.steps), "computed_so_far": computed,
    }, status=400 if show_errors else 200)


@_framed
@staff_required
def preview_check(request, procedure_code: str):
    code = procedure_code
    procedure, definition, schema, problems = _preview_schema(request, code)
    if schema is None:
        return render(request, "backoffice/forms/preview_problems.html", {"procedure": procedure, "problems": problems})
    run = FormRun(schema, _preview_raw(request, code))
    pending = run.first_incomplete()
    return render(request, "backoffice/forms/preview_check.html", {
        "procedure": procedure, "schema": schema, "summary": run.summary(), "pending": pending,
        "pending_url": reverse("forms:preview_step", args=[code, pending.key]) if pending else "",
    })


@staff_required
@require_POST
def preview_reset(request, procedure_code: str):
    code = procedure_code
    selectors.form_procedure_for(request.user, code)
    _keep_preview_raw(request, code, {})
    return HttpResponseRedirect(reverse("forms:preview", args=[code]))
