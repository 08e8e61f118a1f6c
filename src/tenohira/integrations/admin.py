"""Admin pages for the DX division: delivery targets (連携先), and deliveries read-only.

A webhook target's signing key is derived from INTEGRATIONS_KEY (never stored): it is
shown once, right after the target is added, for the receiving system's operator, and
again only through the audited action 「署名鍵を表示する」 (after a receiver lost it).
"""

from django import forms
from django.contrib import admin, messages

from tenohira.audit.services import record as audit
from tenohira.integrations import services
from tenohira.integrations.models import Delivery, DeliveryTarget
from tenohira.integrations.registry import register

EVENT_CHOICES = [(e.value, e.label) for e in Delivery.Event]


class DeliveryTargetForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        label="送る出来事", choices=EVENT_CHOICES, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="何も選ばなければ「申請」と「再提出」を送ります。",
    )

    class Meta:
        model = DeliveryTarget
        fields = ["name", "kind", "section", "procedure", "config", "events", "is_active"]
        help_texts = {
            "config": 'Webhook: {"url": "https://…"}　ファイル連携: {"directory": "/srv/…"}　メール: {"to": "kakari@…"}',
        }

    def clean(self):
        data = super().clean()
        if not data.get("section") and not data.get("procedure"):
            raise forms.ValidationError("所属か手続きのどちらかを選んでください。")
        kind = register.get(data.get("kind") or "")
        if kind is not None:
            for problem in kind.validate(data.get("config") or {}):
                self.add_error("config", problem)
        return data


@admin.register(DeliveryTarget)
class DeliveryTargetAdmin(admin.ModelAdmin):
    form = DeliveryTargetForm
    list_display = ["name", "kind", "section", "procedure", "is_active"]
    list_filter = ["kind", "is_active", "section"]
    search_fields = ["name", "section__name", "procedure__name"]
    list_select_related = ["section", "procedure"]
    autocomplete_fields = ["section", "procedure"]
    actions = ["show_signing_key"]

    def response_add(self, request, obj, post_url_continue=None):
        if obj.kind == DeliveryTarget.Kind.WEBHOOK:
            self._show_key(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def _show_key(self, request, obj):
        audit("integration_key_view", user=request.user, target=f"integrations.deliverytarget:{obj.pk}",
              detail={"target": obj.name}, request=request)
        self.message_user(
            request,
            f"「{obj.name}」の署名鍵（受け取る側に設定してください。この画面を離れると再表示には記録が残ります）: "
            f"{services.signing_key_text(obj)}",
            messages.WARNING,
        )

    @admin.action(description="署名鍵を表示する（Webhook。表示は記録されます）")
    def show_signing_key(self, request, queryset):
        for target in queryset.filter(kind=DeliveryTarget.Kind.WEBHOOK):
            self._show_key(request, target)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only: deliveries change by sending and by 再送 on the staff page."""

    list_display = ["delivery_id", "target", "event", "state", "attempts", "created_at", "delivered_at"]
    list_filter = ["state", "event", "target"]
    list_select_related = ["target"]
    search_fields = ["=delivery_id"]
    readonly_fields = ["delivery_id", "target", "submission", "event", "state", "attempts", "next_attempt_at",
                       "lease_until", "last_error", "last_status_code", "created_at", "delivered_at"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

from tenohira.integrations import admin_clients  # noqa: E402,F401  (the pull API's clients, in their own module)
