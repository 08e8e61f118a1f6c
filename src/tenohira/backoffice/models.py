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
    DEPARTMENT_HEAD = "department_head", _("部局長")


SECTION_ROLES = {Role.HANDLER, Role.APPROVER, Role.SECTION_ADMIN}
#: Roles held for a whole department (部局): they read that department's figures (DX
#: insights), never applications — no personal data comes with them.
DEPARTMENT_ROLES = {Role.DEPARTMENT_HEAD}


class StaffRole(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_roles")
    role = models.CharField(_("役割"), max_length=20, choices=Role.choices)
    section = models.ForeignKey(
        "catalog.Section", on_delete=models.CASCADE, null=True, blank=True, related_name="staff_roles",
        verbose_name=_("所属"),
    )
    department = models.ForeignKey(
        "catalog.Department", on_delete=models.CASCADE, null=True, blank=True, related_name="staff_roles",
        verbose_name=_("部局"), help_text=_("部局長の役割のときだけ指定します。"),
    )

    class Meta:
        verbose_name = _("職員の役割")
        verbose_name_plural = _("職員の役割")
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "section"], name="staff_role_unique"),
            models.UniqueConstraint(
                fields=["user", "role", "department"], condition=models.Q(department__isnull=False),
                name="staff_role_department_unique",
            ),
            # A role is held in a section, in a department, or city-wide: never in two places.
            models.CheckConstraint(
                condition=models.Q(section__isnull=True) | models.Q(department__isnull=True),
                name="staff_role_section_or_department",
            ),
        ]

    def __str__(self) -> str:
        if self.section_id:
            where = f"（{self.section.name}）"
        elif self.department_id:
            where = f"（{self.department.name}）"
        else:
            where = ""
        return f"{self.user} {self.get_role_display()}{where}"

    def clean(self) -> None:
        if self.role in SECTION_ROLES and self.section_id is None:
            raise ValidationError({"section": _("この役割には所属が必要です。")})
        if self.role not in SECTION_ROLES and self.section_id is not None:
            raise ValidationError({"section": _("この役割は所属に属しません。")})
        if self.role in DEPARTMENT_ROLES and self.department_id is None:
            raise ValidationError({"department": _("この役割には部局が必要です。")})
        if self.role not in DEPARTMENT_ROLES and self.department_id is not None:
            raise ValidationError({"department": _("この役割は部局に属しません。")})
