"""A resident's application: the draft while typing, the submission once sent.

Nothing typed is lost: a draft keeps the raw inputs of every step (also of steps with
errors), and lives in the database, not in the session, so an expired session or a
closed browser loses nothing. A submission is created once per draft (the database
enforces it), in one transaction with its attachments, receipt number and outbox e-mail.
"""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    ONLINE = "online", _("オンライン")
    COUNTER = "counter", _("窓口")


class Draft(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    form_version = models.ForeignKey("forms.FormVersion", on_delete=models.PROTECT, related_name="drafts")
    raw = models.JSONField(default=dict)  # step key → {input name: [values]}
    # The browser that started the draft keeps the secret in a cookie scoped to the
    # draft's path: ownership survives an expired session, and the URL alone is useless.
    owner_secret_hash = models.CharField(max_length=64)
    email = models.EmailField(blank=True)
    resume_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    resume_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("入力中の申請")
        verbose_name_plural = _("入力中の申請")

    def __str__(self) -> str:
        return str(self.public_id)


class Submission(models.Model):
    """受付: a submitted application. Answers are stored as the engine computed them."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("受付")

    receipt_number = models.CharField(_("受付番号"), max_length=40, unique=True)
    procedure = models.ForeignKey("catalog.Procedure", on_delete=models.PROTECT, related_name="submissions")
    form_version = models.ForeignKey("forms.FormVersion", on_delete=models.PROTECT, related_name="submissions")
    draft = models.OneToOneField(Draft, on_delete=models.SET_NULL, null=True, blank=True, related_name="submission")
    answers = models.JSONField(_("回答"))
    summary = models.JSONField(_("回答の表示"), default=list)  # as shown on the check page
    channel = models.CharField(_("申請経路"), max_length=20, choices=Channel.choices, default=Channel.ONLINE)
    status = models.CharField(_("状態"), max_length=20, choices=Status.choices, default=Status.RECEIVED)
    email = models.EmailField(_("連絡先メールアドレス"), blank=True)
    status_secret_hash = models.CharField(max_length=64)
    submitted_at = models.DateTimeField(_("申請日時"), db_index=True)

    class Meta:
        verbose_name = _("申請")
        verbose_name_plural = _("申請")
        indexes = [models.Index(fields=["procedure", "-submitted_at"], name="submission_proc_time_idx")]

    def __str__(self) -> str:
        return self.receipt_number


class Attachment(models.Model):
    """A file a resident attached; stored outside the web root under a random name."""

    class Scan(models.TextChoices):
        CLEAN = "clean", _("検査済み")
        SKIPPED = "skipped", _("未検査（スキャナ未設定）")

    token = models.CharField(max_length=43, unique=True)
    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments")
    submission = models.ForeignKey(
        Submission, on_delete=models.PROTECT, null=True, blank=True, related_name="attachments"
    )
    field_path = models.CharField(max_length=200)
    stored_name = models.CharField(max_length=100, unique=True)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    scan = models.CharField(max_length=20, choices=Scan.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("添付ファイル")
        verbose_name_plural = _("添付ファイル")

    def __str__(self) -> str:
        return self.original_name


class ReceiptCounter(models.Model):
    """The last receipt sequence per procedure and fiscal year (row-locked to increment)."""

    procedure_code = models.CharField(max_length=20)
    fiscal_year = models.PositiveIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["procedure_code", "fiscal_year"], name="receipt_counter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.fiscal_year}-{self.procedure_code}: {self.last}"
