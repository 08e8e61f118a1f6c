"""Staff pages: sign-in, the section queue, an application's detail with its workflow
actions and 差戻し, attachment downloads. Thin: parse, call a selector or service, render.

Every page that shows personal data reads through backoffice.selectors with the acting
user and writes an audit record (submission_view, attachment_download)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from tenohira.applications.attachments import open_stored
from tenohira.applications.models import Submission
from tenohira.audit.services import record as audit
from tenohira.backoffice import (
    diffs,
    evidence,
    login,
    selectors,
    services,
    views_payments,
    workflow,
)
from tenohira.backoffice.auth import staff_required
from tenohira.backoffice.forms import (
    CorrectionForm,
    LoginForm,
    QueueFilterForm,
    StaffPasswordChangeForm,
    TransitionForm,
    procedures_of,
)
from tenohira.backoffice.models import CounterIdentityCheck, Role
from tenohira.core.site import public_url

PER_PAGE = 50
# The queue counts matching rows only up to this many (a bounded index scan); beyond it
# the page says "10,000件以上" instead of paying for an exact COUNT(*) of a huge section.
COUNT_CAP = 10_000


# --- sign-in ----------------------------------------------------------------------------


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@sensitive_post_parameters("password", "code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    next_url = _safe_next(request, reverse("backoffice:queue"))
    user = request.user
    if request.method == "GET" and user.is_authenticated and user.is_verified():
        return HttpResponseRedirect(next_url)
    form = LoginForm(request.POST or None)
    error = ""
    status = 200
    if request.method == "POST":
        from tenohira.core.clients import client_address
        from tenohira.core.ratelimit import hit

        # Per address as well as per username: one address trying many usernames
        # (password spraying) is stopped too.
        window = dt.timedelta(minutes=settings.STAFF_LOCKOUT_MINUTES)
        if not hit(f"login-ip:{client_address(request)}", limit=settings.STAFF_LOGIN_LIMIT_PER_ADDRESS, window=window):
            return render(
                request, "backoffice/login.html",
                {"form": form, "error": "この接続元からのログインの試行が多すぎます。しばらくしてからお試しください。",
                 "next": next_url, "demo_codes": login.demo_codes(),
                 "idle_minutes": settings.STAFF_IDLE_TIMEOUT_MINUTES},
                status=429,
            )
        if form.is_valid():
            outcome = login.sign_in(
                request, form.cleaned_data["username"], form.cleaned_data["password"], form.cleaned_data["code"]
            )
            if outcome.ok:
                return HttpResponseRedirect(next_url)
            error = outcome.message
        status = 400
    return render(
        request, "backoffice/login.html",
        {"form": form, "error": error, "next": next_url, "demo_codes": login.demo_codes(),
         "idle_minutes": settings.STAFF_IDLE_TIMEOUT_MINUTES},
        status=status,
    )


login_view.staff_public = True  # the door itself: reachable without signing in


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        audit("logout", user=request.user, target=request.user.get_username()[:100], request=request)
    auth_logout(request)
    return HttpResponseRedirect(f"{reverse('backoffice:login')}?signed_out=1")


logout_view.staff_public = True


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@staff_required
@require_http_methods(["GET", "POST"])
def password_change(request):
    form = StaffPasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)  # stay signed in (and OTP-verified)
        audit("password_change", user=user, target=user.get_username()[:100], request=request)
        messages.success(request, "パスワードを変更しました。")
        return HttpResponseRedirect(reverse("backoffice:queue"))
    return render(request, "backoffice/password.html", {"form": form}, status=400 if form.errors else 200)


# --- queue ------------------------------------------------------------------------------


@dataclass
class QueueRow:
    submission: Submission
    age_days: int
    overdue: bool


@dataclass
class QueuePage:
    rows: list[QueueRow]
    number: int
    count: int  # capped at COUNT_CAP
    capped: bool

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // PER_PAGE))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    def window(self) -> list[int | None]:
        """Page numbers to link: the first, the last, and two either side of this one."""
        pages = sorted({1, self.num_pages, *range(max(1, self.number - 2), min(self.num_pages, self.number + 2) + 1)})
        shown: list[int | None] = []
        for page in pages:
            if shown and page - shown[-1] > 1:
                shown.append(None)  # a gap: "…"
            shown.append(page)
        return shown


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


def _queue_page(items, number: int) -> QueuePage:
    # COUNT over a LIMITed subquery: an index range scan that stops at COUNT_CAP rows.
    count = items.order_by()[: COUNT_CAP + 1].count()
    capped = count > COUNT_CAP
    count = min(count, COUNT_CAP)
    number = min(number, max(1, -(-count // PER_PAGE)))
    offset = (number - 1) * PER_PAGE
    today = timezone.localdate()
    rows = []
    # The answers (JSON) are not shown in the queue: loading and decoding 50 of them was
    # most of the page's time at 100,000 rows.
    for submission in items.defer("answers", "summary")[offset: offset + PER_PAGE]:
        submitted = timezone.localtime(submission.submitted_at).date()
        overdue = bool(
            submission.due_date and submission.due_date < today and submission.status in selectors.OPEN_STATUSES
        )
        rows.append(QueueRow(submission, (today - submitted).days, overdue))
    return QueuePage(rows, number, count, capped)


@staff_required
@require_http_methods(["GET"])
def queue(request):
    sections = list(selectors.sections_for(request.user).order_by("department__order", "order", "pk"))
    if not sections:
        # Auditors and DX administrators hold no section: nothing to review here.
        return render(request, "backoffice/no_section.html", {})
    by_id = {s.pk: s for s in sections}
    try:
        chosen = int(request.GET.get("section") or sections[0].pk)
    except ValueError:
        chosen = sections[0].pk
    section = by_id.get(chosen, sections[0])
    procedures = list(procedures_of(section.pk))
    data = request.GET.copy()
    data["section"] = str(section.pk)
    form = QueueFilterForm(data, sections=sections, procedures=procedures)
    form.is_valid()
    filters = form.filters()
    # 手数料の状態 (payments): an unknown value is left out, like the form's other filters.
    payment = request.GET.get("payment", "")
    payment = payment if payment in selectors.PAYMENT_FILTERS else ""
    items = selectors.queue(request.user, section_id=section.pk, payment=payment, **filters)
    page = _queue_page(items, _page_number(request.GET.get("page")))
    query = {k: v for k, v in data.items() if k != "page" and v not in ("", None)}
    return render(request, "backoffice/queue.html", {
        "form": form, "sections": sections, "section": section, "page": page,
        "query": urlencode(query), "today": timezone.localdate(),
        "filtered": any(v for k, v in filters.items() if k != "status") or filters["status"] != "open" or bool(payment),
        "payment": payment, "payment_filters": selectors.PAYMENT_FILTERS,
    })


# --- one application --------------------------------------------------------------------


def _roles_in_section(user, submission: Submission) -> set[str]:
    return {role for role, section in selectors.roles_of(user) if section == submission.section_id}


def _render_detail(request, receipt_number: str, *, error: str = "", status: int = 200,
                   transition_form: TransitionForm | None = None, correction_form: CorrectionForm | None = None):
    submission = selectors.get_submission_for(request.user, receipt_number)
    identity_box = evidence.identity_box(submission.identity)
    signature_box = evidence.signature_box(submission)
    # The record says the identity evidence and the signature's outcome were shown too.
    seen = {"identity": True} if identity_box else {}
    if signature_box:
        seen["signature"] = signature_box["status"]
    audit("submission_view", user=request.user, target=submission.receipt_number,
          detail={"procedure": submission.procedure.code, **seen}, request=request)
    schema = submission.form_version.parsed()
    roles = _roles_in_section(request.user, submission)
    steps = [
        {"to": to, "label": workflow.ACTION_LABELS.get(to, Submission.Status(to).label)}
        for to in workflow.next_steps(submission.status, roles)
    ]
    # 差戻し works through an e-mailed link: without an address it cannot reach the resident.
    can_return = workflow.allowed(submission.status, Submission.Status.RETURNED, roles) and bool(submission.email)
    identity = CounterIdentityCheck.objects.filter(submission=submission).select_related("checked_by").first()
    fields = schema.field_map()
    attachments = [
        {"item": a, "label": _attachment_label(fields, a.field_path)}
        for a in submission.attachments.order_by("pk")
    ]
    versions = list(submission.versions.all())
    today = timezone.localdate()
    return render(request, "backoffice/detail.html", {
        "submission": submission,
        "roles": sorted(str(Role(r).label) for r in roles),
        "steps": steps,
        "can_return": can_return,
        "transition_form": transition_form,
        "correction_rows": (correction_form or CorrectionForm(schema=schema)).rows() if can_return else [],
        "correction_message": correction_form.data.get("message", "") if correction_form else "",
        "attachments": attachments,
        "events": [
            {"event": e, "from_label": Submission.Status(e.from_status).label if e.from_status else "",
             # The identity check belongs to the step that received the application.
             "identity": identity if identity is not None and index == 0 else None}
            for index, e in enumerate(submission.events.all())
        ],
        "identity": identity,
        "evidence": identity_box,
        "signature": signature_box,
        "return_without_email": not submission.email
        and workflow.allowed(submission.status, Submission.Status.RETURNED, roles),
        "corrections": list(submission.corrections.select_related("requested_by")),
        "versions": versions,
        "version_diffs": diffs.consecutive(versions),
        "error": error,
        "overdue": bool(submission.due_date and submission.due_date < today
                        and submission.status in selectors.OPEN_STATUSES),
        "age_days": (today - timezone.localtime(submission.submitted_at).date()).days,
        # 手数料: assessments, payments, 減免 and 還付 (backoffice.views_payments).
        "fee": views_payments.panel(request.user, submission, roles),
    }, status=status)


def _attachment_label(fields, field_path: str) -> str:
    """「添付書類」 for "document", 「児童2 写真」 for a group row "children-1-photo"."""
    parts = field_path.split("-")
    if len(parts) == 3 and parts[1].isdigit():
        group, child = fields.get(parts[0]), fields.get(f"{parts[0]}.{parts[2]}")
        if group is not None and child is not None:
            return f"{group.option('row_label', group.label)}{int(parts[1]) + 1} {child.label}"
    found = fields.get(field_path)
    return found.label if found is not None else field_path


@staff_required
@require_http_methods(["GET"])
def detail(request, receipt_number: str):
    return _render_detail(request, receipt_number)


@staff_required
@require_POST
def transition(request, receipt_number: str):
    form = TransitionForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, receipt_number, error="選んだ操作が正しくありません。もう一度選んでください。",
                              status=400, transition_form=form)
    to = form.cleaned_data["to"]
    try:
        submission = services.transition(
            request.user, receipt_number, to, comment=form.cleaned_data["comment"], request=request
        )
    except services.WorkflowError as exc:
        return _render_detail(request, receipt_number, error=str(exc), status=400, transition_form=form)
    except PermissionDenied as exc:
        return _render_detail(request, receipt_number, error=str(exc) or "この操作をする権限がありません。",
                              status=403, transition_form=form)
    messages.success(request, f"状態を「{submission.get_status_display()}」にしました。申請者にメールでお知らせします。")
    return HttpResponseRedirect(reverse("backoffice:detail", args=[submission.receipt_number]))


@staff_required
@require_POST
def correction(request, receipt_number: str):
    submission = selectors.get_submission_for(request.user, receipt_number)
    form = CorrectionForm(request.POST, schema=submission.form_version.parsed())
    form.is_valid()
    try:
        services.request_correction(
            request.user, receipt_number, fields=form.items(), message=form.cleaned_data.get("message", ""),
            # The applicant opens the link from home, on the public site, never on the
            # staff host (LGWAN) this request came through.
            link_for=lambda token: public_url(f"/corrections/{token}/"), request=request,
        )
    except services.WorkflowError as exc:
        return _render_detail(request, receipt_number, error=str(exc), status=400, correction_form=form)
    except PermissionDenied as exc:
        return _render_detail(request, receipt_number, error=str(exc) or "この操作をする権限がありません。",
                              status=403, correction_form=form)
    messages.success(request, "差し戻しました。申請者に修正のお願いをメールで送ります。")
    return HttpResponseRedirect(reverse("backoffice:detail", args=[receipt_number]))


@staff_required
@require_http_methods(["GET"])
def attachment(request, receipt_number: str, attachment_id: int):
    item = selectors.attachment_for(request.user, receipt_number, attachment_id)
    try:
        stored = open_stored(item.stored_name)
    except FileNotFoundError:
        raise Http404("attachment file missing") from None
    audit("attachment_download", user=request.user, target=receipt_number,
          detail={"attachment": item.pk, "name": item.original_name, "sha256": item.sha256}, request=request)
    response = FileResponse(stored, as_attachment=True, filename=item.original_name, content_type=item.content_type)
    response["Cache-Control"] = "private, no-store"
    return response
