"""Admin pages for DX administrators: who holds which staff role in which section (or, for
a 部局長, in which department).

A role given or changed here waits for a second person (see backoffice.services): it is
stored 承認待ち and approved or refused by another DX管理者 or the section's 所属管理者 with
the actions of the 職員の役割 list. Its status and who granted and approved it cannot be
edited here.

Authenticator devices (TOTP) are managed in the "TOTP devices" admin: add one for a new
account and hand over its QR code while it is unconfirmed; once confirmed, its key is never
shown again. Delete it when a phone is lost.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenohira.audit.services import record as audit
from tenohira.backoffice import services
from tenohira.backoffice.models import StaffRole

GRANT_READONLY = ["status", "requested_by", "requested_at", "approved_by", "approved_at"]


def _needs_approval(obj, changed_fields) -> bool:
    return obj.pk is None or any(name in services.ROLE_FIELDS for name in changed_fields)


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "user_full_name", "role", "section", "department_label", "status", "requested_by", "approved_by"]
    list_filter = ["status", "role", "section__department", "section"]
    search_fields = ["user__username", "user__last_name", "user__first_name", "section__name", "department__name"]
    list_select_related = ["user", "section__department", "department", "requested_by", "approved_by"]
    autocomplete_fields = ["user", "section", "department"]
    readonly_fields = GRANT_READONLY
    ordering = ["user__username", "role"]
    actions = ["approve_grants", "refuse_grants"]

    @admin.display(description="氏名", ordering="user__last_name")
    def user_full_name(self, obj):
        return obj.user.get_full_name()

    @admin.display(description="部局", ordering="section__department__order")
    def department_label(self, obj):
        if obj.section_id:
            return obj.section.department.name
        return obj.department.name if obj.department_id else "（全庁）"

    def save_model(self, request, obj, form, change):
        if _needs_approval(obj, form.changed_data if change else ["role"]):
            services.request_role_grant(request.user, obj, request=request, changed=change)
        else:
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        services.record_role_removal(request.user, obj, request=request)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for grant in queryset.select_related("user"):
            services.record_role_removal(request.user, grant, request=request)
        super().delete_queryset(request, queryset)

    def _decide(self, request, queryset, decide, done: str):
        count = 0
        for grant in queryset:
            try:
                decide(request.user, grant, request=request)
                count += 1
            except (PermissionDenied, services.WorkflowError) as exc:
                self.message_user(request, f"{grant}: {exc}", messages.ERROR)
        if count:
            self.message_user(request, f"{count} 件の役割を{done}しました。", messages.SUCCESS)

    @admin.action(description="選択した役割の付与を承認する")
    def approve_grants(self, request, queryset):
        self._decide(request, queryset, services.approve_role_grant, "承認")

    @admin.action(description="選択した役割の付与を却下する")
    def refuse_grants(self, request, queryset):
        self._decide(request, queryset, services.refuse_role_grant, "却下")


class StaffRoleInline(admin.TabularInline):
    """The roles on the account's own page, so a new staff member is set up in one place."""

    model = StaffRole
    fk_name = "user"
    extra = 1
    autocomplete_fields = ["section", "department"]
    fields = ["role", "section", "department", "status", "requested_by", "approved_by"]
    readonly_fields = ["status", "requested_by", "approved_by"]


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, StaffRoleInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is not StaffRole:
            return super().save_formset(request, form, formset, change)
        grants = formset.save(commit=False)
        for grant in formset.deleted_objects:
            services.record_role_removal(request.user, grant, request=request)
            grant.delete()
        changed = {id(obj): fields for obj, fields in formset.changed_objects}
        for grant in grants:
            if _needs_approval(grant, changed.get(id(grant), [])):
                services.request_role_grant(request.user, grant, request=request, changed=grant.pk is not None)
            else:
                grant.save()
        formset.save_m2m()


class MaskedTOTPDeviceAdmin(TOTPDeviceAdmin):
    """django-otp's TOTP admin without the secret: the key is neither a form field nor
    shown, on any page. The QR code (which carries the key) is available only while the
    device is unconfirmed, to hand it over once; each opening is audited."""

    exclude = ["key"]

    def get_list_display(self, request):
        return [name for name in super().get_list_display(request) if name != "qrcode_link"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            ("Identity", {"fields": ["user", "name", "confirmed"]}),
            ("Timestamps", {"fields": ["created_at", "last_used_at"]}),
            ("Configuration", {"fields": ["step", "t0", "digits", "tolerance"]}),
            ("State", {"fields": ["drift"]}),
            ("Throttling", {"fields": ["throttling_failure_timestamp", "throttling_failure_count"]}),
        ]
        if obj is not None and not obj.confirmed:
            fieldsets.append((None, {"fields": ["qrcode_link"]}))
        return fieldsets

    def _handover(self, request, pk):
        device = TOTPDevice.objects.filter(pk=pk).first()
        if device is None:
            raise Http404
        if device.confirmed:
            raise PermissionDenied("有効になった認証アプリの鍵は表示できません。")
        return device

    def config_view(self, request, pk):
        device = self._handover(request, pk)
        audit("otp_qrcode_view", user=request.user, target=f"otp:{device.pk}",
              detail={"owner": device.user.get_username()}, request=request)
        return super().config_view(request, pk)

    def qrcode_view(self, request, pk):
        self._handover(request, pk)
        return super().qrcode_view(request, pk)


if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, MaskedTOTPDeviceAdmin)
