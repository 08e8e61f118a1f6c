"""Who saw or changed what: an append-only, hash-chained log.

Each record's hash covers its own content and the previous record's hash, so editing or
deleting any record breaks the chain from that point on; the head row (count and last
hash) also catches removal of the newest records. `tenohira audit verify` recomputes it.
"""

from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditRecord(models.Model):
    at = models.DateTimeField(_("日時"), db_index=True)
    actor_id = models.BigIntegerField(_("利用者ID"), null=True, blank=True, db_index=True)
    actor = models.CharField(_("利用者"), max_length=150, blank=True)
    action = models.CharField(_("操作"), max_length=50, db_index=True)
    target = models.CharField(_("対象"), max_length=100, blank=True, db_index=True)
    detail = models.JSONField(_("内容"), default=dict)
    ip = models.CharField(_("接続元"), max_length=45, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("監査記録")
        verbose_name_plural = _("監査記録")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionDenied("audit records cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied("audit records cannot be deleted")


class AuditHead(models.Model):
    """One row: how many records the chain has and the newest hash (locked to append)."""

    count = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"{self.count} records"
