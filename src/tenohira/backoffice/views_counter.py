"""書かない窓口: staff pages of counter entry and of the resident's code/QR handoff.

Thin views: parse, call backoffice.counter, render. The step and check pages render the
resident's form with the same field templates (forms/fields/*) and the same engine, so what
staff fill is exactly what the resident would have filled online.
"""

from __future__ import annotations

from itertools import groupby

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from tenohira.applications import services as applications
from tenohira.applications import uploads
from tenohira.applications.receipt_pdf import render_receipt_pdf
from tenohira.applications.signals import SubmissionRefused
from tenohira.backoffice import counter, selectors
from tenohira.backoffice.auth import staff_required
from tenohira.backoffice.models import IdentityDocument
from tenohira.core.site import public_url
from tenohira.forms.rendering import bind_step, error_summary


def _step_url(draft, step) -> str:
    return reverse("backoffice:counter_step", args=[draft.public_id, step.key])


def _next_url(draft, run) -> str:
    pending = run.first_incomplete()
    return _step_url(draft, pending) if pending else reverse("backoffice:counter_check", args=[draft.public_id])


@staff_required
def home(request):
    """Start a counter entry: pick a procedure of one's sections, or open a resident's code."""
    procedures = list(selectors.counter_procedures(request.user))
    sections = [(section, list(items)) for section, items in groupby(procedures, key=lambda p: p.section)]
    return render(request, "backoffice/counter_home.html", {"sections": sections})


@staff_required
@require_POST
def start(request):
    draft = counter.start(request.user, request.POST.get("procedure", ""), request=request)
    first = applications.run_of(draft).visible[0]
    return HttpResponseRedirect(_step_url(draft, first))


@staff_required
@require_http_methods(["GET", "POST"])
@uploads.bounded_uploads(uploads.step_limits)  # the same streaming limits as the resident's page
def step(request, public_id, step_key: str):
    draft = selectors.counter_draft_for(request.user, public_id)
    if hasattr(draft, "submission"):
        return HttpResponseRedirect(reverse("backoffice:counter_receipt", args=[draft.submission.receipt_number]))
    run = applications.run_of(draft)
    schema = run.schema
    current = schema.step(step_key)
    if current is None or not run.is_visible(current):
        target = run.first_incomplete() or run.visible[-1]
        return HttpResponseRedirect(_step_url(draft, target))
    returning = request.GET.get("return") == "check" or request.POST.get("return") == "check"
    show_errors = False
    extra_problems: list[tuple[str, str]] = []
    raw = dict(draft.raw.get(current.key, {}))
    if request.method == "POST":
        result = counter.save_step(request.user, draft, current, request.POST, request.FILES)
        # Files refused while the body streamed (too large, too many) are named too.
        run, extra_problems = result.run, uploads.refused(request) + result.problems
        draft.refresh_from_db()
        raw = draft.raw.get(current.key, {})
        if result.action == "continue":
            outcome = run.outcomes.get(current.key)
            if outcome is not None and outcome.ok and not extra_problems:
                if returning and run.complete:
                    return HttpResponseRedirect(reverse("backoffice:counter_check", args=[draft.public_id]))
                following = run.next_step(current)
                return HttpResponseRedirect(
                    _step_url(draft, following) if following
                    else reverse("backoffice:counter_check", args=[draft.public_id])
                )
            show_errors = True
    outcome = run.outcomes.get(current.key) if show_errors else None
    bound = bind_step(run, current, raw, outcome, applications.attachments_of(draft))
    errors = error_summary(bound, extra_problems) if (show_errors or extra_problems) else []
    previous = run.previous_step(current)
    return render(
        request, "backoffice/counter_step.html",
        {
            "draft": draft, "schema": schema, "step": current, "fields": bound, "errors": errors,
            "extra_errors": dict(extra_problems), "returning": returning,
            "back_url": _step_url(draft, previous) if previous else reverse("backoffice:counter"),
            "step_number": run.visible.index(current) + 1, "step_total": len(run.visible),
            "procedure": draft.form_version.definition.procedure,
        },
        status=400 if errors and request.method == "POST" else 200,
    )


@staff_required
@require_http_methods(["GET", "POST"])
def check(request, public_id):
    draft = selectors.counter_draft_for(request.user, public_id)
    if hasattr(draft, "submission") and request.method == "GET":
        return HttpResponseRedirect(reverse("backoffice:counter_receipt", args=[draft.submission.receipt_number]))
    run = applications.run_of(draft)
    if run.first_incomplete() is not None:
        return HttpResponseRedirect(_next_url(draft, run))
    identity = {"document": "", "note": "", "error": ""}
    if request.method == "POST":
        identity.update(document=request.POST.get("identity_document", ""), note=request.POST.get("identity_note", ""))
        try:
            submission, secret = counter.submit(
                request.user, draft, identity_document=identity["document"], identity_note=identity["note"],
                request=request,
            )
        except applications.NotReady as exc:
            return HttpResponseRedirect(_step_url(draft, exc.step))
        except SubmissionRefused as refused:
            # E.g. the 粗大ごみ collection day filled up meanwhile: nothing was stored; the
            # clerk goes back to the page of that answer with the reason, every answer kept.
            messages.error(request, refused.message)
            target = next((s for s in run.schema.steps if any(f.key == refused.field_key for f in s.fields)), None)
            if target is not None:
                return HttpResponseRedirect(_step_url(draft, target))
            return HttpResponseRedirect(request.path)
        except counter.IdentityProblem as problem:
            identity["error"] = str(problem)
        else:
            if secret:
                # Shown once on the printed receipt: the resident's key to the status page.
                request.session[f"counter_secret:{submission.receipt_number}"] = secret
            return HttpResponseRedirect(reverse("backoffice:counter_receipt", args=[submission.receipt_number]))
    return render(
        request, "backoffice/counter_check.html",
        {"draft": draft, "schema": run.schema, "summary": run.summary(),
         "procedure": draft.form_version.definition.procedure, "identity": identity,
         "identity_choices": [
             {"value": value, "label": label, "id": f"f-identity-{index}", "checked": value == identity["document"]}
             for index, (value, label) in enumerate(IdentityDocument.choices)
         ],
         "email_given": bool(applications.contact_email(run))},
        status=400 if identity["error"] else 200,
    )


@staff_required
def receipt(request, receipt_number: str):
    submission = counter.receipt_submission(request.user, receipt_number)
    counter.record_receipt(request.user, submission, "receipt_view", request=request)
    secret = request.session.get(f"counter_secret:{submission.receipt_number}")
    return render(
        request, "backoffice/counter_receipt.html",
        {"submission": submission, "secret": secret, "status_url": public_url("/status/")},
    )


@staff_required
def receipt_pdf(request, receipt_number: str):
    submission = counter.receipt_submission(request.user, receipt_number)
    # The status code is known only in the session of the clerk who took the application:
    # printed on the receipt it is how a resident without e-mail follows the application.
    content = render_receipt_pdf(submission, secret=request.session.get(f"counter_secret:{submission.receipt_number}"))
    counter.record_receipt(request.user, submission, "receipt_print", request=request)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{submission.receipt_number}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


def _handoff_page(request, *, code: str = "", error: str = "", status: int = 200):
    return render(request, "backoffice/counter_handoff.html", {"code": code, "error": error}, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def handoff(request):
    """Type the resident's code (full width, lower case, with or without the hyphen)."""
    if request.method == "GET":
        return _handoff_page(request)
    code = request.POST.get("code", "")
    if not code.strip():
        return _handoff_page(request, error="申請者のスマートフォンに表示された8文字のコードを入力してください。", status=400)
    return _open(request, code)


@staff_required
def handoff_open(request, code: str):
    """What the QR code opens (a scanner types the URL into the staff browser)."""
    return _open(request, code)


def _open(request, code: str):
    try:
        draft = counter.open_handoff(request.user, code, request=request)
    except counter.HandoffProblem as problem:
        return _handoff_page(request, code=code, error=problem.message, status=problem.status)
    messages.info(request, "申請者がスマートフォンで入力した内容を開きました。申請者と一緒に確認してください。")
    return HttpResponseRedirect(_next_url(draft, applications.run_of(draft)))
