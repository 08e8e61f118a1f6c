"""Access to staff pages: signed in with password AND a one-time code, holding a staff role."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.utils.cache import add_never_cache_headers

from tenohira.backoffice import selectors


def staff_required(view=None, *, check=None):
    """Decorator: the user must be signed in with a verified second factor (django-otp)
    and hold a staff role; `check(user)` may demand more (e.g. selectors.is_auditor)."""

    def decorate(func):
        @wraps(func)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated or not user.is_verified():
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            if not selectors.is_staff_member(user):
                raise PermissionDenied("職員の役割がありません。")
            if check is not None and not check(user):
                raise PermissionDenied("この画面を使う権限がありません。")
            # Idle timeout: every staff request restarts the clock.
            request.session.set_expiry(settings.STAFF_IDLE_TIMEOUT_MINUTES * 60)
            response = func(request, *args, **kwargs)
            # Staff pages show residents' personal data: no browser or proxy may keep a
            # copy (a shared counter terminal's back button, a cache on the LGWAN side).
            if not response.has_header("Cache-Control"):
                add_never_cache_headers(response)
            return response

        wrapper.staff_only = True  # the scoping test finds every staff view by this mark
        return wrapper

    return decorate(view) if view is not None else decorate
