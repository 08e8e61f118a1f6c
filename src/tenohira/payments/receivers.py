"""Reactions to the resident side (applications.signals) and what the payments add to
the resident's pages (applications.extensions): the fee on the check page, the state of
the payment on the done page, the status page and マイページ."""

from __future__ import annotations

from django.urls import reverse

from tenohira.applications import extensions, signals
from tenohira.payments.models import Assessment, Payment, Timing

A = Assessment.State


def assess_on_submission(sender, submission, **kwargs) -> None:
    # Inside the submission's transaction: the 調定 commits with the application or not at all.
    from tenohira.payments.services import assess_submission

    assess_submission(submission)


def method_labels(providers) -> str:
    labels = [p.label or p.name for p in providers]
    return f"（{'・'.join(labels)}）" if labels else ""


def check_notice(draft, run) -> list[str]:
    """「手数料 600円は、送信の後に…」, from the draft's answers as they are now."""
    from tenohira.payments import services

    definition = draft.form_version.definition
    if definition.kind == "survey":
        return []
    setting = services.fee_setting_of(definition.procedure_id)
    if setting is None:
        return []
    fld = services.fee_field_of(run.schema, setting)
    amount = services.whole_yen(run.answers.get(fld.key, 0)) if fld is not None else 0
    if amount <= 0:
        return []
    methods = method_labels(services.allowed_providers(None, setting))
    if setting.timing == Timing.AT_SUBMISSION:
        return [f"手数料 {amount:,}円は、送信の後にこの画面からお支払いいただきます{methods}。"]
    return [f"手数料 {amount:,}円は、審査の後にお支払いのご案内をお送りします{methods}。"]


def payment_panel(submission, *, audience: str) -> list[extensions.Panel]:
    from tenohira.payments import selectors
    from tenohira.payments.services import jp_datetime

    assessment = selectors.current_assessment(submission)
    if assessment is None:
        return []
    amount = f"手数料 {assessment.amount_due:,}円（{assessment.fee_item.name}）"
    pay_url = reverse("payments:pay", args=[assessment.token])
    panel = extensions.Panel(title="手数料のお支払い", lines=[amount])
    state = assessment.state
    if state == A.ASSESSED:
        panel.lines.append("審査の後に、お支払いのご案内をメールでお送りします。")
    elif state == A.AWAITING:
        last = selectors.last_payment(assessment)
        panel.tone = "warning"
        if last is not None and last.flagged:
            panel.lines.append("お支払いの内容を担当課で確認しています。確認が終わるまでお待ちください。")
            return [panel]
        if last is not None and last.state == Payment.State.FAILED:
            panel.lines.append("お支払いが完了しませんでした。" + (last.failure_reason or ""))
            panel.action_label = "もう一度支払う"
        elif last is not None and last.state in {Payment.State.AWAITING, Payment.State.AUTHORISED}:
            panel.lines.append("お支払いの手続き中です。済んでいない場合は、お支払いへ進んでください。")
            panel.action_label = "お支払いへ進む"
        else:
            panel.lines.append("まだお支払いいただいていません。")
            panel.action_label = "お支払いへ進む"
        if assessment.expires_at:
            panel.lines.append(f"お支払いの期限: {jp_datetime(assessment.expires_at)}")
        panel.action_url = pay_url
    elif state in {A.PAID, A.SETTLED, A.RECONCILED}:
        panel.tone = "success"
        panel.lines.append(f"お支払いが済みました（{jp_datetime(assessment.paid_at)}）。" if assessment.paid_at
                           else "お支払いが済みました。")
        panel.action_url = reverse("payments:receipt", args=[assessment.token])
        panel.action_label = "領収書（PDF）"
    elif state == A.EXEMPT:
        panel.tone = "success"
        panel.lines = ["手数料は免除されました。お支払いは不要です。"]
    elif state == A.EXPIRED:
        panel.tone = "warning"
        when = f"（{jp_datetime(assessment.expires_at)}）" if assessment.expires_at else ""
        panel.lines.append(f"お支払いの期限{when}が過ぎたため、お支払いの手続きを終了しました。"
                           "続ける場合は担当課へご連絡ください。")
    elif state == A.CANCELLED:
        panel.lines.append("手数料の請求は取り消されました。")
    elif state in {A.REFUNDED, A.PARTIALLY_REFUNDED}:
        panel.lines.append(f"手数料は{assessment.get_state_display()}です。")
    return [panel]


def connect() -> None:
    signals.submitted.connect(assess_on_submission, dispatch_uid="payments.assess_on_submission")
    extensions.add_check_notice(check_notice)
    extensions.add_submission_panel(payment_panel)
