"""Admin pages of the DX insights: closure days, the procedure inventory, the hours-saved ledger,
POS transactions and facility totals (キャッシュレス), printouts (ペーパーレス)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from tenohira.core.models import ClosureDay
from tenohira.insights.imports.pos import published_precision_ratio
from tenohira.insights.kpi_savings import check as _check_saving
from tenohira.insights.models import (
    FacilityCashless,
    InventoryDepartment,
    InventoryProcedure,
    PosTransaction,
    PrinterPeriodTotal,
    PrinterUsage,
    SavingMeasure,
)
from tenohira.insights.numbers import pct

# ---- 閉庁日 (closure days of the business calendar)


@admin.register(ClosureDay)
class ClosureDayAdmin(admin.ModelAdmin):
    """Days the offices close besides weekends, national holidays and 12/29–1/3. Saving or
    deleting one recounts that day's applications outside office hours (insights.signals)."""

    list_display = ["date", "reason"]
    date_hierarchy = "date"
    search_fields = ["reason"]
    fields = ["date", "reason"]


# ---- 手続棚卸 and 業務削減時間 (inventory and hours-saved ledger)


@admin.register(InventoryDepartment)
class InventoryDepartmentAdmin(admin.ModelAdmin):
    list_display = [
        "fiscal_year", "order", "department", "procedures", "online_procedures", "annual_applications",
        "covered_applications", "online_applications", "published_online_rate", "published_coverage_rate",
        "published_online_use_rate",
    ]
    list_display_links = ["department"]
    list_filter = ["fiscal_year"]
    search_fields = ["department"]


@admin.register(InventoryProcedure)
class InventoryProcedureAdmin(admin.ModelAdmin):
    list_display = ["fiscal_year", "department", "section", "name", "online", "annual_applications", "procedure"]
    list_filter = ["fiscal_year", "online", "department"]
    search_fields = ["name", "department", "section"]
    list_select_related = ["procedure"]
    autocomplete_fields = ["procedure"]


@admin.register(SavingMeasure)
class SavingMeasureAdmin(admin.ModelAdmin):
    """業務削減時間: editable here; the formula is checked against the hours on display."""

    list_display = ["fiscal_year", "department", "kind", "measure", "formula", "hours", "formula_hours", "formula_agrees"]
    list_display_links = ["measure"]
    list_filter = ["fiscal_year", "kind", "department"]
    search_fields = ["measure", "department", "formula"]
    readonly_fields = ["formula_hours"]
    fields = ["fiscal_year", "department", "kind", "measure", "formula", "hours", "formula_hours"]

    @admin.display(description=_("計算式の時間"))
    def formula_hours(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        computed, _flagged = _check_saving(obj)
        return "-" if computed is None else f"{float(computed):.1f}"

    @admin.display(description=_("計算式と一致"), boolean=True)
    def formula_agrees(self, obj):
        computed, flagged = _check_saving(obj)
        return None if computed is None else not flagged


# ---- キャッシュレス and ペーパーレス (POS, facility totals, printouts)


@admin.register(PosTransaction)
class PosTransactionAdmin(admin.ModelAdmin):
    """Imported facts: looked at and deleted here, never typed in (re-import the POS export)."""

    list_display = ["at", "facility", "fee_item", "amount", "method", "cashless"]
    list_filter = ["cashless", "facility", "method"]
    search_fields = ["facility", "fee_item", "method"]
    date_hierarchy = "at"
    readonly_fields = ["at", "facility", "fee_item", "amount", "method", "cashless", "source_key"]

    def has_add_permission(self, request):
        return False


@admin.register(FacilityCashless)
class FacilityCashlessAdmin(admin.ModelAdmin):
    list_display = ["year", "facility", "sales", "cash", "cashless", "cashless_only", "ratio", "published_ratio",
                    "consistent"]
    list_display_links = ["facility"]
    list_filter = ["year", "cashless_only"]
    search_fields = ["facility"]

    @admin.display(description=_("比率(%)"))
    def ratio(self, obj):
        # A 独自集計 has no cash figure: its cashless share of sales is not known.
        value = None if obj.cashless_only else pct(obj.cashless, obj.sales)
        return "-" if value is None else f"{value}"

    @admin.display(description=_("内訳・公表値と一致"), boolean=True)
    def consistent(self, obj):
        if obj.cashless_only:
            return None  # nothing to check it against
        if obj.sales != obj.cash + obj.cashless:
            return False
        if obj.published_ratio is None or not obj.sales:
            return True
        return published_precision_ratio(obj.cashless, obj.sales, obj.published_ratio) == obj.published_ratio


@admin.register(PrinterUsage)
class PrinterUsageAdmin(admin.ModelAdmin):
    list_display = ["department", "month", "colour_pages", "mono_pages", "staff"]
    list_filter = ["department"]
    search_fields = ["department"]
    date_hierarchy = "month"


@admin.register(PrinterPeriodTotal)
class PrinterPeriodTotalAdmin(admin.ModelAdmin):
    list_display = ["department", "period", "start", "end", "sheets", "published_per_staff_month"]
    list_filter = ["period"]
    search_fields = ["department"]
