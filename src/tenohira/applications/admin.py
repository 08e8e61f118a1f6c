"""The one admin page of applications: legal hold (訴訟ホールド) for DX administrators.

It shows what identifies a case (receipt number, procedure, status, dates), never the
answers or the applicant: reading an application stays with its section's staff pages.
Every hold set or released goes through applications.retention.set_legal_hold (audited).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from tenohira.applications import retention
from tenohira.applications.models import Submission


def _may_hold(user) -> bool:
    from tenohira.backoffice.selectors import is_dx_admin

    return bool(user.is_active and (user.is_superuser or is_dx_admin(user)))


class LegalHoldForm(forms.ModelForm):
    class Meta:
        model = Submission
        fields = ["legal_hold", "legal_hold_reason"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("legal_hold") and not (cleaned.get("legal_hold_reason") or "").strip():
            self.add_error("legal_hold_reason", "訴訟ホールドにする理由を入力してください。")
        return cleaned


@admin.register(Submission)
class LegalHoldAdmin(admin.ModelAdmin):
    form = LegalHoldForm
    list_display = ["receipt_number", "procedure", "status", "submitted_at", "status_changed_at", "legal_hold"]
    list_filter = ["legal_hold", "status"]
    # Exact receipt numbers only: no search over names or answers.
    search_fields = ["=receipt_number"]
    list_select_related = ["procedure"]
    fields = ["receipt_number", "procedure", "status", "submitted_at", "status_changed_at", "legal_hold", "legal_hold_reason"]
    readonly_fields = ["receipt_number", "procedure", "status", "submitted_at", "status_changed_at"]
    ordering = ["-submitted_at"]
    show_full_result_count = False

    def has_module_permission(self, request):
        return _may_hold(request.user)

    def has_view_permission(self, request, obj=None):
        return _may_hold(request.user)

    def has_change_permission(self, request, obj=None):
        return _may_hold(request.user)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}

    def save_model(self, request, obj, form, change):
        if not {"legal_hold", "legal_hold_reason"} & set(form.changed_data):
            return
        try:
            retention.set_legal_hold(
                obj, hold=form.cleaned_data["legal_hold"], reason=form.cleaned_data["legal_hold_reason"],
                user=request.user, request=request,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
