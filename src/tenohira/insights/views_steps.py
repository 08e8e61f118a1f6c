"""/staff/insights/form-steps/: where residents give up, per form (DX division).

DX管理者 see every form, 所属管理者 their sections' forms (backoffice.selectors). The
figures are counts of drafts with no personal data; the pages are still staff pages."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from tenohira.backoffice import selectors
from tenohira.backoffice.auth import staff_required
from tenohira.backoffice.models import Role
from tenohira.insights.form_steps import form_steps

MAX_DAYS = 3660  # a period longer than ten years is refused, not computed


def may_view(user) -> bool:
    return selectors.is_dx_admin(user) or bool(selectors.section_ids(user, {Role.SECTION_ADMIN}))


def _period(request) -> tuple[dt.date, dt.date, list[str]]:
    today = timezone.localdate()
    problems = []
    values = {}
    for name, default in (("from", today - dt.timedelta(days=29)), ("to", today)):
        text = (request.GET.get(name) or "")[:20]
        try:
            values[name] = dt.date.fromisoformat(text) if text else default
        except ValueError:
            problems.append(f"{'開始日' if name == 'from' else '終了日'}は 2024-04-01 の形で入力してください。")
            values[name] = default
    if values["from"] > values["to"]:
        problems.append("開始日は終了日より前にしてください。")
    elif (values["to"] - values["from"]).days > MAX_DAYS:
        problems.append("期間は10年以内にしてください。")
    return values["from"], values["to"], problems


@staff_required(check=may_view)
@require_GET
def index(request):
    definitions = selectors.form_steps_definitions_for(request.user).order_by("procedure__code")
    date_from, date_to, problems = _period(request)
    return render(request, "insights/steps/index.html", {
        "definitions": definitions, "from": request.GET.get("from", date_from.isoformat())[:20],
        "to": request.GET.get("to", date_to.isoformat())[:20], "problems": problems,
    }, status=400 if problems else 200)


@staff_required(check=may_view)
@require_GET
def detail(request, procedure_code: str):
    code = procedure_code
    definition = selectors.form_steps_definitions_for(request.user).filter(procedure__code=code).first()
    if definition is None:
        raise Http404("form not found")
    date_from, date_to, problems = _period(request)
    stages = [] if problems else form_steps(definition, date_from, date_to)
    if request.GET.get("format") == "csv" and not problems:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["様式ID", "フォーム", "期間（開始日）", "期間（終了日）", "段階", "到達した数", "前の段階からやめた数", "やめた割合（%）"])
        for stage in stages:
            writer.writerow([definition.procedure.code, definition.procedure.name, date_from.isoformat(),
                             date_to.isoformat(), stage.label, stage.reached, stage.dropped,
                             "" if stage.dropped_rate is None else stage.dropped_rate])
        response = HttpResponse(out.getvalue().encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="form-steps-{definition.procedure.code}.csv"'
        return response
    top = max((s.reached for s in stages), default=0) or 1
    bars = [{"stage": s, "width": round(300 * s.reached / top), "y": 8 + i * 28} for i, s in enumerate(stages)]
    return render(request, "insights/steps/detail.html", {
        "definition": definition, "stages": stages, "bars": bars, "height": 16 + 28 * len(stages),
        "from": request.GET.get("from", date_from.isoformat())[:20], "to": request.GET.get("to", date_to.isoformat())[:20],
        "date_from": date_from, "date_to": date_to, "problems": problems,
    }, status=400 if problems else 200)
