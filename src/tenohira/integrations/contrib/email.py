"""E-mail to a section's shared mailbox: that an application arrived, with as little
personal data as will do (receipt number, procedure, a link to the staff page) — no
answers, no name. The message goes through the e-mail outbox (core.outbox), written in
the same transaction that marks nothing else: the outbox row's reference names the
delivery, so a delivery sent twice (a worker killed in between) writes one message."""

from __future__ import annotations

from django.core.validators import validate_email
from django.db import transaction
from django.forms import ValidationError
from django.urls import reverse

from tenohira.core import outbox
from tenohira.core.models import OutboxMessage
from tenohira.core.site import staff_url
from tenohira.integrations.registry import DeliveryKind, Outcome, register

EVENT_WORDS = {"submitted": "新しい申請が届きました", "resubmitted": "申請が再提出されました",
               "status": "申請の状態が変わりました"}


@register.register
class Email(DeliveryKind):
    name = "email"
    label = "メール通知（担当課の共有アドレス）"

    def validate(self, config: dict) -> list[str]:
        to = (config or {}).get("to", "")
        try:
            validate_email(to)
        except ValidationError:
            return ["to（担当課の共有メールアドレス）を正しく入力してください。"]
        return []

    def send(self, delivery, document: dict) -> Outcome:
        problems = self.validate(delivery.target.config)
        if problems:
            return Outcome(False, reason=problems[0] + " 管理画面で連携先を直してから再送してください。")
        reference = f"delivery:{delivery.delivery_id}"
        receipt = document["receipt_number"]
        what = EVENT_WORDS.get(delivery.event, EVENT_WORDS["submitted"])
        link = staff_url(reverse("backoffice:detail", args=[receipt]))
        body = (
            f"{what}。\n\n受付番号: {receipt}\n手続き: {document['procedure']['name']}\n"
            f"状態: {document['status']}\n\n内容は職員用ページで確認してください（ログインが必要です）。\n{link}\n"
        )
        with transaction.atomic():
            if not OutboxMessage.objects.filter(reference=reference).exists():
                outbox.enqueue(kind="integration", to=delivery.target.config["to"],
                               subject=f"【てのひら】{what}（{receipt}）", body=body, reference=reference)
        return Outcome(True)
