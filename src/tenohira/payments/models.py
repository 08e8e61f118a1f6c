"""Fees and their payment: 調定 (Assessment) → 収納 (Payment) → 消込 (reconciliation).

An Assessment is what the city asks for one application (the amount from the form's
computed fee, less any approved 減免); a Payment is one attempt to collect it through a
provider or at the counter. Every change of state is a PaymentEvent, and every webhook a
provider sends is kept by its id, so a replay changes nothing. Amounts are whole yen.
No card number, wallet id or PIN is ever stored: only the provider's reference.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class FeeItem(models.Model):
    """A revenue item (歳入科目) the finance system books fees under."""

    code = models.CharField(_("科目コード"), max_length=30, unique=True)
    name = models.CharField(_("科目名"), max_length=100)  # 住民票等交付手数料
    account = models.CharField(_("款・項・目・節"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("歳入科目")
        verbose_name_plural = _("歳入科目")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Timing(models.TextChoices):
    AT_SUBMISSION = "at_submission", _("申請時に支払う")
    AFTER_REVIEW = "after_review", _("審査の後に支払う（事後決済）")


class FeeSetting(models.Model):
    """How a procedure's fee is paid. A procedure without one takes no online payment."""

    procedure = models.OneToOneField("catalog.Procedure", on_delete=models.CASCADE, related_name="fee_setting",
                                     verbose_name=_("手続き"))
    timing = models.CharField(_("支払いの時期"), max_length=20, choices=Timing.choices)
    # The computed field of the form that holds the fee (format "yen"); empty: the form's
    # first such field. The server always recomputes it from the answers.
    fee_field = models.CharField(_("手数料の項目（キー）"), max_length=40, blank=True)
    fee_item = models.ForeignKey(FeeItem, on_delete=models.PROTECT, related_name="settings", verbose_name=_("歳入科目"))
    # Provider names allowed for this procedure (payments.registry); empty: every online one.
    providers = models.JSONField(_("使える支払い方法"), default=list, blank=True)
    expiry_days = models.PositiveIntegerField(_("支払期限（日）"), default=14)
    require_before_approval = models.BooleanField(_("支払いの後でなければ承認できない"), default=True)

    class Meta:
        verbose_name = _("手数料の支払い設定")
        verbose_name_plural = _("手数料の支払い設定")

    def __str__(self) -> str:
        return f"{self.procedure} {self.get_timing_display()}"


def new_assessment_token() -> str:
    return secrets.token_urlsafe(24)


class Assessment(models.Model):
    """調定: the amount the city asks for one application."""

    class State(models.TextChoices):
        ASSESSED = "assessed", _("調定済み")
        AWAITING = "awaiting_payment", _("支払い待ち")
        PAID = "paid", _("支払い済み")
        SETTLED = "settled", _("入金済み")
        RECONCILED = "reconciled", _("消込済み")
        EXEMPT = "exempt", _("免除")
        CANCELLED = "cancelled", _("取消し")
        EXPIRED = "expired", _("期限切れ")
        REFUNDED = "refunded", _("還付済み")
        PARTIALLY_REFUNDED = "partially_refunded", _("一部還付")

    # Unique through Meta.constraints, not unique=True: on PostgreSQL the field option adds a
    # second (LIKE) index that no query uses and every write of the row must update.
    number = models.CharField(_("調定番号"), max_length=30)
    # The resident's links (/pay/<token>/, the e-mail, the receipt PDF) name the assessment
    # by this random token: the 調定番号 and 受付番号 are sequential and easy to guess.
    token = models.CharField(max_length=43, default=new_assessment_token, editable=False)
    submission = models.ForeignKey("applications.Submission", on_delete=models.PROTECT, related_name="assessments")
    # Not indexed: no query looks assessments up by procedure or 科目 (reports join from the
    # assessment), and every index is rewritten when an assessment changes state — 100,000
    # times in one settlement import. Deleting a procedure or a 科目 (rare) scans instead.
    procedure = models.ForeignKey("catalog.Procedure", on_delete=models.PROTECT, related_name="assessments",
                                  db_index=False)
    fee_item = models.ForeignKey(FeeItem, on_delete=models.PROTECT, related_name="assessments", db_index=False)
    timing = models.CharField(_("支払いの時期"), max_length=20, choices=Timing.choices)
    amount_assessed = models.PositiveIntegerField(_("手数料（円）"))
    reduction = models.PositiveIntegerField(_("減免額（円）"), default=0)
    amount_due = models.PositiveIntegerField(_("請求額（円）"))
    currency = models.CharField(max_length=3, default="JPY")
    state = models.CharField(_("状態"), max_length=20, choices=State.choices, default=State.ASSESSED)
    requested_at = models.DateTimeField(_("支払いを依頼した日時"), null=True, blank=True)
    # Found through (state, expires_at) below: the expiry sweep asks for awaiting ones only.
    expires_at = models.DateTimeField(_("支払期限"), null=True, blank=True)
    paid_at = models.DateTimeField(_("支払日時"), null=True, blank=True)
    created_at = models.DateTimeField(_("調定日時"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("調定")
        verbose_name_plural = _("調定")
        indexes = [models.Index(fields=["state", "expires_at"], name="assessment_state_expiry_idx")]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="assessment_number_unique"),
            models.UniqueConstraint(fields=["token"], name="assessment_token_unique"),
        ]

    def __str__(self) -> str:
        return self.number


class AssessmentCounter(models.Model):
    """The last 調定番号 of a fiscal year (numbers never repeat, gaps are allowed)."""

    fiscal_year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.fiscal_year}: {self.last}"


class Payment(models.Model):
    """One attempt to collect an assessment: online through a provider, or at the counter."""

    class State(models.TextChoices):
        CREATED = "created", _("作成")
        AWAITING = "awaiting", _("支払い手続き中")
        AUTHORISED = "authorised", _("与信済み")
        CAPTURED = "captured", _("支払い済み")
        SETTLED = "settled", _("入金済み")
        RECONCILED = "reconciled", _("消込済み")
        FAILED = "failed", _("失敗")
        CANCELLED = "cancelled", _("取消し")
        EXPIRED = "expired", _("期限切れ")
        REFUNDED = "refunded", _("還付済み")
        PARTIALLY_REFUNDED = "partially_refunded", _("一部還付")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(_("支払い方法（事業者）"), max_length=30)
    method = models.CharField(_("支払い手段"), max_length=30, blank=True)  # card, paypay, konbini, cash …
    # Looked up with its provider, through the partial unique index of Meta.constraints.
    provider_ref = models.CharField(_("取引ID"), max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=64)
    amount = models.PositiveIntegerField(_("金額（円）"))
    currency = models.CharField(max_length=3, default="JPY")
    state = models.CharField(_("状態"), max_length=20, choices=State.choices, default=State.CREATED)
    # A provider's report that disagrees with the assessment (amount, currency): never
    # counted as paid, shown to staff and the accountant.
    flagged = models.BooleanField(_("要確認"), default=False)
    flag_reason = models.CharField(_("要確認の理由"), max_length=300, blank=True)
    failure_reason = models.CharField(_("失敗の理由"), max_length=300, blank=True)
    payment_number = models.CharField(_("払込番号"), max_length=40, blank=True)
    payment_extra = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(_("支払期限"), null=True, blank=True)
    # At the counter: who took it, where (cashless figures by facility).
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", db_index=False)  # never looked up by; see Assessment.procedure
    facility = models.CharField(_("施設・窓口"), max_length=100, blank=True)
    provider_fee = models.PositiveIntegerField(_("決済手数料（円）"), null=True, blank=True)
    settled_on = models.DateField(_("入金日"), null=True, blank=True)
    # Set only by payments.reconcile, to the import it is writing in the same transaction;
    # no database-level constraint for the reason PaymentEvent's keys have none.
    settlement = models.ForeignKey("SettlementImport", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="payments", db_constraint=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    captured_at = models.DateTimeField(_("支払日時"), null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("支払い")
        verbose_name_plural = _("支払い")
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_ref"], condition=~Q(provider_ref=""),
                                    name="payment_provider_ref_unique"),
            models.UniqueConstraint(fields=["idempotency_key"], name="payment_idempotency_key_unique"),
        ]
        indexes = [models.Index(fields=["state", "provider"], name="payment_state_provider_idx")]

    def __str__(self) -> str:
        return f"{self.assessment} {self.provider} {self.amount}円"


class PaymentEvent(models.Model):
    """What happened to an assessment or a payment, in order; a provider's event once."""

    # No database-level foreign keys here: the history is written only by this app's services,
    # from rows they hold locked, and removed with them by the ORM's cascade. A constraint
    # would be checked once per event at commit — 200,000 checks for a 100,000-line
    # settlement file (payments.reconcile), about a second of its import. The indexes stay.
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="events", db_constraint=False)
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, null=True, blank=True, related_name="events",
                                db_constraint=False)
    at = models.DateTimeField(_("日時"))
    kind = models.CharField(max_length=30)  # webhook, poll, return, checkout, staff, expiry, refund, reconcile …
    provider = models.CharField(max_length=30, blank=True)
    provider_event_id = models.CharField(max_length=100, blank=True)
    from_state = models.CharField(max_length=30, blank=True)
    to_state = models.CharField(max_length=30, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", db_index=False)
    actor_label = models.CharField(max_length=100, blank=True)
    detail = models.JSONField(default=dict, blank=True)  # never card numbers, wallet ids or tokens

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_event_id"], condition=~Q(provider_event_id=""),
                                    name="payment_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_state}→{self.to_state}"


class Decision(models.TextChoices):
    PENDING = "pending", _("承認待ち")
    APPROVED = "approved", _("承認")
    REJECTED = "rejected", _("却下")


class Reduction(models.Model):
    """減免: a reduction or exemption of an assessment, with a reason and a second person's
    approval (the one who asks never approves)."""

    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="reductions")
    amount = models.PositiveIntegerField(_("減額（円）"))
    exempt = models.BooleanField(_("全額免除"), default=False)
    reason = models.TextField(_("理由"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    state = models.CharField(_("状態"), max_length=20, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(_("承認者のコメント"), blank=True)

    class Meta:
        verbose_name = _("減免")
        verbose_name_plural = _("減免")

    def __str__(self) -> str:
        return f"減免 {self.amount}円"


class Refund(models.Model):
    """還付: money back from a captured payment, full or partial, after approval."""

    class State(models.TextChoices):
        PENDING = "pending", _("承認待ち")
        REJECTED = "rejected", _("却下")
        APPROVED = "approved", _("承認（返金処理中）")
        DONE = "done", _("返金済み")
        FAILED = "failed", _("返金できなかった")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.PositiveIntegerField(_("還付額（円）"))
    reason = models.TextField(_("理由"))
    idempotency_key = models.CharField(max_length=64, unique=True)
    provider_ref = models.CharField(max_length=100, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    state = models.CharField(_("状態"), max_length=20, choices=State.choices, default=State.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    failure = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("還付")
        verbose_name_plural = _("還付")

    def __str__(self) -> str:
        return f"還付 {self.amount}円"


class SettlementImport(models.Model):
    """One provider settlement file (入金明細) read for 消込, with what did not match."""

    provider = models.CharField(max_length=30)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, unique=True)  # the same file is never read twice
    imported_at = models.DateTimeField()
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    lines = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    # Lines that need a person: {"unmatched": [...], "duplicate": [...], "mismatched": [...], "late": [...]}
    report = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("入金明細の取込み")
        verbose_name_plural = _("入金明細の取込み")

    def __str__(self) -> str:
        return self.file_name
