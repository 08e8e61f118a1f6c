"""The resident's payment pages (/pay/…) and the providers' webhooks.

Thin: parse, call payments.services, render. Every page works without JavaScript
(buttons are forms that POST), is sent with Cache-Control: no-store (amounts, receipt
numbers and the applicant's name must not stay in a shared cache), and the state shown
after a provider's page is asked from the provider, never read from the query string.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from tenohira.payments import selectors, services
from tenohira.payments.models import Assessment, Payment
from tenohira.payments.registry import InvalidWebhook, register
from tenohira.payments.states import MONEY_RECEIVED, OPEN_PAYMENT

logger = logging.getLogger(__name__)

#: A provider's event is a few kilobytes; anything past this is refused unread.
WEBHOOK_MAX_BYTES = 64 * 1024
PAID_STATES = {Assessment.State.PAID, Assessment.State.SETTLED, Assessment.State.RECONCILED}


def _origin(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in {"https", "http"} or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def checkout_origins(providers) -> list[str]:
    """Where the pay buttons' POST may be redirected: the Content Security Policy allows
    forms to lead only to the site itself (form-action 'self'), and browsers apply it to
    the redirect that follows the POST as well. A provider names its hosted pages'
    origins with `checkout_origins()`; Stripe's are known here."""
    from django.conf import settings

    origins: set[str] = set()
    for provider in providers:
        named = getattr(provider, "checkout_origins", None)
        if callable(named):
            origins.update(_origin(url) for url in named())
        elif provider.name == "stripe_card":
            base = getattr(settings, "PAYMENTS_STRIPE_API_BASE", "") or ""
            origins.add(_origin(base) if base and "api.stripe.com" not in base else "https://checkout.stripe.com")
    origins.discard("")
    return sorted(origins)


def _not_found(request):
    return render(request, "payments/not_found.html", status=404)


def _pay_context(assessment: Assessment, *, error: str = "") -> dict:
    last = selectors.last_payment(assessment)
    flagged = assessment.payments.filter(flagged=True).exists()
    expired = assessment.state == Assessment.State.EXPIRED or (
        assessment.state == Assessment.State.AWAITING and assessment.expires_at is not None
        and assessment.expires_at <= services.timezone.now()
    )
    return {
        "assessment": assessment, "submission": assessment.submission, "procedure": assessment.procedure,
        "providers": services.allowed_providers(assessment), "last": last, "flagged": flagged,
        "expired": expired, "paid": assessment.state in PAID_STATES,
        "payable": assessment.state == Assessment.State.AWAITING and not expired and not flagged,
        "error": error, "expires_text": services.jp_datetime(assessment.expires_at) if assessment.expires_at else "",
        "paid_text": services.jp_datetime(assessment.paid_at) if assessment.paid_at else "",
    }


@never_cache
@require_http_methods(["GET", "POST"])
def pay(request, token: str):
    assessment = selectors.assessment_by_token(token)
    if assessment is None:
        return _not_found(request)
    error = ""
    if request.method == "POST":
        provider = request.POST.get("provider", "")[:30]
        try:
            payment = services.start_payment(token, provider)
        except services.PaymentRefused as exc:
            error = str(exc)
        else:
            redirect_url = (payment.payment_extra or {}).get("redirect_url", "")
            if payment.state == Payment.State.AWAITING and redirect_url.startswith(("https://", "http://")):
                return HttpResponseRedirect(redirect_url)
            # No hosted page (konbini: the number is shown), or the attempt failed at once.
            return HttpResponseRedirect(reverse("payments:return", args=[payment.public_id]))
        assessment = selectors.assessment_by_token(token)
    context = _pay_context(assessment, error=error)
    response = render(request, "payments/pay.html", context, status=400 if error else 200)
    origins = checkout_origins(context["providers"]) if context["payable"] else []
    if origins:
        response._csp_update = {"form-action": origins}
    return response


@never_cache
@require_http_methods(["GET"])
def payment_return(request, public_id):
    """Where the provider sends the resident back: the state is asked from the provider
    at once (a query string like ?status=paid is never believed)."""
    payment = selectors.payment_by_public_id(public_id)
    if payment is None:
        return _not_found(request)
    if payment.state in OPEN_PAYMENT:
        services.refresh_payment(payment, source="return")
        payment = selectors.payment_by_public_id(public_id)
    assessment = payment.assessment
    if payment.flagged:
        outcome = "flagged"
    elif payment.state in MONEY_RECEIVED and assessment.state in PAID_STATES:
        outcome = "paid"
    elif payment.state in OPEN_PAYMENT:
        outcome = "number" if payment.payment_number else "processing"
    else:
        outcome = "failed"
    context = _pay_context(assessment)
    context.update({"payment": payment, "outcome": outcome,
                    "payment_expires_text": services.jp_datetime(payment.expires_at) if payment.expires_at else ""})
    return render(request, "payments/return.html", context)


@never_cache
@require_http_methods(["GET"])
def receipt(request, token: str):
    """領収書 (PDF): only once paid."""
    assessment = selectors.assessment_by_token(token)
    if assessment is None or assessment.state not in PAID_STATES:
        raise Http404("not paid")
    payment = selectors.paid_payment(assessment)
    if payment is None:
        raise Http404("not paid")
    from tenohira.payments.receipt_pdf import render_payment_receipt

    pdf = render_payment_receipt(assessment, payment)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="ryoshusho-{assessment.number}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def webhook(request, provider: str):
    """A provider's signed event. 400 for anything not verifiably the provider's (and an
    audit record, without the body); 200 for a replay (nothing changes) and for events
    of attempts that are not ours."""
    handler = register.get(provider)
    if handler is None or not handler.online:
        raise Http404("no such provider")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = WEBHOOK_MAX_BYTES + 1
    if declared > WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "too large"}, status=413)
    body = request.read(WEBHOOK_MAX_BYTES + 1)
    if len(body) > WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "too large"}, status=413)
    try:
        event = handler.parse_webhook(body, request.headers)
    except InvalidWebhook as exc:
        from tenohira.audit.services import record

        record("payments.webhook_refused", target=provider, request=request,
               detail={"reason": str(exc)[:200], "bytes": len(body)})
        logger.warning("webhook from %s refused: %s", provider, exc)
        return JsonResponse({"error": "invalid"}, status=400)
    outcome = services.handle_webhook(provider, event)
    return JsonResponse({"ok": True, "outcome": outcome})
