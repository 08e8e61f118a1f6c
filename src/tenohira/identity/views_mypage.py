"""マイページ: the signed-in resident's applications, drafts, corrections, receipts and 取下げ.

Thin: the account comes from the session (core.residents), every read goes through
identity.mypage with that account's id, and every page writes an audit record naming the
account, never what it shows. Pages carry Cache-Control: no-store (a shared phone or a
library terminal must not show them again on "back"). No JavaScript is needed anywhere.
"""

from __future__ import annotations

import functools
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tenohira.applications import account_access, extensions, progress, services
from tenohira.applications.models import Submission
from tenohira.audit.services import record as audit
from tenohira.core import residents
from tenohira.core.clients import client_address
from tenohira.core.fiscal import local
from tenohira.core.wareki import format_wareki
from tenohira.identity import extensions as mypage_extensions
from tenohira.identity import mypage
from tenohira.identity.models import Account

MYPAGE_PATH = "/mypage/"
LINK_SESSION_KEY = "tnh_mypage_link"
# The applications' draft cookie (applications.views.OWNER_COOKIE), scoped to the draft's path.
OWNER_COOKIE = "tnh_draft"


def _sign_in_url(next_path: str = MYPAGE_PATH) -> str:
    try:
        base = reverse("identity:sign_in")
    except NoReverseMatch:  # the sign-in pages are not mounted (a test of this page alone)
        base = "/identity/sign-in/"
    return f"{base}?{urlencode({'next': next_path})}"


def _sign_out_url() -> str:
    try:
        return reverse("identity:sign_out")
    except NoReverseMatch:
        return "/identity/sign-out/"


def _no_store(response):
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
    response.headers.pop("Expires", None)
    return response


def resident_required(view):
    """The signed-in resident's account, or the way to sign in. After an idle sign-out
    the page says so (core.residents.current signs out and marks the request)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        identity = residents.current(request)
        account = None
        if identity and identity.get("account_id"):
            account = Account.objects.filter(pk=identity["account_id"]).first()
        if account is None:
            if getattr(request, "resident_signed_out_idle", False):
                response = render(request, "identity/mypage_signed_out.html",
                                  {"sign_in_url": _sign_in_url(request.path if request.method == "GET" else MYPAGE_PATH)})
            else:
                response = HttpResponseRedirect(_sign_in_url(request.path if request.method == "GET" else MYPAGE_PATH))
            return _no_store(response)
        request.resident = identity
        request.account = account
        return _no_store(view(request, *args, **kwargs))

    return wrapper


def _audit(request, action: str, target: str = "", **detail):
    audit(action, target=target or f"account:{request.account.pk}",
          detail={"account": request.account.pk, **detail}, request=request)


def _row(submission: Submission) -> dict:
    correction = services.pending_correction(submission)
    submitted = local(submission.submitted_at)
    return {
        "submission": submission,
        "submitted_on": format_wareki(submitted.date()),
        "submitted_time": f"{submitted:%H:%M}",
        "progress": progress.explain(submission, correction),
        "correction": correction,
        "can_withdraw": services.can_withdraw(submission),
    }


@require_http_methods(["GET"])
@resident_required
def home(request):
    found = mypage.overview(request.account.pk)
    rows = [_row(s) for s in found.submissions]
    _audit(request, "mypage.view", submissions=len(rows), drafts=len(found.drafts))
    return render(request, "identity/mypage.html", {
        "resident": request.resident,
        "rows": rows,
        "corrections": [row for row in rows if row["correction"] is not None],
        "drafts": [
            {"draft": d, "procedure": d.form_version.definition.procedure,
             "updated_on": format_wareki(local(d.updated_at).date()),
             "expires_on": format_wareki(local(d.expires_at).date())}
            for d in found.drafts
        ],
        "sign_out_url": _sign_out_url(),
        "sections": mypage_extensions.mypage_sections(request.account),
    })


@require_http_methods(["GET"])
@resident_required
def application(request, receipt_number: str):
    submission = mypage.submission_of(request.account.pk, receipt_number)
    _audit(request, "mypage.application_view", target=submission.receipt_number)
    return render(request, "identity/mypage_application.html", {
        **_row(submission),
        "history": services.public_history(submission),
        "panels": extensions.submission_panels(submission, audience="mypage"),
        "sign_out_url": _sign_out_url(),
    })


@require_http_methods(["GET"])
@resident_required
def receipt_pdf(request, receipt_number: str):
    from tenohira.applications.receipt_pdf import render_receipt_pdf

    submission = mypage.submission_of(request.account.pk, receipt_number)
    _audit(request, "mypage.receipt_pdf", target=submission.receipt_number)
    # The 確認コード is stored hashed only; the receipt says where it was given instead.
    response = HttpResponse(render_receipt_pdf(submission, secret=None), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="receipt-{submission.receipt_number}.pdf"'
    return response


@require_http_methods(["GET", "POST"])
@resident_required
def withdraw(request, receipt_number: str):
    submission = mypage.submission_of(request.account.pk, receipt_number)
    page = {"submission": submission, "progress": progress.explain(submission)}
    if submission.status == Submission.Status.WITHDRAWN:
        return render(request, "identity/mypage_withdraw_done.html", page)
    if not services.can_withdraw(submission):
        return render(request, "identity/mypage_withdraw.html",
                      {**page, "refused": progress.cannot_withdraw(submission)}, status=409)
    if request.method == "POST" and request.POST.get("action") == "withdraw":
        comment = request.POST.get("comment", "")[:2000]
        try:
            submission = services.withdraw_submission(submission, comment=comment, from_mypage=True)
        except services.WithdrawRefused as exc:
            return render(request, "identity/mypage_withdraw.html", {**page, "refused": str(exc)}, status=409)
        _audit(request, "mypage.withdraw", target=submission.receipt_number)
        return render(request, "identity/mypage_withdraw_done.html", {**page, "submission": submission})
    _audit(request, "mypage.withdraw_confirm", target=submission.receipt_number)
    return render(request, "identity/mypage_withdraw.html", page)


@require_POST
@resident_required
def continue_draft(request, public_id):
    """「続きから入力」: this browser becomes an owner of the draft (the draft cookie), then
    goes to the first page still to fill in, or the check page."""
    draft = mypage.draft_of(request.account.pk, public_id)
    token = account_access.reopen_draft(draft)
    if token is None:
        messages.info(request, _("この入力中の申請は、続きから入力できなくなりました（期限切れ、または窓口で手続き中）。"))
        return HttpResponseRedirect(reverse("identity:mypage"))
    _audit(request, "mypage.continue_draft", target=str(draft.public_id))
    draft.refresh_from_db()
    target = services.run_of(draft).first_incomplete()
    url = (reverse("applications:step", args=[draft.public_id, target.key]) if target
           else reverse("applications:check", args=[draft.public_id]))
    response = HttpResponseRedirect(url)
    response.set_cookie(
        OWNER_COOKIE, token, max_age=int(services.draft_lifetime().total_seconds()),
        path=f"/apply/{draft.public_id}/", httponly=True, samesite="Lax", secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


@require_POST
@resident_required
def correction(request, receipt_number: str):
    """修正する: a fresh link to the open 差戻し (the e-mailed one stops working)."""
    submission = mypage.submission_of(request.account.pk, receipt_number)
    pending = services.pending_correction(submission)
    token = account_access.reissue_correction_link(pending) if pending is not None else None
    if token is None:
        messages.info(request, _("この申請には、今お願いしている修正はありません。"))
        return HttpResponseRedirect(reverse("identity:mypage_application", args=[submission.receipt_number]))
    _audit(request, "mypage.correction_open", target=submission.receipt_number)
    return HttpResponseRedirect(reverse("applications:correction", args=[token]))


# --- 以前の申請を追加する -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@resident_required
def link(request):
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    email, error, status = "", "", 200
    if request.method == "POST":
        email = mypage.normalise_email(request.POST.get("email", ""))
        try:
            validate_email(email)
        except ValidationError:
            error, status = _("メールアドレスの形式が正しくありません（例: name@example.jp）。"), 400
        else:
            try:
                challenge = mypage.start_link(request.account, email, client=client_address(request))
            except mypage.TooMany:
                error, status = _("短い時間に何度もコードを送ろうとしました。1時間ほど待ってからお試しください。"), 429
            else:
                request.session[LINK_SESSION_KEY] = challenge.pk
                _audit(request, "mypage.link_code_sent")
                return HttpResponseRedirect(reverse("identity:mypage_link_code"))
    return render(request, "identity/mypage_link.html", {"email": email, "error": error}, status=status)


@require_http_methods(["GET", "POST"])
@resident_required
def link_code(request):
    challenge_id = request.session.get(LINK_SESSION_KEY)
    if not challenge_id:
        return HttpResponseRedirect(reverse("identity:mypage_link"))
    error, status = "", 200
    if request.method == "POST":
        outcome = mypage.confirm_link(request.account, challenge_id, request.POST.get("code", ""))
        _audit(request, "mypage.link_code", outcome=outcome.status, added=outcome.added)
        if outcome.status == "added":
            del request.session[LINK_SESSION_KEY]
            if outcome.added:
                messages.success(request, _("%(count)d件の申請をマイページに追加しました。") % {"count": outcome.added})
            else:
                messages.info(request, _("メールアドレスを確認しました。追加できる申請はありませんでした。"))
            return HttpResponseRedirect(reverse("identity:mypage"))
        if outcome.status == "wrong":
            error, status = _("確認コードが違います。メールに書かれた6桁の数字を入力してください（あと%(left)d回）。") % {
                "left": outcome.remaining}, 400
        else:
            del request.session[LINK_SESSION_KEY]
            error = (_("確認コードの有効期限が切れました。もう一度コードを送ってください。") if outcome.status == "expired"
                     else _("確認コードを間違えた回数が上限に達しました。もう一度コードを送ってください。"))
            return render(request, "identity/mypage_link.html", {"email": "", "error": error}, status=400)
    return render(request, "identity/mypage_link_code.html",
                  {"error": error, "minutes": mypage.CODE_MINUTES}, status=status)
