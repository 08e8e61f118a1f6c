"""Input checks and response shapes of the pull API (連携API). The response serializers
exist so that the OpenAPI document says exactly what a business system receives."""

from django.urls import reverse
from rest_framework import serializers

from tenohira.integrations.api_services import MAX_LIMIT, POSTABLE_STATUSES


class ListQuerySerializer(serializers.Serializer):
    since = serializers.CharField(
        required=False, max_length=64, help_text="前回の応答の next（省略すると最初から）",
        error_messages={"max_length": "since が長すぎます。前回の応答の next をそのまま送ってください。"},
    )
    limit = serializers.IntegerField(
        required=False, default=50, min_value=1, max_value=MAX_LIMIT, help_text=f"件数（1〜{MAX_LIMIT}、既定 50）",
        error_messages={"invalid": "limit は整数で指定してください。",
                        "min_value": "limit は1以上です。", "max_value": f"limit は{MAX_LIMIT}以下です。"},
    )
    unacknowledged = serializers.BooleanField(
        required=False, default=False, help_text="true: このシステムがまだ取込済にしていない申請だけ",
        error_messages={"invalid": "unacknowledged は true か false です。"},
    )


class StatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[str(s) for s in POSTABLE_STATUSES],
        help_text="新しい状態: under_review（審査中）/ approved（承認）/ rejected（却下）/ completed（完了）",
        error_messages={"invalid_choice": "status は under_review, approved, rejected, completed のいずれかです。",
                        "required": "status を指定してください。"},
    )
    message = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000,
        help_text="申請者へのお知らせ（状況確認ページとメールに載ります。却下のときは必須）",
        error_messages={"max_length": "message は2000文字以内にしてください。"},
    )


class TokenInputSerializer(serializers.Serializer):
    grant_type = serializers.ChoiceField(choices=["client_credentials"])
    client_id = serializers.CharField(required=False, min_length=1, max_length=64, help_text="Basic 認証で送る場合は省略")
    client_secret = serializers.CharField(required=False, min_length=1, max_length=128,
                                          help_text="Basic 認証で送る場合は省略")


class TokenSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField(help_text="Bearer")
    expires_in = serializers.IntegerField(help_text="有効期間（秒）")
    scope = serializers.CharField(help_text="空白区切りの権限")


class OAuthErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    error_description = serializers.CharField()


class IntegrationErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ProcedureRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class SubmissionSummarySerializer(serializers.Serializer):
    receipt_number = serializers.CharField(help_text="受付番号")
    procedure = ProcedureRefSerializer(help_text="手続き")
    section = serializers.CharField(source="section.name", help_text="担当の所属")
    status = serializers.CharField(help_text="状態")
    version = serializers.IntegerField(help_text="版（再提出で増える）")
    submitted_at = serializers.DateTimeField(help_text="申請日時")
    acknowledged = serializers.BooleanField(help_text="このシステムが取込済にしたか")
    url = serializers.SerializerMethodField(help_text="この申請の内容の URL")

    def get_url(self, submission) -> str:
        path = reverse("api:integration_submission", args=[submission.receipt_number])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class SubmissionListSerializer(serializers.Serializer):
    items = SubmissionSummarySerializer(many=True)
    next = serializers.CharField(help_text="次に since として送る値")
    has_more = serializers.BooleanField(help_text="true: すぐに次を取得してください")


class AttachmentRefSerializer(serializers.Serializer):
    token = serializers.CharField()
    field = serializers.CharField(source="field_path")
    name = serializers.CharField(source="original_name")
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    url = serializers.SerializerMethodField()

    def get_url(self, attachment) -> str:
        path = reverse("api:integration_attachment", args=[self.context["receipt_number"], attachment.token])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class SubmissionDetailSerializer(serializers.Serializer):
    receipt_number = serializers.CharField()
    status = serializers.CharField()
    version = serializers.IntegerField()
    submitted_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    document = serializers.DictField(help_text="標準データレイアウト（integrations.layout）による申請の内容")
    attachments = AttachmentRefSerializer(many=True)


class AcknowledgementSerializer(serializers.Serializer):
    receipt_number = serializers.CharField()
    acknowledged_at = serializers.DateTimeField()
    first = serializers.BooleanField(help_text="true: 今回はじめて取込済になった（false: 以前に登録済み）")


class StatusResultSerializer(serializers.Serializer):
    receipt_number = serializers.CharField()
    status = serializers.CharField()
    previous_status = serializers.CharField()
