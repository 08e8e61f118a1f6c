"""Form definitions, versioned. A published version never changes: every submission
keeps the version it was filled with, so what a resident saw can always be shown again."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenohira.forms.schema import FormSchema, SchemaError, parse

_PUBLISHED_SCHEMAS: dict[tuple, FormSchema] = {}  # (pk, created_at) → parsed schema


class FormDefinition(models.Model):
    """The online form of one procedure (its versions hold the schema)."""

    procedure = models.OneToOneField(
        "catalog.Procedure", on_delete=models.PROTECT, related_name="form", verbose_name=_("手続き")
    )
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)
    # 受付期間: when residents may submit. Empty ends mean "no limit on that side". A form
    # outside its window is not counted as online (catalog.selectors) and refuses submission.
    opens_at = models.DateTimeField(_("受付開始日時"), null=True, blank=True)
    closes_at = models.DateTimeField(_("受付終了日時"), null=True, blank=True)

    class Kind(models.TextChoices):
        APPLICATION = "application", _("申請")
        SURVEY = "survey", _("アンケート")

    # A survey (アンケート, 意見募集) has no staff workflow: its responses never enter a
    # section's queue and are read as tallies (申込集計表). 受付期間 is its response period.
    kind = models.CharField(_("種類"), max_length=20, choices=Kind.choices, default=Kind.APPLICATION)
    # An anonymous survey keeps no name, e-mail address or identity with a response.
    anonymous = models.BooleanField(_("匿名で回答"), default=False)
    # The builder's working copy (下書き): it may hold problems while a clerk is still
    # editing (a condition on a field just removed, an empty choice list). Versions are
    # only ever made from it by publishing, which refuses while any problem is left, so
    # every FormVersion row stays a schema the engine can run.
    working_schema = models.JSONField(_("編集中の定義"), null=True, blank=True)
    working_updated_at = models.DateTimeField(_("編集中の定義の更新日時"), null=True, blank=True)
    working_updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("編集した職員"),
    )

    class Meta:
        verbose_name = _("申請フォーム")
        verbose_name_plural = _("申請フォーム")

    def __str__(self) -> str:
        return str(self.procedure)

    def clean(self) -> None:
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValidationError({"closes_at": _("受付終了日時は受付開始日時より後にしてください。")})

    def window_state(self, at=None) -> str:
        """"before", "open" or "closed" at the given moment (now by default)."""
        at = at or timezone.now()
        if self.opens_at and at < self.opens_at:
            return "before"
        if self.closes_at and at >= self.closes_at:
            return "closed"
        return "open"

    def is_accepting(self, at=None) -> bool:
        return self.window_state(at) == "open"

    def published_version(self):
        return self.versions.filter(status=FormVersion.Status.PUBLISHED).order_by("-number").first()


class FormVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("下書き")
        PUBLISHED = "published", _("公開")

    definition = models.ForeignKey(FormDefinition, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("版"))
    schema = models.JSONField(_("定義（JSON）"))
    status = models.CharField(_("状態"), max_length=20, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(_("公開日時"), null=True, blank=True)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)

    class Meta:
        verbose_name = _("フォームの版")
        verbose_name_plural = _("フォームの版")
        constraints = [models.UniqueConstraint(fields=["definition", "number"], name="form_version_unique")]
        ordering = ["definition", "-number"]

    def __str__(self) -> str:
        return f"{self.definition} 第{self.number}版"

    def save(self, *args, **kwargs):
        if self.pk:
            stored = FormVersion.objects.filter(pk=self.pk).values("status", "schema").first()
            if stored and stored["status"] == self.Status.PUBLISHED and (
                stored["schema"] != self.schema or self.status != self.Status.PUBLISHED
            ):
                raise ValidationError(_("公開済みの版は変更できません。新しい版を作ってください。"))
        parse(self.schema)  # never store a schema the engine cannot run
        if self.status == self.Status.PUBLISHED and not self.published_at:
            self.published_at = timezone.now()
        self._parsed = None
        super().save(*args, **kwargs)

    def parsed(self) -> FormSchema:
        cached = getattr(self, "_parsed", None)
        if cached is None:
            if self.status == self.Status.PUBLISHED and self.pk:
                # A published version never changes (save() refuses it), so its parsed
                # form is shared by every request of the process. The key has the
                # creation time too: a test database may give a new row an old pk. With
                # the key matching, the schema column need not even be read (callers
                # on hot paths defer it).
                key = (self.pk, self.created_at)
                cached = _PUBLISHED_SCHEMAS.get(key)
                if cached is None:
                    cached = _PUBLISHED_SCHEMAS[key] = parse(self.schema)
            else:
                cached = parse(self.schema)
            self._parsed = cached
        return cached

    def clean(self) -> None:
        try:
            parse(self.schema)
        except SchemaError as exc:
            raise ValidationError({"schema": exc.errors}) from exc
