from rest_framework import serializers

from tenohira.catalog.models import CHANNEL_EASE, Channel, Procedure


class ProcedureSerializer(serializers.ModelSerializer):
    department = serializers.CharField(source="section.department.name", help_text="部局")
    section = serializers.CharField(source="section.name", help_text="所属")
    channel = serializers.SerializerMethodField(
        help_text="今いちばんかんたんな申請方法: platform = このサービスでオンライン申請（公開中のフォームがあり受付期間内）"
        " / external = 外部のオンラインサービス / post = 郵送 / counter = 窓口"
    )
    channel_label = serializers.SerializerMethodField()
    online = serializers.SerializerMethodField(help_text="今オンライン（このサービスまたは外部サービス）で申請できるか")
    external_url = serializers.SerializerMethodField(help_text="外部サービスの申請先 URL（最初のもの）")
    channels = serializers.SerializerMethodField(help_text="カタログに登録された申請方法（かんたんな順）")
    url = serializers.SerializerMethodField(help_text="手続き案内ページの URL")

    class Meta:
        model = Procedure
        fields = [
            "id", "code", "name", "reading", "department", "section", "channel", "channel_label", "online",
            "external_url", "channels", "annual_applications", "url",
        ]

    def get_channel(self, procedure) -> str:
        if getattr(procedure, "online_here", False):
            return Channel.PLATFORM
        if getattr(procedure, "online_external", False):
            return Channel.EXTERNAL
        if getattr(procedure, "by_post", False):
            return Channel.POST
        return Channel.COUNTER

    def get_channel_label(self, procedure) -> str:
        return str(Channel(self.get_channel(procedure)).label)

    def get_online(self, procedure) -> bool:
        return bool(getattr(procedure, "online_here", False) or getattr(procedure, "online_external", False))

    def get_external_url(self, procedure) -> str:
        return next((c.url for c in procedure.channels.all() if c.kind == Channel.EXTERNAL), "")

    def get_channels(self, procedure) -> list[dict]:
        return [
            {"kind": c.kind, "label": str(c.get_kind_display()), "service_name": c.service_name, "url": c.url,
             "place": c.place, "hours": c.hours}
            for c in sorted(procedure.channels.all(), key=lambda c: (CHANNEL_EASE[c.kind], c.order, c.pk))
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
    # Bounded so the database is never asked for an id it cannot hold (SQLite overflows
    # past 64 bits; PostgreSQL ids are 32- or 64-bit).
    department = serializers.IntegerField(
        required=False, min_value=1, max_value=2_147_483_647, help_text="部局 ID で絞り込み",
        error_messages={"max_value": "部局 ID が大きすぎます。", "min_value": "部局 ID は1以上です。",
                        "invalid": "部局 ID は整数で指定してください。"},
    )
    online = serializers.BooleanField(
        required=False, default=False,
        help_text="true: 今オンライン（このサービスの受付期間内のフォーム、または外部のオンラインサービス）で申請できる手続きだけ",
    )
