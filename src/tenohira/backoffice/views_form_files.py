"""Form files and templates under /staff/forms/files/ (see docs/forms-file-format.md and
docs/form-templates.md).

    /staff/forms/files/                      the template gallery by category, and the forms
                                             (書き出す / ファイルから読み込む) of procedures
                                             the user may edit
    /staff/forms/files/templates/<template>/ one template's pages and fields, and
                                             「このテンプレートで作る」 for a chosen procedure

Every procedure is read through backoffice.selectors.form_procedure(s)_for (所属管理者 for
their sections, DX管理者 for all); a code of any other procedure is answered like one
that does not exist. Starting from a template or a file goes through
forms.services.start_working_copy (audited) and leads to the builder; a download is
audited before its first byte. A working copy a clerk is still editing is replaced only
when they said so: nothing is lost by picking the wrong procedure.
"""

from __future__ import annotations

from urllib.parse import quote

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from tenohira.applications import uploads
from tenohira.audit.services import record as audit
from tenohira.backoffice import selectors
from tenohira.backoffice.auth import staff_required
from tenohira.forms import interchange, library
from tenohira.forms import services as form_services
from tenohira.forms.models import FormDefinition

FILE_INPUT = "form_file"
CODE_LIMIT = 20  # Procedure.code's length: a longer value is no procedure, never looked up


def _may_build(user) -> bool:
    return selectors.form_procedures_for(user).exists()


def _editor_url(code: str) -> str:
    try:
        return reverse("forms:editor", args=[code])
    except NoReverseMatch:  # the builder's pages are not installed
        return f"/staff/forms/{quote(code, safe='')}/"


def _procedures(user) -> list:
    return list(selectors.form_procedures_for(user).order_by("section__department__order", "section__order", "code"))


def _procedure_choices(user) -> list[dict]:
    """Each procedure the user may edit, with what its form has (for the selects)."""
    procedures = _procedures(user)
    definitions = {d.procedure_id: d for d in FormDefinition.objects.filter(procedure__in=procedures)
                   .only("procedure_id", "working_schema", "kind")}
    published = set(FormDefinition.objects.filter(procedure__in=procedures, versions__status="published")
                    .values_list("procedure_id", flat=True))
    rows = []
    for procedure in procedures:
        definition = definitions.get(procedure.pk)
        rows.append({"procedure": procedure, "working": bool(definition and definition.working_schema is not None),
                     "published": procedure.pk in published})
    return rows


def _file_limits(request):
    limit = uploads.FileLimit("フォームファイル", interchange.MAX_BYTES, 1)
    return lambda name: limit if name == FILE_INPUT else None


# --- the gallery and the file forms ------------------------------------------------------


@staff_required(check=_may_build)
@uploads.bounded_uploads(_file_limits)
@require_http_methods(["GET", "POST"])
def index(request):
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if action == "use":
        return _use_template(request)
    if action == "export":
        return _export(request)
    if action == "import":
        return _import(request)
    return _index_page(request)


def _index_page(request, *, status: int = 200, export_errors=(), import_errors=(), typed: dict | None = None):
    return render(request, "backoffice/form_files/index.html", {
        "categories": library.by_category(), "count": len(library.templates()),
        "choices": _procedure_choices(request.user), "export_errors": list(export_errors),
        "import_errors": list(import_errors), "typed": typed or {}, "max_mb": interchange.MAX_BYTES // (1024 * 1024),
    }, status=status)


@staff_required(check=_may_build)
@require_http_methods(["GET"])
def template(request, template: str):
    try:
        chosen = library.get(template)
    except LookupError:
        raise Http404("no such template") from None
    return _template_page(request, chosen)


def _template_page(request, chosen, *, errors=(), typed: dict | None = None, status: int = 200):
    return render(request, "backoffice/form_files/template.html", {
        "template": chosen, "steps": chosen.steps, "choices": _procedure_choices(request.user),
        "errors": list(errors), "typed": typed or {},
    }, status=status)


def _chosen_procedure(request):
    """The procedure named in the POST, if the user may edit it (None otherwise)."""
    code = request.POST.get("procedure", "")
    if not code or len(code) > CODE_LIMIT:
        return None
    return selectors.form_procedures_for(request.user).filter(code=code).first()


def _working_copy_problem(procedure, replace: bool) -> str | None:
    definition = FormDefinition.objects.filter(procedure=procedure).only("working_schema").first()
    if definition is not None and definition.working_schema is not None and not replace:
        return (f"{procedure.code}（{procedure.name}）には編集中のフォームがあります。置き換える場合は"
                "「編集中のフォームを置き換える」にチェックを入れてください。")
    return None


def _use_template(request):
    slug = request.POST.get("template", "")[:60]
    try:
        chosen = library.get(slug)
    except LookupError:
        raise Http404("no such template") from None
    typed = {"procedure": request.POST.get("procedure", "")[:CODE_LIMIT], "replace": request.POST.get("replace") == "1"}
    procedure = _chosen_procedure(request)
    if procedure is None:
        return _template_page(request, chosen, errors=["フォームを作る手続きを選んでください。"], typed=typed, status=400)
    problem = _working_copy_problem(procedure, typed["replace"])
    if problem:
        return _template_page(request, chosen, errors=[problem], typed=typed, status=409)
    schema, meta = library.load(chosen.slug)
    form_services.start_working_copy(procedure, schema, user=request.user, kind=meta["kind"],
                                     anonymous=meta["anonymous"], action="forms.start_from_template")
    messages.success(request, f"テンプレート「{chosen.title}」から、{procedure.name}のフォームを作り始めました。"
                              "内容を直してから公開してください。")
    return HttpResponseRedirect(_editor_url(procedure.code))


def _export(request):
    typed = {"procedure": request.POST.get("procedure", "")[:CODE_LIMIT], "which": request.POST.get("which", "published")}
    procedure = _chosen_procedure(request)
    if procedure is None:
        return _index_page(request, status=400, export_errors=["書き出す手続きを選んでください。"], typed=typed)
    definition = FormDefinition.objects.filter(procedure=procedure).select_related("procedure").first()
    working = typed["which"] == "working"
    if definition is None:
        return _index_page(request, status=400, typed=typed,
                           export_errors=[f"{procedure.code}（{procedure.name}）にはまだフォームがありません。"])
    try:
        data = interchange.dump(definition, working=working)
    except interchange.FormFileError as exc:
        errors = [e.replace("（編集中のフォームを書き出すときは --working）", "") for e in exc.errors]
        return _index_page(request, status=400, export_errors=errors, typed=typed)
    version = None if working else definition.published_version()
    audit("forms.export", user=request.user, target=f"procedure:{procedure.code}", request=request, detail={
        "which": "working" if working else "published", "version": version.number if version else None, "bytes": len(data),
    })
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    label = "編集中" if working else f"第{version.number}版"
    name = f"{procedure.code}_{procedure.name[:60]}_{label}_{stamp}.json".replace("/", "_")
    response = HttpResponse(data, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = (f'attachment; filename="tenohira-form-{stamp}.json"; '
                                       f"filename*=UTF-8''{quote(name, safe='')}")
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _import(request):
    typed = {"procedure": request.POST.get("procedure", "")[:CODE_LIMIT], "replace": request.POST.get("replace") == "1"}
    upload = request.FILES.get(FILE_INPUT)
    if upload is not None:
        typed["file_name"] = (upload.name or "")[:200]
    errors = [message for _name, message in uploads.refused(request)]
    procedure = _chosen_procedure(request)
    if procedure is None:
        errors.append("読み込む手続きを選んでください。")
    elif problem := _working_copy_problem(procedure, typed["replace"]):
        errors.append(problem)
    loaded = None
    if upload is None:
        if not uploads.refused(request):  # a file refused while it streamed has its own reason
            errors.append("読み込むフォームファイルを選んでください。")
    else:
        if upload.size > interchange.MAX_BYTES:  # the handler already stopped it; never read it
            errors.append(f"ファイルが大きすぎます。フォームファイルは {interchange.MAX_BYTES // (1024 * 1024)} MB までです。")
        else:
            try:
                loaded = interchange.load(upload.read(interchange.MAX_BYTES + 1))
            except interchange.FormFileError as exc:
                errors.extend(exc.errors)
    if errors:
        return _index_page(request, status=400, import_errors=errors, typed=typed)
    form_services.start_working_copy(procedure, loaded.schema, user=request.user, kind=loaded.kind,
                                     anonymous=loaded.anonymous, action="forms.import")
    source = loaded.meta.get("source")
    messages.success(request, f"「{loaded.meta['title']}」{f'（{source}）' if source else ''}を、{procedure.name}の"
                              "編集中のフォームに読み込みました。内容を確かめてから公開してください。")
    return HttpResponseRedirect(_editor_url(procedure.code))
