"""Admin pages of the reservations: facilities, resources with their kinds and opening
rules, counters and ticket machines. Bookings are worked on the staff pages (scoped and
audited), not here."""

from django import forms
from django.contrib import admin

from tenohira.reservations.models import (
    Counter,
    Facility,
    Lottery,
    OpeningRule,
    Resource,
    ResourceKind,
)


class KindInline(admin.TabularInline):
    model = ResourceKind
    extra = 0


class RuleInline(admin.TabularInline):
    model = OpeningRule
    extra = 0


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "section", "order"]
    search_fields = ["name", "code"]


class ResourceForm(forms.ModelForm):
    class Meta:
        model = Resource
        fields = [
            "code", "name", "facility", "section", "kind", "description", "keywords", "procedure", "bring",
            "district", "allocation", "requires_review", "questions", "opens_days_ahead", "closes_hours_before",
            "change_hours_before", "max_active_per_person", "max_places", "fee_yen", "pay_within_days", "active",
            "order",
        ]

    def clean_questions(self):
        """The booking's own questions must be a schema the form engine runs (steps of fields)."""
        from tenohira.forms.schema import SchemaError, parse

        questions = self.cleaned_data.get("questions") or {}
        if questions:
            try:
                parse({"title": questions.get("title") or "予約", **questions})
            except SchemaError as exc:
                raise forms.ValidationError(f"予約時の質問の定義が正しくありません: {exc}") from exc
        return questions


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    form = ResourceForm
    list_display = ["name", "facility", "kind", "allocation", "section", "active"]
    list_filter = ["kind", "allocation", "active"]
    search_fields = ["name", "code", "keywords"]
    inlines = [KindInline, RuleInline]


@admin.register(Counter)
class CounterAdmin(admin.ModelAdmin):
    list_display = ["name", "facility", "section", "minutes_per_person", "active"]
    filter_horizontal = ["procedures"]


@admin.register(Lottery)
class LotteryAdmin(admin.ModelAdmin):
    list_display = ["title", "resource", "state", "entries_close_at", "draw_at"]
    readonly_fields = ["seed_hash", "seed", "drawn_at", "result_digest"]

    def get_exclude(self, request, obj=None):
        # The seed stays unseen until the draw: whoever knew it before could pick entry
        # numbers that win. Its SHA-256 is public from the start.
        if obj is None or obj.state != Lottery.State.DRAWN:
            return ["seed"]
        return []

    def get_readonly_fields(self, request, obj=None):
        hidden = set(self.get_exclude(request, obj) or [])
        return [name for name in self.readonly_fields if name not in hidden]
