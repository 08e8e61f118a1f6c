"""Admin pages for DX administrators: who holds which staff role in which section (or, for
a 部局長, in which department).

Authenticator devices (TOTP) are managed in django-otp's own admin ("TOTP devices"):
add one for a new account and hand over its QR code; delete it when a phone is lost.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from tenohira.backoffice.models import StaffRole


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "user_full_name", "role", "section", "department_label"]
    list_filter = ["role", "section__department", "section"]
    search_fields = ["user__username", "user__last_name", "user__first_name", "section__name", "department__name"]
    list_select_related = ["user", "section__department", "department"]
    autocomplete_fields = ["user", "section", "department"]
    ordering = ["user__username", "role"]

    @admin.display(description="氏名", ordering="user__last_name")
    def user_full_name(self, obj):
        return obj.user.get_full_name()

    @admin.display(description="部局", ordering="section__department__order")
    def department_label(self, obj):
        if obj.section_id:
            return obj.section.department.name
        return obj.department.name if obj.department_id else "（全庁）"


class StaffRoleInline(admin.TabularInline):
    """The roles on the account's own page, so a new staff member is set up in one place."""

    model = StaffRole
    extra = 1
    autocomplete_fields = ["section", "department"]


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, StaffRoleInline]
