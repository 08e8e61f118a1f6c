"""Admin: fee items (歳入科目) and per-procedure fee settings are edited here; assessments
and payments are listed read-only (their states change only through payments.states,
each move recorded — never by hand in the admin)."""

from django.contrib import admin

from tenohira.payments.models import Assessment, FeeItem, FeeSetting, Payment


@admin.register(FeeItem)
class FeeItemAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "account")
    search_fields = ("code", "name")


@admin.register(FeeSetting)
class FeeSettingAdmin(admin.ModelAdmin):
    list_display = ("procedure", "timing", "fee_item", "expiry_days", "require_before_approval")
    list_filter = ("timing",)
    search_fields = ("procedure__code", "procedure__name")
    autocomplete_fields = ("procedure",)
    list_select_related = ("procedure", "fee_item")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = ("number", "procedure", "amount_due", "state", "expires_at", "paid_at")
    list_filter = ("state", "timing")
    search_fields = ("number",)
    list_select_related = ("procedure",)
    exclude = ("token",)  # the resident's link: not for anyone else's screen


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("assessment", "provider", "method", "amount", "state", "flagged", "captured_at")
    list_filter = ("state", "provider", "flagged")
    search_fields = ("assessment__number", "provider_ref")
    list_select_related = ("assessment",)
    exclude = ("idempotency_key", "payment_extra")
