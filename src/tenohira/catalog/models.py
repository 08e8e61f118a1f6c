"""The procedure catalog (総合案内): who handles what, and how a resident applies for it.

Department (部局) → Section (所属/課) → Procedure (手続き); life events (ライフイベント)
group procedures across sections the way residents think of them (引越し, おくやみ, ...).
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Department(models.Model):
    """部局: a department of the municipality (市民部, こども部, ...)."""

    name = models.CharField(_("部局名"), max_length=100, unique=True)
    reading = models.CharField(_("よみ"), max_length=200, blank=True)
    order = models.PositiveIntegerField(_("表示順"), default=0)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("部局")
        verbose_name_plural = _("部局")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:department", args=[self.pk])


class Section(models.Model):
    """所属/課: the section that handles a procedure and answers residents' questions."""

    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="sections", verbose_name=_("部局")
    )
    name = models.CharField(_("所属名"), max_length=100)
    reading = models.CharField(_("よみ"), max_length=200, blank=True)
    phone = models.CharField(_("電話番号"), max_length=30, blank=True)
    email = models.EmailField(_("メールアドレス"), blank=True)
    # Where the section's counter is. A procedure the catalog says nothing else about is
    # applied for here, so the page can always tell a resident where to go.
    place = models.CharField(_("窓口の場所"), max_length=300, blank=True, help_text=_("例: 本庁舎1階 市民課"))
    hours = models.CharField(_("受付時間"), max_length=200, blank=True, help_text=_("空欄なら開庁時間（平日 8:30〜17:15）"))
    order = models.PositiveIntegerField(_("表示順"), default=0)

    class Meta:
        ordering = ["department__order", "order", "id"]
        verbose_name = _("所属")
        verbose_name_plural = _("所属")
        constraints = [
            models.UniqueConstraint(fields=["department", "name"], name="section_unique_per_department")
        ]

    def __str__(self) -> str:
        return f"{self.department.name} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("catalog:section", args=[self.pk])


class LifeEvent(models.Model):
    """ライフイベント: a moment of life that brings several procedures at once."""

    slug = models.SlugField(_("スラッグ"), max_length=50, unique=True)
    name = models.CharField(_("名称"), max_length=50, unique=True)
    reading = models.CharField(_("よみ"), max_length=100, blank=True)
    description = models.TextField(_("説明"), blank=True)
    order = models.PositiveIntegerField(_("表示順"), default=0)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("ライフイベント")
        verbose_name_plural = _("ライフイベント")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:life_event", args=[self.slug])


class Channel(models.TextChoices):
    """A way to apply. Declared order is ease for the resident: the page lists the
    easiest first (online here, another online service, by post, at a counter)."""

    PLATFORM = "platform", _("オンライン")
    EXTERNAL = "external", _("外部サービス")
    POST = "post", _("郵送")
    COUNTER = "counter", _("窓口")


CHANNEL_EASE = {value: index for index, value in enumerate(Channel.values)}


class Identity(models.TextChoices):
    """How an applicant proves who they are (the assurance a procedure requires), checked
    on the server when the form is started and when it is submitted (see
    tenohira.core.residents.satisfies). A business procedure asks for GビズID."""

    NONE = "none", _("不要")
    EMAIL = "email", _("メールアドレスの確認")
    BUSINESS = "business", _("GビズID（法人・個人事業主）")
    CARD_SIGNIN = "card_signin", _("マイナンバーカードでログイン")
    CARD_SIGNATURE = "card_signature", _("マイナンバーカードでログインと電子署名")


class Procedure(models.Model):
    """手続き: one administrative procedure a resident or business can apply for."""

    code = models.CharField(
        _("手続ID"),
        max_length=20,
        unique=True,
        help_text=_("英大文字・数字・ハイフン。受付番号にも使われます（例: HJC）。"),
    )
    section = models.ForeignKey(
        Section, on_delete=models.PROTECT, related_name="procedures", verbose_name=_("所属")
    )
    name = models.CharField(_("手続名"), max_length=200)
    reading = models.CharField(
        _("よみ"), max_length=400, blank=True, help_text=_("ひらがな。空欄なら自動で付けます。")
    )
    keywords = models.TextField(
        _("キーワード"), blank=True, help_text=_("検索で使われる言い換え。「、」で区切ります。")
    )
    summary = models.TextField(_("概要"), blank=True)
    eligibility = models.TextField(_("対象者"), blank=True)
    requirements = models.TextField(_("必要なもの"), blank=True)
    fee = models.CharField(_("手数料"), max_length=200, blank=True)
    legal_basis = models.CharField(_("根拠法令"), max_length=300, blank=True)
    processing_days = models.PositiveIntegerField(_("標準処理期間（日）"), null=True, blank=True)
    annual_applications = models.PositiveIntegerField(_("年間申請件数"), default=0)
    identity = models.CharField(
        _("本人確認"), max_length=20, choices=Identity.choices, default=Identity.NONE
    )
    online_since = models.DateField(_("オンライン化日"), null=True, blank=True)
    planned_online_fiscal_year = models.PositiveIntegerField(
        _("オンライン化予定年度"), null=True, blank=True, help_text=_("西暦の年度（例: 2025 = 令和7年度）")
    )
    life_events = models.ManyToManyField(
        LifeEvent, blank=True, related_name="procedures", verbose_name=_("ライフイベント")
    )
    is_published = models.BooleanField(_("公開"), default=True)
    # 保存年限: how long its applications are kept once closed (applications.retention).
    # Empty = the site default (RETENTION_DEFAULT_YEARS); 永年 = never disposed of.
    document_class = models.CharField(
        _("文書分類"), max_length=100, blank=True, help_text=_("文書管理規程の分類（例: 第2種）。保存年限を決める目安です。")
    )
    retention_years = models.PositiveSmallIntegerField(
        _("保存年限（年）"), null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("完結した翌年度の4月1日から数えます。空欄ならサイトの既定の年数です。"),
    )
    retention_permanent = models.BooleanField(_("永年保存"), default=False, help_text=_("申請を廃棄しません。"))
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)

    # Search index, kept in the row so a query is one scan of one table. Written only by
    # catalog.search.index_procedure (called from the services and from save()).
    search_name = models.TextField(editable=False, default="")
    search_reading = models.TextField(editable=False, default="")
    search_keywords = models.TextField(editable=False, default="")
    search_other = models.TextField(editable=False, default="")
    # When the search columns were last written: tells every process's in-memory index
    # that it is stale, without pretending the procedure itself was edited (updated_at).
    indexed_at = models.DateTimeField(editable=False, null=True, db_index=True)

    class Meta:
        ordering = ["section__department__order", "section__order", "name"]
        verbose_name = _("手続き")
        verbose_name_plural = _("手続き")
        constraints = [
            models.UniqueConstraint(fields=["section", "name"], name="procedure_unique_per_section")
        ]
        indexes = [models.Index(fields=["-annual_applications"], name="procedure_volume_idx")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        from tenohira.catalog.search import index_procedure

        index_procedure(self)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("catalog:procedure", args=[self.code])

    def clean(self) -> None:
        super().clean()
        if self.retention_permanent and self.retention_years is not None:
            raise ValidationError({"retention_years": _("永年保存の手続きには保存年限（年）を入れないでください。")})

    @property
    def department(self) -> Department:
        return self.section.department

    @property
    def apply_url(self) -> str:
        return reverse("applications:start", args=[self.code])

    @property
    def keyword_list(self) -> list[str]:
        from tenohira.core.text import split_terms

        return split_terms(self.keywords)

    @property
    def requirement_list(self) -> list[str]:
        from tenohira.core.text import split_terms

        return split_terms(self.requirements)



class ProcedureChannel(models.Model):
    """One way to apply for a procedure: here online, on a named external service, by
    post, or at a counter (a procedure may have several counters).

    Whether the "here online" way is usable is not stored: it holds only while a
    published form exists and its application window is open (catalog.channels)."""

    procedure = models.ForeignKey(
        Procedure, on_delete=models.CASCADE, related_name="channels", verbose_name=_("手続き")
    )
    kind = models.CharField(_("申請方法"), max_length=20, choices=Channel.choices)
    service_name = models.CharField(
        _("サービス名"), max_length=100, blank=True,
        help_text=_("外部サービスの名前（例: マイナポータル ぴったりサービス、かんたん電子申請、eLTAX）"),
    )
    url = models.URLField(_("URL"), max_length=500, blank=True)
    place = models.CharField(
        _("場所・送付先"), max_length=300, blank=True, help_text=_("窓口の場所、または郵送の送付先")
    )
    hours = models.CharField(_("受付時間"), max_length=200, blank=True)
    bring = models.TextField(_("持ち物"), blank=True, help_text=_("空欄なら手続きの「必要なもの」を表示します。"))
    note = models.CharField(_("補足"), max_length=300, blank=True)
    order = models.PositiveIntegerField(_("表示順"), default=0)

    class Meta:
        ordering = ["procedure", "order", "id"]
        verbose_name = _("申請方法")
        verbose_name_plural = _("申請方法")
        indexes = [models.Index(fields=["kind", "procedure"], name="channel_kind_idx")]

    def __str__(self) -> str:
        label = self.service_name or self.place or ""
        return f"{self.get_kind_display()} {label}".strip()

    def clean(self) -> None:
        errors = {}
        if self.kind == Channel.EXTERNAL and not self.url:
            errors["url"] = _("外部サービスのときはURLが必要です。")
        if self.kind == Channel.POST and not self.place:
            errors["place"] = _("郵送のときは送付先が必要です。")
        if errors:
            raise ValidationError(errors)


class LifeEventFirstStep(models.Model):
    """まず必要な手続き: what the DX division puts first on a life event's page."""

    life_event = models.ForeignKey(
        LifeEvent, on_delete=models.CASCADE, related_name="first_steps", verbose_name=_("ライフイベント")
    )
    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="+", verbose_name=_("手続き"))
    note = models.CharField(_("ひとこと"), max_length=200, blank=True, help_text=_("例: 引越しの日から14日以内"))
    order = models.PositiveIntegerField(_("表示順"), default=0)

    class Meta:
        ordering = ["life_event", "order", "id"]
        verbose_name = _("まず必要な手続き")
        verbose_name_plural = _("まず必要な手続き")
        constraints = [
            models.UniqueConstraint(fields=["life_event", "procedure"], name="first_step_unique")
        ]

    def __str__(self) -> str:
        return f"{self.life_event} {self.procedure}"


class SynonymGroup(models.Model):
    """言い換え: words a resident may type for the same thing (引越し / 転居 / 転入)."""

    terms = models.TextField(_("語"), help_text=_("同じ意味の語を「、」で区切って入力します。"))
    note = models.CharField(_("メモ"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("検索の言い換え")
        verbose_name_plural = _("検索の言い換え")

    def __str__(self) -> str:
        return self.terms

    @property
    def term_list(self) -> list[str]:
        from tenohira.core.text import split_terms

        return split_terms(self.terms)
