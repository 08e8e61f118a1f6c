"""Records of the three-segment transfer beside TransferBundle and TransferredSubmission
(models.py): what made each attachment harmless, and which status changes went outward."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TransferredAttachment(models.Model):
    """Both hashes of an attachment that crossed: the resident's original and the harmless
    copy. On the intake side the row says what was sent (the original may be dropped by
    TRANSFER_KEEP_ORIGINALS); on the inside, which original the stored copy came from."""

    class Method(models.TextChoices):
        IMAGE = "image-reencoded", _("画像を再エンコード")
        PDF = "pdf-rewritten", _("PDF を書き直し")
        RASTER = "pdf-rasterised", _("PDF を画像化")
        WITHHELD = "withheld", _("持ち込まず（無害化できない）")

    attachment = models.OneToOneField("applications.Attachment", on_delete=models.CASCADE, related_name="transfer")
    original_sha256 = models.CharField(max_length=64)
    original_size = models.PositiveBigIntegerField()
    harmless_sha256 = models.CharField(max_length=64, blank=True)
    method = models.CharField(_("無害化の方法"), max_length=20, choices=Method.choices)
    reason = models.CharField(max_length=200, blank=True)
    original_dropped = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.attachment_id} {self.method}"


class TransferredEvent(models.Model):
    """On the inside: a status change already written into an outward status bundle."""

    event = models.OneToOneField("applications.SubmissionEvent", on_delete=models.CASCADE, related_name="transfer")
    bundle = models.ForeignKey("integrations.TransferBundle", on_delete=models.PROTECT, related_name="events")

    def __str__(self) -> str:
        return f"{self.event_id} in {self.bundle}"
