"""Residents and businesses known to the site, and which applications are theirs.

An account is created at the first sign-in through a provider and is keyed by that
provider's pairwise subject (the same person has one subject per service, so accounts at
two municipalities cannot be joined). Nothing here holds a My Number or a PIN.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Account(models.Model):
    class Kind(models.TextChoices):
        INDIVIDUAL = "individual", _("個人")
        BUSINESS = "business", _("法人・個人事業主")

    provider = models.CharField(_("認証の方法"), max_length=50)
    subject = models.CharField(_("利用者識別子"), max_length=255)
    kind = models.CharField(_("種別"), max_length=20, choices=Kind.choices, default=Kind.INDIVIDUAL)
    display_name = models.CharField(_("表示名"), max_length=200, blank=True)
    # An address proven by a one-time code (e-mail sign-in, or linking earlier applications).
    email = models.EmailField(_("確認済みメールアドレス"), blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_signed_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("利用者")
        verbose_name_plural = _("利用者")
        constraints = [models.UniqueConstraint(fields=["provider", "subject"], name="account_provider_subject")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.pk}"


class AccountApplication(models.Model):
    """An application (draft or submission) shown in an account's マイページ."""

    class How(models.TextChoices):
        SIGNED_IN = "signed_in", _("ログインして申請")
        EMAIL_PROOF = "email_proof", _("メールアドレスの確認で追加")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="applications")
    draft = models.OneToOneField("applications.Draft", on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="account_link")
    submission = models.OneToOneField("applications.Submission", on_delete=models.CASCADE, null=True, blank=True,
                                      related_name="account_link")
    how = models.CharField(max_length=20, choices=How.choices, default=How.SIGNED_IN)
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("マイページの申請")
        verbose_name_plural = _("マイページの申請")
        indexes = [models.Index(fields=["account", "-linked_at"], name="account_app_recent_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} → {self.submission_id or self.draft_id}"


class EmailChallenge(models.Model):
    """A one-time code (and link) sent to prove an e-mail address. Only hashes are kept."""

    class Purpose(models.TextChoices):
        SIGN_IN = "sign_in", _("メールアドレスでログイン")
        LINK = "link", _("以前の申請をマイページに追加")

    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    email = models.EmailField()
    code_hash = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.purpose} {self.created_at:%Y-%m-%d %H:%M}"


class UsedNonce(models.Model):
    """An ID token's nonce once accepted: the same token shown again is refused (replay),
    across every worker. Rows past expires_at are deleted by the purge."""

    provider = models.CharField(max_length=50)
    nonce_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "nonce_hash"], name="used_nonce_unique")]

    def __str__(self) -> str:
        return self.nonce_hash[:12]
