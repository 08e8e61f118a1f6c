"""The Django admin (/admin/) behind the same door as the staff pages.

DX administrators keep the catalog, forms and staff accounts there, so the admin needs
the second factor too (django-otp's OTPAdminSite: a session counts only once a TOTP code
was verified) and the same lockout: its own login form is replaced by the staff sign-in
page, which counts failures, so /admin/login/ cannot be used to guess passwords.

Every add, change and delete made in the admin also goes into the audit chain (Django's own
admin log lives in the database and can be edited with it): the model, the object's id and
the NAMES of the changed fields, never their values — a password hash or an authenticator
key is a field like any other."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.admin import OTPAdminSite


def _field_names(message) -> list[str]:
    """The field names of an admin change message (a list of {"changed": {"fields": …}},
    {"added": {"name": …, "object": …}} …); objects' texts are left out."""
    names: list[str] = []
    for item in message if isinstance(message, list) else []:
        for kind, data in item.items():
            data = data or {}
            inline = data.get("name")
            if kind == "changed":
                names += [f"{inline}.{field}" if inline else str(field) for field in data.get("fields", [])]
            elif inline:
                names.append(f"{inline}（{'追加' if kind == 'added' else '削除'}）")
    return names


def _audit(request, action: str, obj, message=None) -> None:
    from tenohira.audit.services import record

    detail = {"model": obj._meta.label, "id": str(obj.pk)}
    if message is not None:
        detail["fields"] = _field_names(message)
    record(action, user=request.user, target=f"{obj._meta.label_lower}:{obj.pk}"[:100], detail=detail, request=request)


class AuditedModelAdmin:
    """Mixed into every ModelAdmin registered on the staff admin site."""

    def log_addition(self, request, obj, message):
        _audit(request, "admin_add", obj, message)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        _audit(request, "admin_change", obj, message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            _audit(request, "admin_delete", obj)
        return super().log_deletions(request, queryset)


class StaffAdminSite(OTPAdminSite):
    site_header = "てのひら 管理画面"
    site_title = "てのひら 管理"
    index_title = "DX推進の管理"

    def __init__(self, name="admin"):
        # The instance name stays "admin": URLs are reversed as admin:... everywhere.
        super().__init__(name)

    def register(self, model_or_iterable, admin_class=None, **options):
        # Every app's admin, the third-party ones included, is audited without each having
        # to remember it.
        from django.contrib.admin import ModelAdmin

        admin_class = admin_class or ModelAdmin
        if not issubclass(admin_class, AuditedModelAdmin):
            admin_class = type(admin_class.__name__, (AuditedModelAdmin, admin_class), {"__module__": admin_class.__module__})
        return super().register(model_or_iterable, admin_class, **options)

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
