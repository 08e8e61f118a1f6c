"""Facts the DX division measures the 5-less (5レス) with. Every KPI is computed from
these rows (and from Tenohira's own submissions); published figures are kept only to be
checked against, never copied into a result.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class InventoryProcedure(models.Model):
    """手続棚卸: one procedure of the yearly inventory (imported per procedure)."""

    fiscal_year = models.PositiveIntegerField(_("年度"), db_index=True)
    department = models.CharField(_("部局"), max_length=100)
    section = models.CharField(_("所属"), max_length=100, blank=True)
    name = models.CharField(_("手続名"), max_length=300)
    procedure = models.ForeignKey(
        "catalog.Procedure", on_delete=models.SET_NULL, null=True, blank=True, related_name="inventory",
        verbose_name=_("カタログの手続き"),
    )
    online = models.BooleanField(_("オンライン化済み"), default=False)
    annual_applications = models.PositiveIntegerField(_("年間申請件数"), default=0)
    online_applications = models.PositiveIntegerField(_("オンライン申請件数（取込）"), null=True, blank=True)
    counter_applications = models.PositiveIntegerField(_("窓口・紙の申請件数（取込）"), null=True, blank=True)

    class Meta:
        verbose_name = _("手続棚卸（手続き）")
        verbose_name_plural = _("手続棚卸（手続き）")
        constraints = [
            models.UniqueConstraint(fields=["fiscal_year", "department", "section", "name"], name="inventory_unique")
        ]

    def __str__(self) -> str:
        return f"{self.fiscal_year} {self.department} {self.name}"


class InventoryDepartment(models.Model):
    """手続棚卸 as a department total (the form headquarters tables are often kept in)."""

    fiscal_year = models.PositiveIntegerField(_("年度"), db_index=True)
    department = models.CharField(_("部局"), max_length=100)
    order = models.PositiveIntegerField(_("表示順"), default=0)
    procedures = models.PositiveIntegerField(_("手続数"))
    online_procedures = models.PositiveIntegerField(_("オンライン化手続数"))
    annual_applications = models.PositiveBigIntegerField(_("年間申請件数"))
    covered_applications = models.PositiveBigIntegerField(_("オンライン化手続の申請件数"))
    # オンライン申請件数: applications actually received online. Optional in the published
    # table: null means the department gave no figure (shown as a dash, never as 0).
    online_applications = models.PositiveBigIntegerField(_("オンライン申請件数"), null=True, blank=True)
    published_online_rate = models.DecimalField(_("公表オンライン化率(%)"), max_digits=6, decimal_places=1, null=True, blank=True)
    published_coverage_rate = models.DecimalField(_("公表カバー率(%)"), max_digits=6, decimal_places=1, null=True, blank=True)
    published_online_use_rate = models.DecimalField(
        _("公表オンライン利用率(%)"), max_digits=6, decimal_places=1, null=True, blank=True
    )

    class Meta:
        ordering = ["fiscal_year", "order", "id"]
        verbose_name = _("手続棚卸（部局計）")
        verbose_name_plural = _("手続棚卸（部局計）")
        constraints = [models.UniqueConstraint(fields=["fiscal_year", "department"], name="inventory_department_unique")]

    def __str__(self) -> str:
        return f"{self.fiscal_year} {self.department}"


class ExternalApplication(models.Model):
    """One application received by another e-application system (imported log)."""

    procedure_name = models.CharField(_("手続名"), max_length=300)
    procedure = models.ForeignKey("catalog.Procedure", on_delete=models.SET_NULL, null=True, blank=True)
    submitted_at = models.DateTimeField(_("申請日時"), db_index=True)
    channel = models.CharField(_("申請経路"), max_length=20)  # online / counter / mail ...
    # From the file, for procedures not in the catalog (a catalog match brings its own).
    department = models.CharField(_("部局"), max_length=100, blank=True)
    source = models.CharField(_("取込元"), max_length=200, blank=True)
    source_key = models.CharField(max_length=64, unique=True)  # hash of the row: re-imports add nothing

    class Meta:
        verbose_name = _("他システムの申請記録")
        verbose_name_plural = _("他システムの申請記録")

    def __str__(self) -> str:
        return f"{self.procedure_name} {self.submitted_at:%Y-%m-%d %H:%M}"


class DailyApplications(models.Model):
    """Pre-aggregated applications per JST day, procedure, channel and office-hours flag,
    kept in step with Submission (and withdrawals) so a 10-year report reads a few
    thousand rows instead of millions. Rebuildable from the facts at any time."""

    day = models.DateField(db_index=True)
    fiscal_year = models.PositiveIntegerField(db_index=True)
    procedure = models.ForeignKey("catalog.Procedure", on_delete=models.CASCADE, null=True, blank=True)
    procedure_name = models.CharField(max_length=300)  # for external logs without a catalog match
    department = models.CharField(max_length=100)
    channel = models.CharField(max_length=20)
    outside_hours = models.BooleanField()
    count = models.IntegerField(default=0)

    class Meta:
        # A catalog procedure has one row per day, channel and flag, whatever it or its
        # department were called (two procedures may share a name; a rename must not split
        # a count); applications of procedures outside the catalog are told apart by name
        # and department.
        constraints = [
            models.UniqueConstraint(
                fields=["day", "procedure", "channel", "outside_hours"],
                condition=models.Q(procedure__isnull=False), name="daily_catalog_unique",
            ),
            models.UniqueConstraint(
                fields=["day", "procedure_name", "department", "channel", "outside_hours"],
                condition=models.Q(procedure__isnull=True), name="daily_external_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.procedure_name} {self.channel} {self.count}"


class SavingMeasure(models.Model):
    """業務削減時間: one measure and the hours a year it saves."""

    class Kind(models.TextChoices):
        RPA = "rpa", _("RPA")
        OTHER = "other", _("その他")

    fiscal_year = models.PositiveIntegerField(_("年度"), db_index=True)
    department = models.CharField(_("部局"), max_length=100)
    kind = models.CharField(_("種類"), max_length=10, choices=Kind.choices)
    measure = models.CharField(_("取組"), max_length=300)
    formula = models.CharField(_("計算式"), max_length=200, blank=True, help_text=_("例: 5分×64か所×250日"))
    hours = models.DecimalField(_("削減時間（時間/年）"), max_digits=12, decimal_places=1)

    class Meta:
        ordering = ["fiscal_year", "department", "id"]
        verbose_name = _("業務削減の取組")
        verbose_name_plural = _("業務削減の取組")

    def __str__(self) -> str:
        return f"{self.fiscal_year} {self.department} {self.measure}"


class PosTransaction(models.Model):
    """A counter payment from the POS system."""

    at = models.DateTimeField(_("日時"), db_index=True)
    facility = models.CharField(_("施設"), max_length=100, db_index=True)
    fee_item = models.CharField(_("料金項目"), max_length=200)
    amount = models.PositiveIntegerField(_("金額（円）"))
    method = models.CharField(_("支払方法"), max_length=50)
    cashless = models.BooleanField(_("キャッシュレス"))
    source_key = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("POS 取引")
        verbose_name_plural = _("POS 取引")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.facility} {self.amount}"


class FacilityCashless(models.Model):
    """Per-facility yearly totals (when only totals are available).

    A 独自集計 row (`cashless_only`) is a facility's own tally of its cashless payments:
    its cash is unknown, so it is reported on its own and kept out of the cashless ratio
    (counting its cash as 0 would inflate the ratio)."""

    year = models.PositiveIntegerField(_("年"), db_index=True)
    facility = models.CharField(_("施設"), max_length=100)
    sales = models.PositiveBigIntegerField(_("売上（円）"), null=True, blank=True)
    cash = models.PositiveBigIntegerField(_("現金（円）"), null=True, blank=True)
    cashless = models.PositiveBigIntegerField(_("キャッシュレス（円）"))
    cashless_only = models.BooleanField(_("キャッシュレスのみの集計（独自集計）"), default=False)
    published_ratio = models.DecimalField(_("公表キャッシュレス比率(%)"), max_digits=6, decimal_places=2, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["year", "facility"], name="facility_cashless_unique"),
            # A row in the ratio needs both parts of its sales; only a 独自集計 may lack them.
            models.CheckConstraint(
                condition=models.Q(cashless_only=True)
                | (models.Q(sales__isnull=False) & models.Q(cash__isnull=False)),
                name="facility_cashless_parts_known",
            ),
        ]
        verbose_name = _("施設別キャッシュレス実績")
        verbose_name_plural = _("施設別キャッシュレス実績")

    def __str__(self) -> str:
        return f"{self.year} {self.facility}"


class PrinterUsage(models.Model):
    """Printouts of a department in one month."""

    department = models.CharField(_("部局"), max_length=100)
    month = models.DateField(_("月"), help_text=_("その月の1日"))
    colour_pages = models.PositiveIntegerField(_("カラー枚数"), default=0)
    mono_pages = models.PositiveIntegerField(_("モノクロ枚数"), default=0)
    staff = models.PositiveIntegerField(_("職員数"), null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["department", "month"], name="printer_usage_unique")]
        verbose_name = _("印刷枚数（月別）")
        verbose_name_plural = _("印刷枚数（月別）")

    def __str__(self) -> str:
        return f"{self.department} {self.month:%Y-%m}"


class PrinterPeriodTotal(models.Model):
    """Printouts of a department over a reporting period (when only totals are available)."""

    department = models.CharField(_("部局"), max_length=100)
    period = models.CharField(_("期間"), max_length=50)  # e.g. fy2022_oct_to_mar
    start = models.DateField(_("開始月"))
    end = models.DateField(_("終了月"))
    sheets = models.PositiveBigIntegerField(_("枚数"))
    published_per_staff_month = models.PositiveIntegerField(_("公表 1人1か月あたり"), null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["department", "period"], name="printer_period_unique")]
        verbose_name = _("印刷枚数（期間計）")
        verbose_name_plural = _("印刷枚数（期間計）")

    def __str__(self) -> str:
        return f"{self.department} {self.period}"
