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
    # 会計管理者: city-wide like DX管理者 and 監査 (no section, no department); reconciles
    # fees (消込) and reads the receipts' figures, never applications.
    ACCOUNTANT = "accountant", _("会計管理者")


SECTION_ROLES = {Role.HANDLER, Role.APPROVER, Role.SECTION_ADMIN}
#: Roles held for a whole department (部局): they read that department's figures (DX
#: insights), never applications — no personal data comes with them.
DEPARTMENT_ROLES = {Role.DEPARTMENT_HEAD}


class GrantStatus(models.TextChoices):
    """A role granted in the admin waits for a second person (四つの目): until another
    DX管理者 or the section's 所属管理者 approves it, selectors ignore it."""

    ACTIVE = "active", _("有効")
    PENDING = "pending", _("承認待ち")


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
    # Rows written by code (the demo, set-up scripts) are effective at once; the admin,
    # where one person could grant themselves access, writes PENDING (backoffice.services).
    status = models.CharField(_("状態"), max_length=10, choices=GrantStatus.choices, default=GrantStatus.ACTIVE)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("付与した人"),
    )
    requested_at = models.DateTimeField(_("付与の日時"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("承認した人"),
    )
    approved_at = models.DateTimeField(_("承認の日時"), null=True, blank=True)

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
        pending = "（承認待ち）" if self.status == GrantStatus.PENDING else ""
        return f"{self.user} {self.get_role_display()}{where}{pending}"

    def clean(self) -> None:
        if self.role in SECTION_ROLES and self.section_id is None:
            raise ValidationError({"section": _("この役割には所属が必要です。")})
        if self.role not in SECTION_ROLES and self.section_id is not None:
            raise ValidationError({"section": _("この役割は所属に属しません。")})
        if self.role in DEPARTMENT_ROLES and self.department_id is None:
            raise ValidationError({"department": _("この役割には部局が必要です。")})
        if self.role not in DEPARTMENT_ROLES and self.department_id is not None:
            raise ValidationError({"department": _("この役割は部局に属しません。")})


class IdentityDocument(models.TextChoices):
    """本人確認書類: what a clerk may have checked at the counter."""

    DRIVERS_LICENSE = "drivers_license", _("運転免許証")
    MYNUMBER_CARD = "mynumber_card", _("マイナンバーカード")
    PASSPORT = "passport", _("パスポート")
    HEALTH_INSURANCE = "health_insurance", _("健康保険証")
    RESIDENCE_CARD = "residence_card", _("在留カード")
    DISABILITY_CERTIFICATE = "disability_certificate", _("身体障害者手帳")
    OTHER = "other", _("その他")
    NONE = "none", _("確認なし")


class CounterIdentityCheck(models.Model):
    """The identity document a clerk checked when taking an application at the counter
    (書かない窓口). Written in the submission's transaction; an online application has none.

    Only the kind of document is kept, never its number: the record says that identity
    was checked and how, which is what a later review of the application needs."""

    submission = models.OneToOneField(
        "applications.Submission", on_delete=models.CASCADE, related_name="identity_check",
        verbose_name=_("申請"),
    )
    document = models.CharField(_("本人確認書類"), max_length=30, choices=IdentityDocument.choices)
    note = models.CharField(_("書類の名前（その他）"), max_length=100, blank=True)
    checked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("確認した職員"))
    checked_at = models.DateTimeField(_("確認日時"))

    class Meta:
        verbose_name = _("窓口での本人確認")
        verbose_name_plural = _("窓口での本人確認")
        constraints = [
            # 「その他」 says nothing without the document's name.
            models.CheckConstraint(
                condition=~models.Q(document=IdentityDocument.OTHER) | ~models.Q(note=""),
                name="identity_check_other_has_note",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.submission} {self.label}"

    @property
    def label(self) -> str:
        """「マイナンバーカード」, or 「その他（社員証）」 with the clerk's note."""
        return label_of(self.document, self.note)


def label_of(document: str, note: str = "") -> str:
    if not document:
        return ""
    label = str(IdentityDocument(document).label) if document in IdentityDocument.values else document
    return f"{label}（{note}）" if document == IdentityDocument.OTHER and note else label
