"""Admin pages of the reservations: facilities, resources with their kinds and opening
rules, counters and ticket machines. Bookings are worked on the staff pages (scoped and
audited), not here."""

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


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
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
