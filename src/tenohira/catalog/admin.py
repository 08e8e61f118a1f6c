"""Admin pages for the DX division to keep the catalog (部局・所属・手続き・ライフイベント)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from tenohira.catalog.models import (
    Department,
    LifeEvent,
    LifeEventFirstStep,
    Procedure,
    ProcedureChannel,
    Section,
    SynonymGroup,
)


class SectionInline(admin.TabularInline):
    model = Section
    extra = 0
    fields = ["name", "reading", "phone", "place", "order"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "reading", "order"]
    list_editable = ["order"]
    search_fields = ["name", "reading"]
    inlines = [SectionInline]


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ["name", "department", "phone", "place", "order"]
    list_editable = ["order"]
    list_filter = ["department"]
    fields = ["department", "name", "reading", "phone", "email", "place", "hours", "order"]
    search_fields = ["name", "reading", "department__name"]
    list_select_related = ["department"]


class FirstStepInline(admin.TabularInline):
    model = LifeEventFirstStep
    extra = 0
    fields = ["procedure", "note", "order"]
    autocomplete_fields = ["procedure"]


@admin.register(LifeEvent)
class LifeEventAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "order"]
    list_editable = ["order"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [FirstStepInline]


class ChannelInline(admin.StackedInline):
    model = ProcedureChannel
    extra = 0
    fields = [("kind", "order"), "service_name", "url", "place", "hours", "bring", "note"]


class ChannelKindFilter(admin.SimpleListFilter):
    title = _("申請方法")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        from tenohira.catalog.models import Channel

        return Channel.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(channels__kind=self.value()).distinct()
        return queryset


@admin.register(Procedure)
class ProcedureAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "section", "identity", "annual_applications", "planned_online_fiscal_year", "is_published"]
    list_filter = [ChannelKindFilter, "identity", "is_published", "planned_online_fiscal_year", "section__department", "life_events"]
    search_fields = ["code", "name", "reading", "keywords", "search_name", "search_reading"]
    list_select_related = ["section__department"]
    autocomplete_fields = ["section"]
    filter_horizontal = ["life_events"]
    readonly_fields = ["updated_at"]
    inlines = [ChannelInline]
    fieldsets = [
        (None, {"fields": ["code", "section", "name", "reading", "keywords", "is_published"]}),
        (_("案内"), {"fields": ["summary", "eligibility", "requirements", "fee", "legal_basis", "processing_days"]}),
        (_("オンライン化"), {"fields": ["identity", "online_since", "planned_online_fiscal_year"]}),
        (_("統計・分類"), {"fields": ["annual_applications", "life_events", "updated_at"]}),
        (_("保存年限"), {
            "fields": ["document_class", "retention_years", "retention_permanent"],
            "description": _("申請は完結した翌年度の4月1日から数えて保存年限が過ぎると廃棄されます（tenohira retention purge）。"),
        }),
    ]

    def get_search_results(self, request, queryset, search_term):
        # The admin search box understands the same kana/width variants as residents' search.
        from tenohira.catalog.search import search

        if not search_term.strip():
            return queryset, False
        results, _terms = search(queryset, search_term, published_only=False)
        return queryset.filter(pk__in=results.pks), False


@admin.register(SynonymGroup)
class SynonymGroupAdmin(admin.ModelAdmin):
    list_display = ["terms", "note"]
    search_fields = ["terms"]
