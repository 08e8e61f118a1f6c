"""Shared infrastructure rows: the e-mail outbox, rate-limit counters and the closure days of
the business calendar (core.calendar), which SLAs, reservations and KPIs all read."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """An e-mail to send, written in the same transaction as the change that causes it, so
    a crash between "saved" and "sent" never loses the message (it is retried)."""

    kind = models.CharField(_("種類"), max_length=50)
    to = models.EmailField(_("宛先"))
    subject = models.CharField(_("件名"), max_length=300)
    body = models.TextField(_("本文"))
    reference = models.CharField(_("関連"), max_length=100, blank=True, db_index=True)
    # Small text files sent with the message ({"filename", "content_type", "content"}: a
    # booking's iCalendar file); emptied with the body once sent.
    attachments = models.JSONField(_("添付"), default=list, blank=True)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)
    sent_at = models.DateTimeField(_("送信日時"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("試行回数"), default=0)
    last_error = models.TextField(_("最後のエラー"), blank=True)
    # After a refusal: not tried again before this time (None: due now).
    next_attempt_at = models.DateTimeField(_("次の送信予定"), null=True, blank=True)
    # Taken by a delivery worker until this time (None: free). A worker that died leaves
    # its messages taken; they are free again once this time has passed.
    lease_until = models.DateTimeField(_("送信処理中の期限"), null=True, blank=True)

    class Meta:
        verbose_name = _("送信待ちメール")
        verbose_name_plural = _("送信待ちメール")
        ordering = ["created_at"]
        # The delivery worker looks for pending messages only; sent ones (nearly all of
        # the table, kept as a record) stay out of the index.
        indexes = [models.Index(fields=["id"], condition=models.Q(sent_at__isnull=True), name="outbox_pending_idx")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.to}"


class RateLimitHit(models.Model):
    """Attempts per key and time window, shared by every worker through the database."""

    key = models.CharField(max_length=200)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="rate_limit_unique")]

    def __str__(self) -> str:
        return f"{self.key} {self.window_start:%Y-%m-%d %H:%M}: {self.count}"


class ClosureDay(models.Model):
    """A day the offices are closed besides weekends, national holidays and 12/29–1/3."""

    date = models.DateField(_("日付"), unique=True)
    reason = models.CharField(_("理由"), max_length=100, blank=True)
    # With the row count, tells every process that its cached closure days are stale
    # (core.calendar): an edit moves the newest stamp, a deletion lowers the count.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("閉庁日")
        verbose_name_plural = _("閉庁日")

    def __str__(self) -> str:
        return f"{self.date} {self.reason}"
