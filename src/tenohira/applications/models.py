"""A resident's application: the draft while typing, the submission once sent.

Nothing typed is lost: a draft keeps the raw inputs of every step (also of steps with
errors), and lives in the database, not in the session, so an expired session or a
closed browser loses nothing. A submission is created once per draft (the database
enforces it), in one transaction with its attachments and outbox e-mail; its receipt
number is reserved on the draft just before (see services.submit).
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    ONLINE = "online", _("オンライン")
    COUNTER = "counter", _("窓口")
    # 紙: answers written on paper and keyed in by staff (survey_import).
    PAPER = "paper", _("紙")


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
    # 書かない窓口: a short code (and QR) the resident shows at the counter so staff can
    # open this draft, check it with the resident and submit it there.
    handoff_code = models.CharField(max_length=12, null=True, blank=True, unique=True)
    handoff_expires_at = models.DateTimeField(null=True, blank=True)
    # The 受付番号 taken when 送信 was first pressed (services.submit): a retry, a double
    # tap or a press after a failure reuses it, so the sequence has no holes.
    receipt_number = models.CharField(max_length=40, blank=True)
    # The verified identity the draft was started or continued with (tenohira.core.residents
    # dict without last_seen), and the resident's signature of its digest (applications
    # .digests) where the procedure requires one. Both are copied onto the submission.
    identity = models.JSONField(default=dict, blank=True)
    signature = models.JSONField(default=dict, blank=True)
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
        UNDER_REVIEW = "under_review", _("審査中")
        RETURNED = "returned", _("差戻し")
        RESUBMITTED = "resubmitted", _("再提出")
        APPROVED = "approved", _("承認")
        REJECTED = "rejected", _("却下")
        COMPLETED = "completed", _("完了")
        WITHDRAWN = "withdrawn", _("取下げ")

    receipt_number = models.CharField(_("受付番号"), max_length=40, unique=True)
    # No index of their own: the composite indexes below begin with these columns (every
    # index is written on each submission).
    procedure = models.ForeignKey(
        "catalog.Procedure", on_delete=models.PROTECT, related_name="submissions", db_index=False
    )
    # The section that handles it, copied at submission: staff queues are scoped by it and
    # a later move of the procedure does not move applications already received.
    section = models.ForeignKey("catalog.Section", on_delete=models.PROTECT, related_name="submissions", db_index=False)
    form_version = models.ForeignKey("forms.FormVersion", on_delete=models.PROTECT, related_name="submissions")
    draft = models.OneToOneField(Draft, on_delete=models.SET_NULL, null=True, blank=True, related_name="submission")
    answers = models.JSONField(_("回答"))
    summary = models.JSONField(_("回答の表示"), default=list)  # as shown on the check page
    channel = models.CharField(_("申請経路"), max_length=20, choices=Channel.choices, default=Channel.ONLINE)
    status = models.CharField(_("状態"), max_length=20, choices=Status.choices, default=Status.RECEIVED)
    email = models.EmailField(_("連絡先メールアドレス"), blank=True)
    status_secret_hash = models.CharField(max_length=64)
    submitted_at = models.DateTimeField(_("申請日時"), db_index=True)
    due_date = models.DateField(_("処理期限"), null=True, blank=True)
    # For the staff queue's search: the applicant's name and furigana, normalised
    # (tenohira.core.text.normalize) so that ヤマダ, やまだ and ﾔﾏﾀﾞ find the same person.
    applicant_name = models.CharField(_("申請者氏名"), max_length=200, blank=True)
    applicant_search = models.CharField(max_length=400, blank=True)
    version = models.PositiveIntegerField(_("版"), default=1)
    # 本人確認の記録: provider, pairwise subject, assurance level, authentication time, the
    # four basic items as received and the SHA-256 of the ID token; never a My Number or a
    # PIN. Empty for a procedure that asks for no identity. 電子署名: the signature over the
    # digest of the answers and attachment hashes, with the signer's certificate and chain.
    identity = models.JSONField(_("本人確認の記録"), default=dict, blank=True)
    signature = models.JSONField(_("電子署名"), default=dict, blank=True)
    status_changed_at = models.DateTimeField(_("状態の更新日時"), null=True, blank=True)
    # 訴訟ホールド: kept past its retention period while a lawsuit, appeal or disclosure
    # request needs it (applications.retention never disposes of it). Set by DX admins.
    legal_hold = models.BooleanField(_("訴訟ホールド"), default=False)
    legal_hold_reason = models.CharField(_("訴訟ホールドの理由"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("申請")
        verbose_name_plural = _("申請")
        indexes = [
            models.Index(fields=["procedure", "-submitted_at"], name="submission_proc_time_idx"),
            models.Index(fields=["section", "status", "-submitted_at"], name="submission_queue_idx"),
            models.Index(fields=["section", "-submitted_at"], name="submission_section_time_idx"),
        ]

    def __str__(self) -> str:
        return self.receipt_number


class SubmissionEvent(models.Model):
    """One step of the history: who moved the application from which state to which, why."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("日時"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    actor_label = models.CharField(_("操作した人"), max_length=100)  # 申請者 / 窓口 / staff name
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    comment = models.TextField(_("コメント"), blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("申請の履歴")
        verbose_name_plural = _("申請の履歴")

    def __str__(self) -> str:
        return f"{self.submission} {self.from_status}→{self.to_status}"

    @property
    def to_label(self) -> str:
        return Submission.Status(self.to_status).label


class SubmissionVersion(models.Model):
    """Every version of the answers: the first submission and each resubmission."""

    # Indexed by the unique (submission, number) constraint.
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="versions", db_index=False)
    number = models.PositiveIntegerField()
    answers = models.JSONField()
    summary = models.JSONField(default=list)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["submission", "number"], name="submission_version_unique")]

    def __str__(self) -> str:
        return f"{self.submission} v{self.number}"


class CorrectionRequest(models.Model):
    """差戻し: staff ask the applicant to change specific fields or attachments."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="corrections")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    requested_at = models.DateTimeField()
    message = models.TextField(_("申請者へのメッセージ"))
    fields = models.JSONField(_("直してほしい項目"))  # [{"path": "children", "label": ..., "note": ...}]
    token_hash = models.CharField(max_length=64, db_index=True)
    expires_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.submission} 差戻し {self.requested_at:%Y-%m-%d}"


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


class StepReached(models.Model):
    """Step statistics (where residents give up), without personal data.

    One row the first time a draft shows or saves a step ("start" for the draft itself,
    "check" for the check page, "submitted" once sent). The draft is named only by
    `token`, a keyed hash of its public id (applications.steps): the rows say how many
    drafts reached each page, and once a draft is deleted nothing leads from a row back
    to it or to what was typed."""

    definition = models.ForeignKey("forms.FormDefinition", on_delete=models.CASCADE, related_name="+",
                                   db_index=False)
    form_version = models.ForeignKey("forms.FormVersion", on_delete=models.CASCADE, related_name="+",
                                     db_index=False)
    step_key = models.CharField(max_length=100)
    token = models.CharField(max_length=32)
    day = models.DateField()  # JST day the step was first reached

    class Meta:
        verbose_name = _("ステップ到達")
        verbose_name_plural = _("ステップ到達")
        constraints = [models.UniqueConstraint(fields=["token", "step_key"], name="step_reached_once")]
        indexes = [models.Index(fields=["definition", "day"], name="step_reached_form_day_idx")]

    def __str__(self) -> str:
        return f"{self.step_key} {self.day}"
