"""Resident pages of an online application (GOV.UK pattern: start → one topic per page →
check your answers → submit → confirmation). Every page works without JavaScript."""

from __future__ import annotations

import contextlib
import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from tenohira.applications import (
    assurance,
    extensions,
    prefill,
    progress,
    selectors,
    services,
    signals,
    steps,
    uploads,
)
from tenohira.applications.models import Draft
from tenohira.catalog.models import Procedure
from tenohira.catalog.selectors import get_published_procedure
from tenohira.core import japanese, residents
from tenohira.core.clients import client_address
from tenohira.core.ratelimit import hit
from tenohira.core.site import public_url, staff_url
from tenohira.forms import editing, windows
from tenohira.forms.engine import display, raw_from_post
from tenohira.forms.rendering import bind_step, error_summary

OWNER_COOKIE = "tnh_draft"
upload_refusals = uploads.refused  # the views name their own dicts of files `uploads`
STATUS_CODE_COOKIE = "tnh_status"


def _draft_path(draft) -> str:
    return f"/apply/{draft.public_id}/"


def _set_owner(response, draft, secret: str):
    response.set_cookie(
        OWNER_COOKIE, secret, max_age=int(services.draft_lifetime().total_seconds()), path=_draft_path(draft),
        httponly=True, samesite="Lax", secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


def _owned_draft(request, public_id):
    draft = selectors.get_draft(public_id)
    if not services.owns(draft, request.COOKIES.get(OWNER_COOKIE)):
        return draft, False
    return draft, True


def _not_owner(request, draft):
    """The browser may not edit this draft. Staff took it over at the counter: the phone
    says so, plainly. Otherwise the browser lost the draft cookie (another browser,
    cleared cookies): the resident is offered the link again, by e-mail to the address
    already given, never another's data."""
    if services.is_counter_draft(draft):
        return render(request, "applications/at_counter.html", {"draft": draft, "procedure": _procedure(draft),
                      "submitted": hasattr(draft, "submission")}, status=409)
    email = services.known_email(draft)
    return render(request, "applications/not_owner.html",
                  {"draft": draft, "masked_email": _mask(email) if email else ""}, status=403)


def _mask(email: str) -> str:
    """h****@example.jp: enough for the resident to recognise their address, not enough
    for someone else who has the page's URL to learn it."""
    local_part, _at, domain = email.partition("@")
    return f"{local_part[:1]}{'*' * max(len(local_part) - 1, 3)}@{domain}"


def _procedure(draft):
    return draft.form_version.definition.procedure


def _window(definition) -> dict:
    """受付期間 for a template: its state and the sentence that says it."""
    return {"state": definition.window_state(), "notice": windows.notice(definition)}


@require_http_methods(["GET", "POST"])
def start(request, code: str):
    try:
        procedure = get_published_procedure(code)
    except Procedure.DoesNotExist:
        raise Http404("procedure not found") from None
    version = selectors.published_form_version(procedure)
    if version is None:
        raise Http404("no form")
    schema = version.parsed()
    window = _window(version.definition)
    required = assurance.required_level(procedure)
    identity = residents.current(request)
    if version.definition.anonymous:
        # 匿名アンケート: no sign-in is asked for or kept (services.start_draft drops it).
        required, identity = residents.NONE, None
    problem = assurance.identity_problem(None, identity, required)
    if request.method == "POST" and window["state"] == "open" and not problem:
        # Signed in (also where nothing is required): the draft keeps the identity and
        # the fields the form maps to the four basic items are filled from it.
        draft, secret = services.start_draft(version, identity=identity)
        first_step = services.run_of(draft).visible[0]
        response = HttpResponseRedirect(reverse("applications:step", args=[draft.public_id, first_step.key]))
        return _set_owner(response, draft, secret)
    # Outside 受付期間 the page says when it opens or that it closed, with no button; a
    # POST sent anyway (an old tab), or one without the identity the procedure requires
    # (the page shows the sign-in button instead), gets the same page and no draft.
    refused = request.method == "POST"
    return render(request, "applications/start.html", {
        "procedure": procedure, "schema": schema, "window": window,
        "assurance": _assurance(request, procedure, schema, identity, problem, request.path),
        "refused_identity": refused and bool(problem) and window["state"] == "open",
    }, status=403 if refused else 200)


def _sign_in_url(next_path: str, level: str) -> str:
    """identity:sign_in, coming back to `next_path` once signed in with `level`."""
    try:
        base = reverse("identity:sign_in")
    except NoReverseMatch:  # the identity app's pages are not installed
        base = "/identity/sign-in/"
    return f"{base}?{urlencode({'next': next_path, 'level': level})}"


def _sign_url(draft) -> str:
    try:
        return reverse("identity:sign", args=[draft.public_id])
    except NoReverseMatch:
        return f"/apply/{draft.public_id}/card-signature/"


def _assurance(request, procedure, schema, identity, problem: str, next_path: str) -> dict:
    """What the start and sign-in pages say about 本人確認: the level in words, whether
    the resident is signed in as required, and where to sign in."""
    required = assurance.required_level(procedure)
    option = schema.signature
    if required in assurance.CARD_LEVELS and option is not None:
        signature = option.note or "場合により"
    elif required == residents.CARD_SIGNATURE:
        signature = "always"
    else:
        signature = ""
    items = {"name": "氏名", "address": "住所", "birthdate": "生年月日", "gender": "性別"}
    prefills = [items[f.option("prefill")] for f in schema.all_fields() if f.option("prefill") in items]
    return {
        "level": required, "needed": residents.needs_identity(required), "problem": problem,
        "identity": identity, "signature": signature, "sign_in_url": _sign_in_url(next_path, required),
        "prefills": "・".join(dict.fromkeys(prefills)),
    }


def _identity_gate(request, draft, *, typed_step=None, typed_raw=None):
    """The procedure's 本人確認 on every page of a draft: the session's identity must still
    meet the level and be the person who started the draft. Otherwise a page says to sign
    in again (the draft is kept; signing in brings the resident back here). A step posted
    after an idle sign-out is saved first, so nothing typed is lost.

    Returns the page to show instead, or None (and keeps a newer sign-in of the same
    person on the draft, which also fills the fields it gives)."""
    procedure = _procedure(draft)
    if draft.form_version.definition.anonymous:
        return None  # 匿名アンケート: nobody signs in (the answers must not name anyone)
    required = assurance.required_level(procedure)
    identity = residents.current(request)
    problem = assurance.identity_problem(draft.identity, identity, required)
    if problem:
        if problem == "missing" and typed_step is not None:
            services.save_step(draft, typed_step, typed_raw, {}, [])
        next_path = request.path
        return render(request, "applications/sign_in_again.html", {
            "draft": draft, "procedure": procedure, "problem": problem,
            "idle": getattr(request, "resident_signed_out_idle", False),
            "assurance": _assurance(request, procedure, draft.form_version.parsed(), identity, problem, next_path),
        }, status=403)
    if identity and assurance.same_person(draft.identity, identity) and (
        (draft.identity or {}).get("signed_in_at") != identity.get("signed_in_at")
    ):
        # A mismatch cannot happen here (same_person above); a race keeps the draft's own.
        with contextlib.suppress(services.IdentityMismatch):
            services.attach_identity(draft, identity)
    return None


def _step_url(draft, step, returning: bool = False) -> str:
    url = reverse("applications:step", args=[draft.public_id, step.key])
    return f"{url}?return=check" if returning else url


@uploads.bounded_uploads(uploads.step_limits)
@require_http_methods(["GET", "POST"])
def step(request, public_id, step_key: str):
    draft, owner = _owned_draft(request, public_id)
    if not owner:
        return _not_owner(request, draft)
    if hasattr(draft, "submission"):
        return HttpResponseRedirect(reverse("applications:done", args=[draft.public_id]))
    posted_step = draft.form_version.parsed().step(step_key) if request.method == "POST" else None
    blocked = _identity_gate(
        request, draft, typed_step=posted_step,
        typed_raw=raw_from_post(request.POST, posted_step) if posted_step is not None else None,
    )
    if blocked is not None:
        return blocked
    run = services.run_of(draft)
    schema = run.schema
    current = schema.step(step_key)
    if current is None or not run.is_visible(current):
        target = run.first_incomplete() or run.visible[-1]
        return HttpResponseRedirect(reverse("applications:step", args=[draft.public_id, target.key]))
    if request.method == "GET":
        # Step statistics: one INSERT that is ignored after the first (applications.steps);
        # a POST records inside the transaction that saves the step.
        steps.reached(draft, current.key)
    returning = request.GET.get("return") == "check" or request.POST.get("return") == "check"
    accepting = draft.form_version.definition.is_accepting()
    show_errors = False
    extra_problems: list[tuple[str, str]] = []
    raw = dict(draft.raw.get(current.key, {}))

    if request.method == "POST":
        action = request.POST.get("action", "continue")
        fields = schema.field_map()
        if request.POST.get("confirmed_removal"):
            # The no-JavaScript confirmation page posts only the button: the step's inputs
            # are the ones already saved when 削除 was first pressed.
            raw = {name: list(values) for name, values in raw.items()}
        else:
            raw = raw_from_post(request.POST, current)
        removal = _removal(action, fields) if accepting else None
        if removal is not None and not removal["confirmed"]:
            # 削除 asks first: what was typed is saved, then the question, on its own page.
            services.save_step(draft, current, raw, {name: request.FILES.getlist(name) for name in request.FILES}, [])
            return _confirm_removal(request, draft, current, removal, returning)
        edit = f"remove:{removal['group']}:{removal['index']}" if removal is not None else action
        removals, problem = editing.apply_button(edit, raw, fields)
        if problem:
            extra_problems.append(problem)
        uploads = {name: request.FILES.getlist(name) for name in request.FILES}
        # Outside 受付期間 the typing is still kept (nothing is lost); the resident is only
        # not taken any further: the check page says the period has ended.
        run, upload_problems = services.save_step(draft, current, raw, uploads, removals)
        upload_problems = upload_refusals(request) + upload_problems  # refused while the body streamed
        extra_problems += upload_problems
        raw = draft.raw.get(current.key, {})  # save_step gave `draft` what it stored
        if not accepting:
            return HttpResponseRedirect(reverse("applications:check", args=[draft.public_id]))
        if action == "save_later":
            return HttpResponseRedirect(reverse("applications:save", args=[draft.public_id]))
        if action == "handoff":  # 窓口で続ける: what was typed here is kept, then the code
            return HttpResponseRedirect(reverse("applications:handoff", args=[draft.public_id]))
        if removal is not None:
            messages.info(request, _("%(row)sを削除しました。") % {"row": removal["row"]})
            return HttpResponseRedirect(_step_url(draft, current, returning))
        if action == "continue":
            outcome = run.outcomes.get(current.key)
            if outcome is not None and outcome.ok and not upload_problems:
                if returning and run.complete:
                    return HttpResponseRedirect(reverse("applications:check", args=[draft.public_id]))
                following = run.next_step(current)
                target = (
                    reverse("applications:step", args=[draft.public_id, following.key])
                    if following else reverse("applications:check", args=[draft.public_id])
                )
                return HttpResponseRedirect(target)
            show_errors = True
    elif not accepting:
        return HttpResponseRedirect(reverse("applications:check", args=[draft.public_id]))

    outcome = run.outcomes.get(current.key) if show_errors else None
    refusal = _pop_refusal(request, draft) if request.method == "GET" else None
    locked = prefill.locked_inputs(schema, draft.identity)
    # The draft's files are read only for a page that can show one.
    attachments = services.attachments_of(draft) if _has_file_field(current.fields) else {}
    bound = bind_step(run, current, raw, outcome, attachments, locked=locked,
                      locked_note=prefill.note(draft.identity))
    prefilled = prefill.prefilled_fields(schema, draft.identity) & {f.key for f in current.fields}
    if refusal is not None:
        for b in bound:
            if b.prefix == refusal["key"]:
                b.error = refusal["message"]
    errors = error_summary(bound, extra_problems) if (show_errors or extra_problems or refusal) else []
    previous = run.previous_step(current)
    return render(
        request,
        "applications/step.html",
        {
            "draft": draft, "schema": schema, "step": current, "fields": bound, "errors": errors,
            "extra_errors": dict(extra_problems), "returning": returning,
            "back_url": reverse("applications:step", args=[draft.public_id, previous.key]) if previous
            else reverse("applications:start", args=[_procedure(draft).code]),
            # Counted over every page of the form, also pages an answer may skip, so the
            # total never changes while the resident goes on (a skipped page only makes
            # the number jump).
            "step_number": schema.steps.index(current) + 1, "step_total": len(schema.steps),
            "computed_so_far": _computed_before(run, current),
            "procedure": _procedure(draft),
            "gaiji": (draft.identity or {}).get("gaiji") if prefilled else [],
            "gaiji_notice": prefill.GAIJI_NOTICE,
        },
        status=400 if errors and request.method == "POST" else 200,
    )


def _refusal_key(draft) -> str:
    return f"tnh_refused:{draft.public_id}"


def _pop_refusal(request, draft) -> dict | None:
    """The message of a submission a receiver refused (signals.SubmissionRefused), shown
    once by its field on the page the resident was sent back to."""
    if not hasattr(request, "session") or _refusal_key(draft) not in request.session:
        return None
    return request.session.pop(_refusal_key(draft))


def _refused(request, public_id, exc: signals.SubmissionRefused):
    """Back to the page of the refused field, every answer kept, with the message."""
    draft = selectors.get_draft(public_id)
    schema = services.run_of(draft).schema
    target = next((s for s in schema.steps if any(f.key == exc.field_key for f in s.fields)), None)
    if target is None:
        # No field to show it by: the check page says it at the top.
        messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("applications:check", args=[draft.public_id]))
    request.session[_refusal_key(draft)] = {"key": exc.field_key, "message": exc.message}
    return HttpResponseRedirect(_step_url(draft, target, returning=True))


def _has_file_field(fields) -> bool:
    return any(f.type == "file" or (f.type == "group" and _has_file_field(f.children)) for f in fields)


def _removal(action: str, fields) -> dict | None:
    """remove:<group>:<row> (asks first) or remove_confirmed:<group>:<row> (removes)."""
    kind, _sep, rest = action.partition(":")
    if kind not in {"remove", "remove_confirmed"}:
        return None
    group_key, _sep, index = rest.partition(":")
    group = fields.get(group_key)
    if group is None or group.type != "group" or not index.isdigit():
        return None
    number = int(index) + 1
    return {
        "group": group_key, "index": int(index), "field": group, "confirmed": kind == "remove_confirmed",
        "row": f"{group.option('row_label') or group.label}{number}",
    }


def _confirm_removal(request, draft, current, removal, returning: bool):
    """「お子さん2の情報を削除しますか？」 with what the row holds, 削除する and 戻る."""
    draft.refresh_from_db(fields=["raw"])
    run = services.run_of(draft)
    rows = run.answers.get(removal["group"]) or []
    row = rows[removal["index"]] if removal["index"] < len(rows) else {}
    items = [
        {"label": child.label, "value": display(child, row[child.key])}
        for child in removal["field"].children
        if child.key in row and row[child.key] not in (None, "", [], {})
    ]
    return render(request, "applications/remove_confirm.html", {
        "draft": draft, "schema": run.schema, "step": current, "row": removal["row"], "items": items,
        "action": f"remove_confirmed:{removal['group']}:{removal['index']}", "returning": returning,
        "back_url": _step_url(draft, current, returning), "procedure": _procedure(draft),
    })


def _computed_before(run, current) -> list[dict]:
    """Amounts computed on earlier pages (手数料), shown again on the pages that follow:
    without JavaScript this is where a resident first sees the figure."""
    shown = []
    for earlier in run.visible:
        if earlier is current:
            break
        for fld in earlier.fields:
            if fld.type == "computed" and fld.key in run.answers:
                shown.append({"label": fld.label, "value": display(fld, run.answers[fld.key])})
    return shown


def _section_contact(procedure) -> dict:
    section = procedure.section
    return {"name": section.name, "phone": section.phone, "email": section.email, "place": section.place,
            "hours": section.hours}


def _check_page(request, draft, run, *, consent_error: str = "", signature_error: str = "", status: int = 200):
    definition = draft.form_version.definition
    procedure = _procedure(draft)
    errors = [{"anchor": "f-consent", "message": consent_error}] if consent_error else []
    if signature_error:
        errors.append({"anchor": "signature", "message": signature_error})
    required = assurance.required_level(procedure)
    signature_state = assurance.signature_state(draft, run.schema, required, run.answers)
    return render(
        request, "applications/check.html",
        {"draft": draft, "schema": run.schema, "summary": run.summary(), "procedure": procedure,
         "window": _window(definition), "contact": _section_contact(procedure), "errors": errors,
         "notices": extensions.check_notices(draft, run),
         "consent_error": consent_error, "complete": run.complete,
         "signature": {
             "state": signature_state, "sign_url": _sign_url(draft),
             "note": run.schema.signature.note if run.schema.signature else "",
             "guidance": assurance.SIGN_PASSWORD_GUIDANCE, "changed": assurance.CHANGED_AFTER_SIGNING,
         },
         "evidence": draft.identity or {}, "gaiji_notice": prefill.GAIJI_NOTICE},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def check(request, public_id):
    if request.method == "POST":
        return _submit(request, public_id)
    draft, owner = _owned_draft(request, public_id)
    if not owner:
        return _not_owner(request, draft)
    if hasattr(draft, "submission"):
        return HttpResponseRedirect(reverse("applications:done", args=[draft.public_id]))
    blocked = _identity_gate(request, draft)
    if blocked is not None:
        return blocked
    run = services.run_of(draft)
    if draft.form_version.definition.is_accepting():
        pending = run.first_incomplete()
        if pending is not None:
            return HttpResponseRedirect(reverse("applications:step", args=[draft.public_id, pending.key]))
    steps.reached(draft, steps.CHECK)
    # Outside 受付期間 the answers are shown as they are (also an unfinished draft), with
    # the notice and how to reach the section, but nothing can be sent.
    return _check_page(request, draft, run)


def _submit(request, public_id):
    """The submit button. services.submit_as_owner reads the draft under a lock and decides
    everything there (owner? open? complete? consent? already submitted?), so nothing is
    read twice."""
    consented = request.POST.get("consent") == "yes"
    try:
        submission, secret = services.submit_as_owner(
            public_id, request.COOKIES.get(OWNER_COOKIE), consented=consented, identity=residents.current(request)
        )
    except Draft.DoesNotExist:
        raise Http404("draft not found") from None
    except services.NotOwner:
        return _not_owner(request, selectors.get_draft(public_id))
    except services.IdentityRequired as exc:
        draft = selectors.get_draft(public_id)
        check_path = reverse("applications:check", args=[draft.public_id])
        return render(request, "applications/sign_in_again.html", {
            "draft": draft, "procedure": _procedure(draft), "problem": exc.reason,
            "idle": getattr(request, "resident_signed_out_idle", False),
            "assurance": _assurance(request, _procedure(draft), draft.form_version.parsed(),
                                    residents.current(request), exc.reason, check_path),
        }, status=403)
    except services.SignatureRequired as exc:
        draft = selectors.get_draft(public_id)
        message = assurance.CHANGED_AFTER_SIGNING if exc.state == "changed" else assurance.SIGNATURE_MISSING
        return _check_page(request, draft, services.run_of(draft), signature_error=message, status=409)
    except services.NotReady as exc:
        return HttpResponseRedirect(reverse("applications:step", args=[public_id, exc.step.key]))
    except signals.SubmissionRefused as exc:
        return _refused(request, public_id, exc)
    except services.OutsideWindow:
        draft = selectors.get_draft(public_id)
        return _check_page(request, draft, services.run_of(draft), status=409)
    except services.ConsentMissing:
        draft = selectors.get_draft(public_id)
        run = services.run_of(draft)
        label = run.schema.consent.label.rstrip("。")
        message = _("送信するには「%(label)s」にチェックを入れてください。") % {"label": label}
        return _check_page(request, draft, run, consent_error=message, status=400)
    draft = submission.draft
    response = HttpResponseRedirect(reverse("applications:done", args=[draft.public_id]))
    if secret:
        # Shown once on the next page (and printed on the receipt PDF downloaded from it);
        # a signed cookie on the draft's path, so the submission writes no session row.
        response.set_signed_cookie(
            STATUS_CODE_COOKIE, secret, salt=STATUS_CODE_COOKIE, max_age=3600, path=_draft_path(draft),
            httponly=True, samesite="Lax", secure=settings.SESSION_COOKIE_SECURE,
        )
    return response


def _status_code(request) -> str | None:
    return request.get_signed_cookie(STATUS_CODE_COOKIE, default=None, salt=STATUS_CODE_COOKIE)


def done(request, public_id):
    draft, owner = _owned_draft(request, public_id)
    if not owner:
        return _not_owner(request, draft)
    submission = getattr(draft, "submission", None)
    if submission is None:
        return HttpResponseRedirect(reverse("applications:check", args=[draft.public_id]))
    # The draft's own form version, procedure and section (read with it) are the
    # submission's: no query each for the page to name them.
    submission.form_version = draft.form_version
    if submission.procedure_id == draft.form_version.definition.procedure_id:
        submission.procedure = draft.form_version.definition.procedure
        if submission.section_id == submission.procedure.section_id:
            submission.section = submission.procedure.section
    return render(request, "applications/done.html",
                  {"draft": draft, "submission": submission, "secret": _status_code(request),
                   "panels": extensions.submission_panels(submission, audience="done")})


def receipt_pdf(request, public_id):
    draft, owner = _owned_draft(request, public_id)
    if not owner:
        return _not_owner(request, draft)
    submission = getattr(draft, "submission", None)
    if submission is None or draft.form_version.definition.kind == "survey":
        raise Http404("not submitted")  # a survey response has no receipt (受付票)
    from tenohira.applications.receipt_pdf import render_receipt_pdf

    # Only the hash of the 確認コード is stored: the receipt carries the code while the
    # browser still holds it from the completion page (an hour), else says where it is.
    pdf = render_receipt_pdf(submission, secret=_status_code(request))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="receipt-{submission.receipt_number}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


def _resume_allowed(request, draft) -> bool:
    """Resume links are e-mails to a resident: a few per draft, and a bounded number per
    client address (one client cannot make the site mail many residents)."""
    return hit(f"resume:{draft.pk}", limit=5, window=dt.timedelta(hours=1)) and hit(
        f"resume-ip:{client_address(request)}", limit=settings.RESUME_LINK_LIMIT_PER_ADDRESS,
        window=dt.timedelta(hours=1),
    )


def _link_for(request):
    return lambda token: public_url(reverse("applications:resume", args=[token]))


@require_http_methods(["GET", "POST"])
def save_for_later(request, public_id):
    draft, owner = _owned_draft(request, public_id)
    if not owner:
        return _not_owner(request, draft)
    if draft.form_version.definition.anonymous:
        # 匿名アンケート: a resume link needs an e-mail address, which it must not keep.
        return HttpResponseRedirect(reverse("applications:check", args=[draft.public_id]))
    error = ""
    # The address the resident already gave (for an earlier link, or in the form).
    email = services.known_email(draft)
    if request.method == "POST":
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        email = japanese.fold_code(request.POST.get("email", ""))
        try:
            validate_email(email)
        except ValidationError:
            error = _("メールアドレスの形式が正しくありません（例: name@example.jp）。")
        else:
            if not _resume_allowed(request, draft):
                error = _("短い時間に何度も送信されました。しばらくしてからお試しください。")
            else:
                services.send_resume_link(draft, email, _link_for(request))
                return render(request, "applications/saved.html", {"draft": draft, "email": email,
                              "expires_at": draft.expires_at, "procedure": _procedure(draft)})
    return render(request, "applications/save.html",
                  {"draft": draft, "error": error, "email": email, "procedure": _procedure(draft)},
                  status=400 if error else 200)


@require_http_methods(["POST"])
def resend(request, public_id):
    """From the 「この申請を開けません」 page: the resume link again, to the address the
    resident already gave (never to one typed here, so the page's URL alone reveals
    nothing and sends nothing anywhere else)."""
    draft = selectors.get_draft(public_id)
    email = services.known_email(draft)
    if hasattr(draft, "submission") or services.is_counter_draft(draft) or not email:
        return _not_owner(request, draft)
    if not _resume_allowed(request, draft):
        return render(request, "applications/not_owner.html",
                      {"draft": draft, "masked_email": _mask(email),
                       "error": _("短い時間に何度も送信されました。しばらくしてからお試しください。")}, status=429)
    services.send_resume_link(draft, email, _link_for(request))
    return render(request, "applications/saved.html",
                  {"draft": draft, "email": _mask(email), "expires_at": draft.expires_at,
                   "procedure": _procedure(draft)})


def resume(request, token: str):
    draft = services.resume(token)
    if draft is None:
        return render(request, "applications/resume_invalid.html", status=404)
    draft = selectors.get_draft(draft.public_id)
    if services.is_counter_draft(draft):
        return _not_owner(request, draft)
    if hasattr(draft, "submission"):
        return _set_owner(HttpResponseRedirect(reverse("applications:done", args=[draft.public_id])), draft, token)
    run = services.run_of(draft)
    target = run.first_incomplete()
    url = (reverse("applications:step", args=[draft.public_id, target.key]) if target
           else reverse("applications:check", args=[draft.public_id]))
    messages.info(request, _("保存した入力内容を読み込みました。続きから入力できます。"))
    return _set_owner(HttpResponseRedirect(url), draft, token)


@never_cache
@require_http_methods(["GET", "POST"])
def status(request):
    context = {"receipt_number": "", "error": ""}
    if request.method == "POST":
        from tenohira.applications.receipts import normalise_secret
        from tenohira.core.text import fold_width

        number = fold_width(request.POST.get("receipt_number", "")).strip().upper()
        secret = normalise_secret(request.POST.get("secret", ""))
        context["receipt_number"] = number
        refused = _lookup_refused(request)
        if refused:
            context["error"] = refused
            return render(request, "applications/status.html", context, status=429)
        submission = services.find_submission(number, secret) if number and secret else None
        if submission is None:
            context["error"] = "受付番号または確認コードが正しくありません。メールに記載された番号とコードを確かめてください。"
            return render(request, "applications/status.html", context, status=400)
        context["submission"] = submission
        context.update(_status_details(submission, secret))
        context["panels"] = extensions.submission_panels(submission, audience="status")
    return render(request, "applications/status.html", context)


def postal_code_api(request, code: str):
    """Inline address fill for browsers with JavaScript (the button works without it)."""
    try:
        normalised = japanese.postal_code(code)
    except japanese.InputError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    found = japanese.lookup_postal_code(normalised)
    if found is None:
        return JsonResponse({"error": f"郵便番号「{normalised}」は見つかりません。"}, status=404)
    return JsonResponse({"postal_code": normalised, **found})



# --- 差戻し: the applicant corrects the fields staff named ----------------------------------


@uploads.bounded_uploads(uploads.correction_limits)
@never_cache
@require_http_methods(["GET", "POST"])
def correction(request, token: str):
    correction = services.open_correction(token)
    if correction is None:
        if request.method == "POST" and services.used_correction(token) is not None:
            # A second tap or a replayed POST after the resubmission: nothing more happens.
            return HttpResponseRedirect(reverse("applications:correction_done", args=[token]))
        return render(request, "applications/correction_invalid.html", status=404)
    submission = correction.submission
    steps = services.correction_steps(correction)
    comment = ""
    show_errors = False
    general: list[str] = []
    if request.method == "POST":
        action = request.POST.get("action", "resubmit")
        comment = _comment(request)
        raw_updates = {step.key: raw_from_post(request.POST, step) for step in steps}
        removals = [action.split(":", 1)[1]] if action.startswith("remove_file:") else []
        edit_problem = _correction_edit(correction, steps, raw_updates, action)
        uploads = {name: request.FILES.getlist(name) for name in request.FILES}
        staged = services.stage_correction(correction, raw_updates, uploads, removals)
        staged.problems[:0] = upload_refusals(request)  # refused while the body streamed
        if edit_problem:
            staged.problems.append(edit_problem)
        if action == "resubmit":
            if not staged.problems:
                done, problems = services.resubmit(correction, staged.updates, {}, [], comment=comment)
                if done is not None:
                    return HttpResponseRedirect(reverse("applications:correction_done", args=[token]))
                general = [message for name, message in problems if not name]
            show_errors = True
    else:
        staged = services.correction_form(correction)

    attachments = services.correction_attachments(submission)
    visible = {step.key for step in staged.run.visible}
    sections, bound_all = [], []
    for step in steps:
        if step.key not in visible:
            continue
        outcome = staged.run.outcomes.get(step.key) if show_errors else None
        bound = bind_step(staged.run, step, staged.raw.get(step.key, {}), outcome, attachments)
        if bound:
            sections.append({"step": step, "fields": bound})
            bound_all += bound
    shown = {b.field.key for b in bound_all}
    errors = error_summary(bound_all, staged.problems) if (show_errors or staged.problems) else []
    errors += [{"anchor": "correction-request", "message": message} for message in general]
    return render(
        request,
        "applications/correction.html",
        {
            "correction": correction, "submission": submission, "schema": staged.run.schema,
            "sections": sections, "errors": errors, "extra_errors": dict(staged.problems), "comment": comment,
            "not_shown": [item for item in correction.fields if item.get("path") not in shown],
        },
        status=400 if errors and request.method == "POST" else 200,
    )


def _comment(request) -> str:
    """A resident's free-text comment: bounded, and without NUL (PostgreSQL refuses it)."""
    return request.POST.get("comment", "")[:2000].replace("\x00", "")


def _correction_edit(correction, steps, raw_updates: dict, action: str) -> tuple[str, str] | None:
    """The no-JavaScript buttons of the requested fields: add or remove a group row, fill
    an address from its postal code. Buttons of other fields are ignored."""
    if ":" not in action or action.startswith("remove_file:"):
        return None
    key = services.input_field_key(action.partition(":")[2].split(":", 1)[0])
    step = next((s for s in steps if any(f.key == key for f in s.fields)), None)
    if step is None:
        return None
    _removals, problem = editing.apply_button(action, raw_updates[step.key], {f.key: f for f in step.fields})
    return problem


def correction_done(request, token: str):
    correction = services.used_correction(token)
    if correction is None:
        return render(request, "applications/correction_invalid.html", status=404)
    return render(request, "applications/correction_done.html",
                  {"correction": correction, "submission": correction.submission})


# --- 取下げ ------------------------------------------------------------------------------------


def _lookup_inputs(request) -> tuple[str, str]:
    from tenohira.applications.receipts import normalise_secret
    from tenohira.core.text import fold_width

    number = fold_width(request.POST.get("receipt_number", "")).strip().upper()
    return number, normalise_secret(request.POST.get("secret", ""))


def _lookup_refused(request) -> str:
    """The status page's limits (withdrawing shares them, so it is no way round them):
    the message to show, or "" when the lookup may go ahead.

    Counted per client address and, against guessing spread over many addresses, in one
    budget per minute for the whole site. Never per receipt number: numbers are
    sequential, and a counter on one would let anyone lock its resident out."""
    limit = settings.STATUS_LOOKUP_LIMIT_PER_HOUR
    if not hit(f"status-ip:{client_address(request)}", limit=limit, window=dt.timedelta(hours=1)):
        return "確認の回数が多すぎます。1時間ほど待ってからお試しください。"
    if not hit("status-all", limit=settings.STATUS_LOOKUP_GLOBAL_PER_MINUTE, window=dt.timedelta(minutes=1)):
        return "ただいま確認が混み合っています。しばらくしてからお試しください。"
    return ""


def _status_details(submission, secret: str) -> dict:
    """What the status page shows after a lookup, besides the facts: history, the open
    correction, and the withdraw button (which posts the number and secret again)."""
    correction = services.pending_correction(submission)
    return {
        "history": services.public_history(submission),
        "pending_correction": correction,
        "progress": progress.explain(submission, correction),
        "can_withdraw": services.can_withdraw(submission),
        "secret": secret,
    }


@never_cache
@require_http_methods(["POST"])
def withdraw(request):
    number, secret = _lookup_inputs(request)
    context = {"receipt_number": number, "error": ""}
    refused = _lookup_refused(request)
    if refused:
        context["error"] = refused
        return render(request, "applications/status.html", context, status=429)
    submission = services.find_submission(number, secret) if number and secret else None
    if submission is None:
        context["error"] = "受付番号または確認コードが正しくありません。メールに記載された番号とコードを確かめてください。"
        return render(request, "applications/status.html", context, status=400)
    if request.POST.get("action") == "withdraw":
        try:
            submission = services.withdraw(number, secret, comment=_comment(request))
        except services.WithdrawRefused as exc:
            return _withdraw_refused(request, submission, secret, str(exc))
        return render(request, "applications/withdraw_done.html", {"submission": submission})
    if submission.status == submission.Status.WITHDRAWN:
        return render(request, "applications/withdraw_done.html", {"submission": submission})
    if not services.can_withdraw(submission):
        return _withdraw_refused(
            request, submission, secret,
            progress.cannot_withdraw(submission),
        )
    return render(request, "applications/withdraw_confirm.html",
                  {"submission": submission, "secret": secret, "progress": progress.explain(submission)})


def _withdraw_refused(request, submission, secret: str, message: str):
    context = {"receipt_number": submission.receipt_number, "submission": submission, "withdraw_error": message,
               **_status_details(submission, secret)}
    return render(request, "applications/status.html", context, status=409)


def handoff(request, public_id):
    """書かない窓口: the short code and QR code a resident shows at the counter, where staff
    open this draft, check it with the resident and submit it. Issued on first view and
    shown again while valid (HANDOFF_MINUTES); a reload after expiry shows a new one."""
    draft, owner = _owned_draft(request, public_id)
    if not owner:
        return _not_owner(request, draft)
    if hasattr(draft, "submission"):
        return HttpResponseRedirect(reverse("applications:done", args=[draft.public_id]))
    import segno
    from django.utils.safestring import mark_safe

    code = services.issue_handoff_code(draft)
    staff_address = staff_url(reverse("backoffice:counter_handoff_open", args=[code]))
    label = f"窓口の職員が読み取るQRコード（コード {services.format_handoff_code(code)}）"
    svg = segno.make(staff_address, error="m").svg_inline(
        scale=1, border=4, omitsize=True, light="#fff", svgclass="qr-code", title=label
    )
    # segno escapes the title; the URL holds only the code's alphabet. role="img" makes the
    # title the SVG's accessible name.
    svg = svg.replace("<svg ", '<svg role="img" focusable="false" ', 1)
    run = services.run_of(draft)
    pending = run.first_incomplete()
    back_url = (
        reverse("applications:step", args=[draft.public_id, pending.key]) if pending
        else reverse("applications:check", args=[draft.public_id])
    )
    return render(
        request, "applications/handoff.html",
        {
            "draft": draft, "schema": run.schema, "code": code, "code_parts": (code[:4], code[4:]),
            "expires_at": draft.handoff_expires_at, "minutes": settings.HANDOFF_MINUTES,
            "qr_svg": mark_safe(svg),  # noqa: S308 (generated by segno from our own URL)
            "back_url": back_url, "complete": pending is None,
        },
    )
