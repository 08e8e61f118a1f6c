"""Staff page of deliveries to business systems (/staff/integrations/): what was sent
where, what failed and why, and 再送する. Reads through integrations.selectors (scoped by
the acting user); the page shows receipt numbers and reasons, never answers or names."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from tenohira.backoffice.auth import staff_required
from tenohira.backoffice.selectors import is_dx_admin, section_ids
from tenohira.integrations import selectors, services
from tenohira.integrations.models import Delivery


def _may_see(user) -> bool:
    return is_dx_admin(user) or bool(section_ids(user))


@staff_required(check=_may_see)
def deliveries(request):
    state = request.GET.get("state", "")
    if state not in Delivery.State.values:
        state = ""
    page = Paginator(selectors.deliveries_for(request.user, state=state), 50).get_page(request.GET.get("page"))
    counts = selectors.state_counts(request.user)
    return render(request, "integrations/deliveries.html", {
        "page": page, "state": state, "states": Delivery.State.choices,
        "counts": [(value, label, counts.get(value, 0)) for value, label in Delivery.State.choices],
        "resendable": services.RESENDABLE,
    })


@staff_required(check=_may_see)
@require_POST
def resend(request, delivery_id):
    delivery = selectors.delivery_for(request.user, delivery_id)
    try:
        services.resend(request.user, delivery, request=request)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"受付番号 {delivery.submission.receipt_number} の「{delivery.target.name}」への連携を再送します。")
    back = request.POST.get("state", "")
    return redirect(reverse("integrations:deliveries") + (f"?state={back}" if back in Delivery.State.values else ""))
