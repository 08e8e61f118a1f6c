"""Delivery of submissions to business systems (連携), the pull API's clients, and the
record of bundles that crossed between network segments.

Every delivery is a row first (an outbox): it is written in the submission's transaction,
and a worker sends it afterwards, retrying until it is delivered or given up (dead letter)
with the reason. Nothing here holds a secret in clear: API keys, client secrets and tokens
are stored as hashes; webhook signing keys are derived from INTEGRATIONS_KEY in the
environment.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DeliveryTarget(models.Model):
    """A business system that receives a section's (or one procedure's) submissions."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook（HTTPS POST）")
        FILE_DROP = "file_drop", _("ファイル連携（フォルダに出力）")
        EMAIL = "email", _("メール通知（担当課の共有アドレス）")

    name = models.CharField(_("連携先の名前"), max_length=100)
    kind = models.CharField(_("連携の方法"), max_length=20, choices=Kind.choices)
    section = models.ForeignKey("catalog.Section", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="delivery_targets", verbose_name=_("所属（すべての手続き）"))
    procedure = models.ForeignKey("catalog.Procedure", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="delivery_targets", verbose_name=_("手続き（この手続きだけ）"))
    # Per kind: {"url": …} / {"directory": …} / {"to": …}; checked by the kind's validate().
    config = models.JSONField(_("設定"), default=dict, blank=True)
    # Which events are sent: "submitted", "resubmitted", "status".
    events = models.JSONField(_("送る出来事"), default=list, blank=True)
    is_active = models.BooleanField(_("有効"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("連携先")
        verbose_name_plural = _("連携先")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(section__isnull=False) | models.Q(procedure__isnull=False),
                name="delivery_target_serves_something",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One document for one target: pending → sending → delivered, or retrying → dead."""

    class State(models.TextChoices):
        PENDING = "pending", _("送信待ち")
        SENDING = "sending", _("送信中")
        DELIVERED = "delivered", _("送信済み")
        RETRYING = "retrying", _("再送待ち")
        DEAD = "dead", _("送信できず（要対応）")

    class Event(models.TextChoices):
        SUBMITTED = "submitted", _("申請")
        RESUBMITTED = "resubmitted", _("再提出")
        STATUS = "status", _("状態の変更")

    # The id the receiving system deduplicates by (X-Tenohira-Delivery): the same on every attempt.
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    target = models.ForeignKey(DeliveryTarget, on_delete=models.PROTECT, related_name="deliveries")
    submission = models.ForeignKey("applications.Submission", on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=20, choices=Event.choices, default=Event.SUBMITTED)
    state = models.CharField(_("状態"), max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("試行回数"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Taken by a worker until this time; after a crash the delivery is free again.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(_("失敗の理由"), blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(_("送信日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("連携の送信")
        verbose_name_plural = _("連携の送信")
        indexes = [
            # The worker's sweep looks only at what is still to send.
            models.Index(fields=["next_attempt_at"], name="delivery_due_idx",
                         condition=models.Q(state__in=["pending", "sending", "retrying"])),
            models.Index(fields=["target", "-created_at"], name="delivery_target_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.target} {self.delivery_id}"


class IntegrationClient(models.Model):
    """A business system that pulls submissions through the API (and posts statuses back)."""

    name = models.CharField(_("業務システムの名前"), max_length=100)
    sections = models.ManyToManyField("catalog.Section", related_name="integration_clients",
                                      verbose_name=_("読み書きできる所属"))
    # "submissions:read", "submissions:ack", "status:write"
    scopes = models.JSONField(_("権限"), default=list)
    # API key: shown once; only its first characters (to recognise it) and hash are kept.
    api_key_prefix = models.CharField(max_length=16, blank=True)
    api_key_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # OAuth2 client credentials.
    client_id = models.CharField(max_length=64, unique=True)
    client_secret_hash = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(_("有効"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("連携API の利用システム")
        verbose_name_plural = _("連携API の利用システム")

    def __str__(self) -> str:
        return self.name


class IntegrationToken(models.Model):
    """A short-lived bearer token issued by the client-credentials grant (hash only)."""

    client = models.ForeignKey(IntegrationClient, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.client} token"


class Acknowledgement(models.Model):
    """取込済: a business system said it imported this submission."""

    client = models.ForeignKey(IntegrationClient, on_delete=models.CASCADE, related_name="acknowledgements")
    submission = models.ForeignKey("applications.Submission", on_delete=models.CASCADE, related_name="acknowledgements")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "submission"], name="ack_once_per_client")]

    def __str__(self) -> str:
        return f"{self.client} ack {self.submission_id}"


class TransferBundle(models.Model):
    """A bundle that crossed between segments, on the side that wrote or read it. The
    sequence per direction is what makes a replayed or out-of-order bundle refusable."""

    class Direction(models.TextChoices):
        SUBMISSIONS_OUT = "submissions_out", _("申請の送り出し（インターネット側）")
        SUBMISSIONS_IN = "submissions_in", _("申請の取り込み（LGWAN側）")
        STATUS_OUT = "status_out", _("状態の送り出し（LGWAN側）")
        STATUS_IN = "status_in", _("状態の取り込み（インターネット側）")

    direction = models.CharField(max_length=20, choices=Direction.choices)
    bundle_id = models.UUIDField()
    sequence = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    items = models.PositiveIntegerField(default=0)
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("セグメント間の受け渡し")
        verbose_name_plural = _("セグメント間の受け渡し")
        constraints = [
            models.UniqueConstraint(fields=["direction", "sequence"], name="transfer_sequence_once"),
            models.UniqueConstraint(fields=["direction", "bundle_id"], name="transfer_bundle_once"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} #{self.sequence}"


class TransferredSubmission(models.Model):
    """On the intake side: a submission already written into a bundle (exported once)."""

    submission = models.OneToOneField("applications.Submission", on_delete=models.CASCADE, related_name="transfer")
    bundle = models.ForeignKey(TransferBundle, on_delete=models.PROTECT, related_name="submissions")

    def __str__(self) -> str:
        return f"{self.submission_id} in {self.bundle}"


# The three-segment transfer's own records (models_transfer), registered with this app.
from tenohira.integrations.models_transfer import TransferredAttachment, TransferredEvent  # noqa: E402,F401
