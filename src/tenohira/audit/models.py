"""Who saw or changed what: an append-only, keyed, hash-chained log.

Each record's link is an HMAC-SHA256, with a key held outside the database (audit.keys),
over its own content and the previous record's link, so editing, inserting or deleting a
record breaks the chain, and recomputing it needs the key. The head row (count and newest
link, signed with the key) catches removal of the newest records; anchors written outside
the database (audit.anchors) catch a head put back to an older signed state.

Records written before the key existed have an empty `key_id` and a plain SHA-256 link:
they still verify, but only as a prefix of the chain — a plain record after a keyed one
is what a rewrite without the key looks like, and is reported as such.
`tenohira audit verify` checks all of it.
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
    #: Fingerprint of the key whose HMAC `hash` is; empty for the plain SHA-256 records
    #: written before keys were introduced.
    key_id = models.CharField(max_length=16, blank=True, default="")

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
    """One row: how many records the chain has and the newest hash (locked to append),
    signed with the key, and when the chain was last anchored outside the database."""

    count = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    key_id = models.CharField(max_length=16, blank=True, default="")
    mac = models.CharField(max_length=64, blank=True, default="")
    anchored_count = models.PositiveBigIntegerField(default=0)
    anchored_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.count} records"
