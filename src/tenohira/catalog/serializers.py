from rest_framework import serializers

from tenohira.catalog.models import Procedure


class ProcedureSerializer(serializers.ModelSerializer):
    department = serializers.CharField(source="section.department.name", help_text="部局")
    section = serializers.CharField(source="section.name", help_text="所属")
    channel = serializers.ChoiceField(
        choices=["platform", "external", "counter"],
        help_text="platform = このサービスで申請 / external = 外部サービス / counter = 窓口のみ",
    )
    channel_label = serializers.CharField(source="get_channel_display")
    url = serializers.SerializerMethodField(help_text="手続き案内ページの URL")

    class Meta:
        model = Procedure
        fields = [
            "id", "code", "name", "reading", "department", "section", "channel", "channel_label",
            "external_url", "annual_applications", "url",
        ]

    def get_url(self, procedure) -> str:
        request = self.context.get("request")
        path = procedure.get_absolute_url()
        return request.build_absolute_uri(path) if request else path


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=100, required=False, allow_blank=True,
        error_messages={"max_length": "検索語は100文字以内にしてください。"},
        help_text="検索語。ひらがな・カタカナ・漢字・全角/半角のどれでも。空白で区切ると全てを含むものを探します。",
    )
    department = serializers.IntegerField(required=False, min_value=1, help_text="部局 ID で絞り込み")
