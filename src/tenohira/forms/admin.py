"""Admin for form definitions (a no-code builder comes later). A published version is
read-only; to change a form, add a new version."""

import json

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from tenohira.forms.models import FormDefinition, FormVersion
from tenohira.forms.schema import SchemaError, parse


class FormVersionForm(forms.ModelForm):
    schema = forms.JSONField(
        label=_("定義（JSON）"), widget=forms.Textarea(attrs={"rows": 30, "cols": 100, "spellcheck": "false"})
    )

    class Meta:
        model = FormVersion
        fields = ["definition", "number", "status", "schema"]

    def clean_schema(self):
        schema = self.cleaned_data["schema"]
        try:
            parse(schema)
        except SchemaError as exc:
            raise forms.ValidationError(exc.errors) from exc
        return schema


class FormVersionInline(admin.TabularInline):
    model = FormVersion
    extra = 0
    fields = ["number", "status", "published_at"]
    readonly_fields = ["number", "status", "published_at"]
    show_change_link = True
    can_delete = False


@admin.register(FormDefinition)
class FormDefinitionAdmin(admin.ModelAdmin):
    list_display = ["procedure", "opens_at", "closes_at", "created_at"]
    search_fields = ["procedure__name", "procedure__code"]
    fields = ["procedure", "opens_at", "closes_at"]
    autocomplete_fields = ["procedure"]
    inlines = [FormVersionInline]


@admin.register(FormVersion)
class FormVersionAdmin(admin.ModelAdmin):
    form = FormVersionForm
    list_display = ["definition", "number", "status", "published_at"]
    list_filter = ["status"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status == FormVersion.Status.PUBLISHED:
            return ["definition", "number", "status", "pretty_schema", "published_at"]
        return []

    def get_fields(self, request, obj=None):
        if obj is not None and obj.status == FormVersion.Status.PUBLISHED:
            return ["definition", "number", "status", "published_at", "pretty_schema"]
        return ["definition", "number", "status", "schema"]

    @admin.display(description=_("定義（JSON）"))
    def pretty_schema(self, obj):
        from django.utils.html import format_html

        return format_html("<pre>{}</pre>", json.dumps(obj.schema, ensure_ascii=False, indent=2))
