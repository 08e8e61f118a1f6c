"""Sign-in, sign-out, e-mail codes and signing (thin: parse, call, render).

A flow in progress (state, nonce, PKCE verifier, where to return) is kept in the session
under FLOWS_KEY, keyed by its `state`, so the callback accepts only what this browser
started, once.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenohira.core import residents
from tenohira.identity import services, signing
from tenohira.identity.errors import IdentityFailure
from tenohira.identity.models import EmailChallenge
from tenohira.identity.oidc import new_secret
from tenohira.identity.registry import register

FLOWS_KEY = "tnh_identity_flows"
EMAIL_KEY = "tnh_identity_email"
OWNER_COOKIE = "tnh_draft"  # applications.views.OWNER_COOKIE
# A flow not finished within this time is forgotten (the provider's own pages time out sooner).
FLOW_SECONDS = 15 * 60
MAX_FLOWS = 5
LEVELS = {residents.NONE, residents.EMAIL, residents.BUSINESS, residents.CARD_SIGNIN, residents.CARD_SIGNATURE}


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to return to; anything else (another site, a scheme) becomes `default`."""
    value = (value or "").strip()
    if (not value.startswith("/") or value.startswith(("//", "/\\")) or len(value) > 1000
            or not url_has_allowed_host_and_scheme(value, allowed_hosts=None)):
        return default
    return value


def _level(value: str | None) -> str:
    return value if value in LEVELS else residents.NONE


def _remember_flow(request, state: str, flow: dict) -> None:
    flows = {k: v for k, v in (request.session.get(FLOWS_KEY) or {}).items()
             if time.time() - v.get("created", 0) < FLOW_SECONDS}
    flows[state] = {**flow, "created": time.time()}
    # A few tabs may sign in at once; more than that is someone replaying the start.
    request.session[FLOWS_KEY] = dict(sorted(flows.items(), key=lambda kv: kv[1]["created"])[-MAX_FLOWS:])


def _take_flow(request, state: str | None, kind: str) -> dict | None:
    flows = request.session.get(FLOWS_KEY) or {}
    flow = flows.pop(state, None) if state else None
    request.session[FLOWS_KEY] = flows
    if not flow or flow.get("kind") != kind or time.time() - flow.get("created", 0) > FLOW_SECONDS:
        return None
    return flow


def failure_page(request, failure: IdentityFailure, *, back: str, provider: str, action: str = "identity.sign_in_failed",
                 target: str = ""):
    services.record_failure(request, provider, failure, action=action, target=target)
    return render(request, "identity/failure.html", {
        "failure": failure, "back": back, "retry": failure.code not in {"unknown_provider"},
    }, status=failure.status)


@require_GET
def sign_in(request):
    """The chooser: a button per configured provider that meets the required level."""
    level = _level(request.GET.get("level"))
    nxt = safe_next(request.GET.get("next"))
    identity = residents.current(request)
    if identity and residents.needs_identity(level) and residents.satisfies(identity, level):
        return HttpResponseRedirect(nxt)
    providers = register.offering(level) if residents.needs_identity(level) else register.providers()
    if len(providers) == 1 and providers[0].start_view:
        # Only the e-mail: no choice to make.
        return HttpResponseRedirect(f"{reverse(providers[0].start_view)}?{_query(nxt, level)}")
    return render(request, "identity/sign_in.html", {
        "providers": providers, "next": nxt, "level": level, "identity": identity,
        "idle": getattr(request, "resident_signed_out_idle", False),
    })


def _query(nxt: str, level: str) -> str:
    return urlencode({"next": nxt, "level": level})


@require_POST
def start(request, provider: str):
    nxt = safe_next(request.POST.get("next") or request.GET.get("next"))
    level = _level(request.POST.get("level") or request.GET.get("level"))
    chosen = register.get(provider)
    if chosen is None:
        return failure_page(request, IdentityFailure("unknown_provider"), back=nxt, provider=provider)
    if chosen.start_view:
        return HttpResponseRedirect(f"{reverse(chosen.start_view)}?{_query(nxt, level)}")
    state, nonce, verifier = new_secret(), new_secret(), new_secret() + new_secret()
    redirect_uri = request.build_absolute_uri(reverse("identity:callback", args=[provider]))
    try:
        url = chosen.authorization_url(redirect_uri=redirect_uri, state=state, nonce=nonce, code_verifier=verifier)
    except IdentityFailure as failure:
        return failure_page(request, failure, back=nxt, provider=provider)
    _remember_flow(request, state, {"kind": "sign_in", "provider": provider, "nonce": nonce, "verifier": verifier,
                                    "next": nxt, "level": level, "redirect_uri": redirect_uri})
    return HttpResponseRedirect(url)


@require_GET
def callback(request, provider: str):
    flow = _take_flow(request, request.GET.get("state"), "sign_in")
    if flow is None or flow["provider"] != provider:
        return failure_page(request, IdentityFailure("state", "state unknown"), back="/", provider=provider)
    chosen = register.get(provider)
    if chosen is None:
        return failure_page(request, IdentityFailure("unknown_provider"), back=flow["next"], provider=provider)
    try:
        identity = chosen.finish(params=request.GET, redirect_uri=flow["redirect_uri"], nonce=flow["nonce"],
                                 code_verifier=flow["verifier"])
    except IdentityFailure as failure:
        return failure_page(request, failure, back=flow["next"], provider=provider)
    services.complete_sign_in(request, identity)
    messages.success(request, _("%(provider)sでログインしました。") % {"provider": identity["provider_label"]})
    return HttpResponseRedirect(flow["next"])


@require_http_methods(["GET", "POST"])
def sign_out(request):
    if request.method == "POST":
        services.sign_out(request)
        request.session.pop(FLOWS_KEY, None)
        return render(request, "identity/signed_out.html", {"next": safe_next(request.POST.get("next"))})
    return render(request, "identity/sign_out.html", {"identity": residents.current(request),
                                                      "next": safe_next(request.GET.get("next"))})


# --- e-mail ---

_EMAIL_ERRORS = {
    "limit": gettext_lazy("確認コードの送信が多すぎます。1時間ほどたってから、もう一度お試しください。"),
    "wrong": gettext_lazy("確認コードが違います。メールに書かれた6桁の数字を入力してください。"),
    "expired": gettext_lazy("確認コードの期限が切れたか、すでに使われています。もう一度メールアドレスを入力して、新しいコードを受け取ってください。"),
    "attempts": gettext_lazy("確認コードを何度も間違えたため、このコードは使えなくなりました。もう一度メールアドレスを入力して、新しいコードを受け取ってください。"),
    "unknown": gettext_lazy("確認コードの期限が切れたか、すでに使われています。もう一度メールアドレスを入力して、新しいコードを受け取ってください。"),
}


def _email_provider():
    provider = register.get(services.EMAIL_PROVIDER)
    if provider is None:
        raise Http404("e-mail sign-in is off")
    return provider


@require_http_methods(["GET", "POST"])
def email(request):
    _email_provider()
    nxt = safe_next(request.POST.get("next") or request.GET.get("next"))
    error, address = "", ""
    if request.method == "POST":
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        address = (request.POST.get("email") or "").strip()[:254]
        try:
            validate_email(address)
        except ValidationError:
            error = _("メールアドレスを、例のような形で入力してください（例: taro@example.jp）。")
        else:
            try:
                challenge = services.send_email_code(
                    request, address, purpose=EmailChallenge.Purpose.SIGN_IN,
                    link_for=lambda token: request.build_absolute_uri(reverse("identity:email_link", args=[token])))
            except services.EmailCodeError as exc:
                error = _EMAIL_ERRORS[exc.reason]
            else:
                request.session[EMAIL_KEY] = {"challenge": challenge.pk, "next": nxt}
                return HttpResponseRedirect(reverse("identity:email_code"))
    return render(request, "identity/email.html", {"next": nxt, "error": error, "email": address},
                  status=400 if error else 200)


@require_http_methods(["GET", "POST"])
def email_code(request):
    _email_provider()
    pending = request.session.get(EMAIL_KEY)
    if not pending:
        return HttpResponseRedirect(reverse("identity:email"))
    error = ""
    if request.method == "POST":
        try:
            challenge = services.check_email_code(pending["challenge"], request.POST.get("code", ""),
                                                  purpose=EmailChallenge.Purpose.SIGN_IN)
        except services.EmailCodeError as exc:
            error = _EMAIL_ERRORS[exc.reason]
            services.record_failure(request, services.EMAIL_PROVIDER, IdentityFailure("state", exc.reason))
        else:
            request.session.pop(EMAIL_KEY, None)
            services.complete_sign_in(request, services.email_identity(challenge))
            messages.success(request, _("メールアドレスを確認し、ログインしました。"))
            return HttpResponseRedirect(pending["next"])
    return render(request, "identity/email_code.html", {"error": error, "next": pending["next"]},
                  status=400 if error else 200)


@require_http_methods(["GET", "POST"])
def email_link(request, token: str):
    """The link in the e-mail. Opening it shows a button; only pressing it signs in (mail
    scanners that open every link must not spend it)."""
    _email_provider()
    if request.method == "POST":
        try:
            challenge = services.check_email_link(token, purpose=EmailChallenge.Purpose.SIGN_IN)
        except services.EmailCodeError as exc:
            return render(request, "identity/email_code.html", {"error": _EMAIL_ERRORS[exc.reason], "dead": True},
                          status=400)
        pending = request.session.pop(EMAIL_KEY, None) or {}
        services.complete_sign_in(request, services.email_identity(challenge))
        messages.success(request, _("メールアドレスを確認し、ログインしました。"))
        return HttpResponseRedirect(safe_next(pending.get("next")))
    return render(request, "identity/email_link.html", {})


# --- signing (電子署名) ---


def _draft_for_signing(request, public_id):
    from tenohira.applications import services as app_services
    from tenohira.applications.models import Draft

    draft = Draft.objects.filter(public_id=public_id).first()
    if draft is None or not app_services.owns(draft, request.COOKIES.get(OWNER_COOKIE)):
        raise Http404("not this browser's draft")
    return draft


def _check_url(draft) -> str:
    return reverse("applications:check", args=[draft.public_id])


@require_POST
def sign(request, public_id):
    from tenohira.applications.digests import draft_digest

    draft = _draft_for_signing(request, public_id)
    identity = residents.current(request)
    back = _check_url(draft)
    on_draft = draft.identity or {}
    if (not identity or not on_draft or identity.get("provider") != on_draft.get("provider")
            or identity.get("subject") != on_draft.get("subject")):
        # Signed out meanwhile (idle), or someone else signed in on this browser.
        messages.error(request, _("電子署名の前に、申請を始めた方がもう一度ログインしてください。"))
        return HttpResponseRedirect(f"{reverse('identity:sign_in')}?{_query(back, residents.CARD_SIGNATURE)}")
    try:
        provider = signing.signing_provider(identity)
        digest = draft_digest(draft)
        redirect_uri = request.build_absolute_uri(reverse("identity:sign_callback"))
        url, state = signing.request_signature(provider, digest=digest, redirect_uri=redirect_uri,
                                               subject=identity["subject"])
    except IdentityFailure as failure:
        return failure_page(request, failure, back=back, provider=identity.get("provider", ""),
                            action="identity.sign_failed", target=f"draft:{draft.pk}")
    _remember_flow(request, state, {"kind": "sign", "provider": provider.info.name, "draft": str(draft.public_id),
                                    "digest": digest, "subject": identity["subject"]})
    return HttpResponseRedirect(url)


@require_GET
def sign_callback(request):
    from tenohira.applications import services as app_services

    flow = _take_flow(request, request.GET.get("state"), "sign")
    if flow is None:
        return failure_page(request, IdentityFailure("state", "state unknown"), back="/", provider="",
                            action="identity.sign_failed")
    # The provider returns to one registered address, outside the draft's path, so the
    # draft's owner cookie is not sent here: the flow in this session is the proof (it was
    # recorded only after the owner cookie and the signed-in person were checked), and the
    # person signed in now must still be the one who started it.
    from tenohira.applications.models import Draft

    draft = Draft.objects.filter(public_id=flow["draft"]).first()
    if draft is None:
        raise Http404("draft gone")
    back = _check_url(draft)
    identity = residents.current(request)
    if not identity or identity.get("subject") != flow["subject"]:
        return failure_page(request, IdentityFailure("state", "signer signed out"), back=back,
                            provider=flow["provider"], action="identity.sign_failed", target=f"draft:{draft.pk}")
    provider = register.get(flow["provider"])
    try:
        if provider is None:
            raise IdentityFailure("unknown_provider")
        signature = signing.receive_signature(provider, params=request.GET, digest=flow["digest"],
                                              subject=flow["subject"])
    except IdentityFailure as failure:
        return failure_page(request, failure, back=back, provider=flow["provider"], action="identity.sign_failed",
                            target=f"draft:{draft.pk}")
    app_services.attach_signature(draft, signature)
    services.record_signature(request, draft, signature)
    messages.success(request, _("電子署名をしました。内容を確認して、申請を送信してください。"))
    return HttpResponseRedirect(back)
