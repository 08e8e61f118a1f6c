from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils import timezone

from tenohira.audit.models import AuditRecord
from tenohira.backoffice.selectors import is_auditor

# What the records mean, in the words of the people who read them.
ACTIONS = {
    "login": "ログイン",
    "login_failed": "ログイン失敗",
    "logout": "ログアウト",
    "password_change": "パスワードの変更",
    "submission_view": "申請の閲覧",
    "attachment_download": "添付ファイルのダウンロード",
    "export": "一括ダウンロード",
    "status_change": "状態の変更",
    "correction_request": "差戻し",
    "counter_start": "窓口での入力開始",
    "counter_submit": "窓口での受付",
    "receipt_view": "受付票の表示",
    "receipt_print": "受付票の印刷",
    "handoff_open": "窓口での引き継ぎ",
    "role_grant_request": "役割の付与（承認待ち）",
    "role_grant_approve": "役割の付与の承認",
    "role_grant_refuse": "役割の付与の却下",
    "role_revoke": "役割の削除",
    "otp_device_create": "認証アプリの登録",
    "otp_device_change": "認証アプリの変更",
    "otp_device_delete": "認証アプリの削除",
    "otp_qrcode_view": "認証アプリのQRコードの表示",
    "admin_add": "管理画面での追加",
    "admin_change": "管理画面での変更",
    "admin_delete": "管理画面での削除",
    "integration_resend": "業務システムへの連携の再送",
    "integration_key_view": "連携の署名鍵の表示",
}


def search(user, *, actor="", action="", target="", date_from=None, date_to=None) -> QuerySet[AuditRecord]:
    if not is_auditor(user):
        raise PermissionDenied("監査の役割が必要です。")
    records = AuditRecord.objects.all()
    if actor:
        records = records.filter(actor__icontains=actor)
    if action:
        records = records.filter(action=action)
    if target:
        records = records.filter(target__icontains=target.upper())
    if date_from:
        records = records.filter(at__gte=timezone.make_aware(dt.datetime.combine(date_from, dt.time.min)))
    if date_to:
        records = records.filter(at__lt=timezone.make_aware(dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min)))
    return records.order_by("-id")
