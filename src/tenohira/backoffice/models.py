"""Staff and their roles. A staff member belongs to one or more sections; what they may
see and do follows from their roles there (checked in selectors and services)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    HANDLER = "handler", _("担当")
    APPROVER = "approver", _("決裁者")
    SECTION_ADMIN = "section_admin", _("所属管理者")
    DX_ADMIN = "dx_admin", _("DX管理者")
    AUDITOR = "auditor", _("監査")


SECTION_ROLES = {Role.HANDLER, Role.APPROVER, Role.SECTION_ADMIN}


class StaffRole(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_roles")
    role = models.CharField(_("役割"), max_length=20, choices=Role.choices)
    section = models.ForeignKey(
        "catalog.Section", on_delete=models.CASCADE, null=True, blank=True, related_name="staff_roles",
        verbose_name=_("所属"),
    )

    class Meta:
        verbose_name = _("職員の役割")
        verbose_name_plural = _("職員の役割")
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "section"], name="staff_role_unique"),
        ]

    def __str__(self) -> str:
        where = f"（{self.section.name}）" if self.section_id else ""
        return f"{self.user} {self.get_role_display()}{where}"

    def clean(self) -> None:
        if self.role in SECTION_ROLES and self.section_id is None:
            raise ValidationError({"section": _("この役割には所属が必要です。")})
        if self.role not in SECTION_ROLES and self.section_id is not None:
            raise ValidationError({"section": _("この役割は所属に属しません（全庁の役割です）。")})
