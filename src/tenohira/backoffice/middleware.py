"""Idle timeout for the admin too: staff pages refresh the session's expiry themselves
(auth.staff_required); the Django admin, used by DX administrators, does it here."""

from django.conf import settings


class AdminIdleTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/admin/") and request.user.is_authenticated:
            request.session.set_expiry(settings.STAFF_IDLE_TIMEOUT_MINUTES * 60)
        return self.get_response(request)
