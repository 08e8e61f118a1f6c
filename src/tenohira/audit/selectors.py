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
    # 手数料 (payments)
    "fee_view": "手数料の閲覧",
    "fee_assess": "手数料の調定",
    "fee_approvals_view": "減免・還付の承認待ちの閲覧",
    "fee_counter_payment": "窓口での収納",
    "fee_reduction_request": "減免の申請",
    "fee_reduction_approve": "減免の決定",
    "fee_refund_request": "還付の申請",
    "fee_refund_approve": "還付の決定",
    "fee_refund_done": "還付の完了",
    "fee_refund_failed": "還付の失敗",
    "receipts_export": "収納データの出力",
    "receipts_export_refused": "収納データの出力（中止）",
    "settlement_import": "入金明細の取込み",
    "settlement_import_refused": "入金明細の取込み（拒否）",
    "settlement_import_view": "入金明細の取込み結果の閲覧",
    "daily_report": "日計表の出力",
    "payments.request": "支払いの依頼",
    "payments.webhook_refused": "決済通知の拒否",
    # 保存期間 (retention)
    "retention.purge": "保存期間を過ぎた申請の削除",
    "retention.legal_hold": "削除の保留（訴訟・審査請求など）",
    "retention.legal_hold_released": "削除の保留の解除",
    "retention.reservations_purge": "保存期間を過ぎた予約の個人情報の削除",
    # フォーム・アンケート (forms, surveys)
    "forms.export": "フォームの書き出し",
    "forms.publish": "フォームの公開",
    "forms.survey_create": "アンケートの作成",
    "forms.window": "受付期間の変更",
    "survey.import_responses": "紙の回答の取込み",
    # 住民の本人確認 (identity)
    "identity.email_code_sent": "確認コードの送信",
    "identity.sign_in": "住民のログイン",
    "identity.sign_out": "住民のログアウト",
    "identity.signed": "電子署名の検証",
    # 業務システム連携・三層間の移送 (integrations)
    "integration.denied": "連携APIの拒否",
    "integration.token": "連携APIのトークン発行",
    "integration.token_refused": "連携APIのトークン発行の拒否",
    "integration_client_create": "連携先の登録",
    "integration_client_change": "連携先の変更",
    "integration_client_deactivate": "連携先の停止",
    "integration_client_rotate": "連携先の鍵の更新",
    "transfer.export": "移送ファイルの作成",
    "transfer.export_status": "状態の移送ファイルの作成",
    "transfer.import": "移送ファイルの取込み",
    "transfer.import_status": "状態の移送ファイルの取込み",
    "transfer.refused": "移送ファイルの拒否",
    # 予約 (reservations)
    "reservation_view": "予約の閲覧",
    "reservation_export": "予約の出力",
    "reservation_action": "予約の操作（来所・取消し・休止・代理予約など）",
    "reservations.booking.view": "予約の閲覧",
    "reservations.booking.confirm": "仮予約の確定",
    "reservations.booking.reject": "仮予約のお断り",
    "reservations.provisional.view": "仮予約の一覧の閲覧",
    "reservations.fees.view": "使用料の一覧の閲覧",
    "reservations.fee.paid": "使用料の収納",
    "reservations.fee.reduction_request": "使用料の減免の申請",
    "reservations.fee.reduction_approve": "使用料の減免の承認",
    "reservations.fee.reduction_refuse": "使用料の減免の却下",
    "reservations.lottery.create": "抽選の作成",
    "reservations.lottery.close": "抽選の受付終了",
    "reservations.lottery.draw": "抽選の実施",
    "reservations.lottery.entries_view": "抽選の申込みの閲覧",
    "reservations.queue_reading": "窓口の待ち人数の記録",
    "reservations.queue_denied": "窓口の待ち人数の記録の拒否",
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
