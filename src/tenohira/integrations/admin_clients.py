"""Admin pages for the business systems that use the pull API (連携API の利用システム).

The API key and the client secret are made when a client is added and shown once, on the
page that answers the add (never stored, never put in a message or a cookie); afterwards
only a key's first characters, to recognise it, and the hashes are kept. Adding,
deactivating and issuing new credentials are audited.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from tenohira.audit.services import record as audit
from tenohira.integrations import api_auth
from tenohira.integrations.models import IntegrationClient

SCOPE_CHOICES = [(scope, f"{scope}（{label}）") for scope, label in api_auth.SCOPES.items()]


class IntegrationClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label="権限", choices=SCOPE_CHOICES, widget=forms.CheckboxSelectMultiple,
        help_text="業務システムに必要なものだけを選んでください。",
        error_messages={"required": "権限を1つ以上選んでください。"},
    )

    class Meta:
        model = IntegrationClient
        fields = ["name", "sections", "scopes", "is_active"]
        error_messages = {
            "name": {"required": "業務システムの名前を入力してください。"},
            "sections": {"required": "読み書きできる所属を1つ以上選んでください。"},
        }


def _credentials_page(request, admin_site, client, api_key: str, client_secret: str, *, title: str):
    response = TemplateResponse(request, "integrations/admin/client_credentials.html", {
        **admin_site.each_context(request),
        "title": title, "client": client, "api_key": api_key, "client_secret": client_secret,
        "opts": IntegrationClient._meta,
    })
    # The page holds secrets: nothing may keep a copy of it.
    response["Cache-Control"] = "no-store, private"
    return response


@admin.register(IntegrationClient)
class IntegrationClientAdmin(admin.ModelAdmin):
    form = IntegrationClientForm
    list_display = ["name", "client_id", "api_key_shown", "scope_list", "is_active", "last_used_at", "created_at"]
    list_filter = ["is_active", "sections"]
    search_fields = ["name", "=client_id"]
    filter_horizontal = ["sections"]
    readonly_fields = ["client_id", "api_key_shown", "created_by", "created_at", "last_used_at"]
    actions = ["deactivate", "issue_new_credentials"]

    @admin.display(description="APIキー（先頭）")
    def api_key_shown(self, obj):
        return f"{obj.api_key_prefix}…" if obj.api_key_prefix else "—"

    @admin.display(description="権限")
    def scope_list(self, obj):
        return " ".join(obj.scopes)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "sections", "scopes"]
        return ["name", "client_id", "api_key_shown", "sections", "scopes", "is_active",
                "created_by", "created_at", "last_used_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            form.base_fields["scopes"].initial = obj.scopes
        return form

    def save_model(self, request, obj, form, change):
        obj.scopes = sorted(set(form.cleaned_data["scopes"]))
        if change:
            super().save_model(request, obj, form, change)
            audit("integration_client_change", user=request.user, target=f"integrations.client:{obj.client_id}",
                  detail={"name": obj.name, "scopes": obj.scopes, "active": obj.is_active}, request=request)
            return
        obj.client_id = api_auth.new_client_id()
        obj.created_by = request.user
        super().save_model(request, obj, form, change)
        request._tenohira_new_credentials = api_auth.rotate_credentials(obj)
        audit("integration_client_create", user=request.user, target=f"integrations.client:{obj.client_id}",
              detail={"name": obj.name, "scopes": obj.scopes}, request=request)

    def response_add(self, request, obj, post_url_continue=None):
        api_key, client_secret = request._tenohira_new_credentials
        return _credentials_page(request, self.admin_site, obj, api_key, client_secret,
                                 title=f"「{obj.name}」を登録しました")

    @admin.action(description="無効にする（APIキーもアクセストークンも使えなくなります）")
    def deactivate(self, request, queryset):
        for client in queryset.filter(is_active=True):
            client.is_active = False
            client.save(update_fields=["is_active"])
            client.tokens.all().delete()  # a token issued before must not outlive the client
            audit("integration_client_deactivate", user=request.user, target=f"integrations.client:{client.client_id}",
                  detail={"name": client.name}, request=request)
        self.message_user(request, "選んだ業務システムを無効にしました。", messages.SUCCESS)

    @admin.action(description="新しいAPIキーと client_secret を発行する（古いものは使えなくなります）")
    def issue_new_credentials(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "新しい鍵は1つずつ発行してください（1件だけ選んでください）。", messages.ERROR)
            return None
        client = queryset.get()
        api_key, client_secret = api_auth.rotate_credentials(client)
        audit("integration_client_rotate", user=request.user, target=f"integrations.client:{client.client_id}",
              detail={"name": client.name}, request=request)
        return _credentials_page(request, self.admin_site, client, api_key, client_secret,
                                 title=f"「{client.name}」の新しい鍵")
