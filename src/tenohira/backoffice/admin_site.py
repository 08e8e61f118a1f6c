"""The Django admin (/admin/) behind the same door as the staff pages.

DX administrators keep the catalog, forms and staff accounts there, so the admin needs
the second factor too (django-otp's OTPAdminSite: a session counts only once a TOTP code
was verified) and the same lockout: its own login form is replaced by the staff sign-in
page, which counts failures, so /admin/login/ cannot be used to guess passwords."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.admin import OTPAdminSite


class StaffAdminSite(OTPAdminSite):
    site_header = "てのひら 管理画面"
    site_title = "てのひら 管理"
    index_title = "DX推進の管理"

    def __init__(self, name="admin"):
        # The instance name stays "admin": URLs are reversed as admin:... everywhere.
        super().__init__(name)

    def login(self, request, extra_context=None):
        user = request.user
        if user.is_authenticated and user.is_verified():
            # Signed in with both factors but not allowed here: say so instead of
            # sending them round to the sign-in page again.
            raise PermissionDenied("管理画面を使う権限がありません。")
        target = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:index", current_app=self.name)
        return HttpResponseRedirect(f"{settings.LOGIN_URL}?{urlencode({'next': target})}")
