"""The queue-ticket machines' feed (発券機): `POST /api/v1/counters/<code>/queue`.

A machine sends `Authorization: Bearer <key>` (made by `tenohira reservations
ticket-machine add`) and a small JSON object: {"waiting": 12, "wait_minutes": 30,
"at": "2025-06-11T10:00:00+09:00"} (wait_minutes and at optional). The body is bounded
(MAX_BODY bytes), numbers must be plain integers within congestion.MAX_WAITING /
MAX_WAIT_MINUTES, unknown fields are refused (a typo must not pass silently), and a
machine may only post for the counters it was registered for (else 403, audited). Each
stored reading writes an audit record naming the machine.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import authentication, exceptions, serializers
from rest_framework import status as http
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from tenohira.audit.services import record as audit
from tenohira.core.ratelimit import hit
from tenohira.reservations import congestion
from tenohira.reservations.models import Counter, QueueReading

#: A reading is a few dozen bytes; anything much bigger is not a ticket machine talking.
MAX_BODY = 1024


class TicketMachineAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <ticket machine key>`; request.auth is the TicketMachine."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header:
            raise exceptions.NotAuthenticated("Authorization ヘッダーに「Bearer <発券機のキー>」を付けて送ってください。")
        if header[0].decode("latin-1").lower() != "bearer" or len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization ヘッダーは「Bearer <発券機のキー>」の形で送ってください。")
        try:
            presented = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("発券機のキーが正しくありません。") from None
        machine = congestion.machine_for_key(presented)
        if machine is None:
            raise exceptions.AuthenticationFailed("発券機のキーが正しくありません。管理者に確認してください。")
        return (None, machine)

    def authenticate_header(self, request):
        # 401 (not 403) for a missing or wrong key, as RFC 6750 asks.
        return 'Bearer realm="tenohira-ticket-machine"'


class TicketMachineAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenohira.reservations.api.TicketMachineAuthentication"
    name = "ticketMachineBearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "発券機のキー（tnhq_…）。`tenohira reservations ticket-machine add` で一度だけ表示されます。"}


class HasMachine(BasePermission):
    def has_permission(self, request, view):
        return request.auth is not None


class StrictInteger(serializers.IntegerField):
    """A JSON integer and nothing else: not 3.0, "3", true or 1e400."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueueInputSerializer(serializers.Serializer):
    waiting = StrictInteger(
        min_value=0, max_value=congestion.MAX_WAITING, help_text="いま待っている人数",
        error_messages={"invalid": "waiting は整数で送ってください。",
                        "required": "waiting（待っている人数）を送ってください。",
                        "null": "waiting（待っている人数）を送ってください。",
                        "min_value": "waiting は 0 以上にしてください。",
                        "max_value": f"waiting は {congestion.MAX_WAITING} 以下にしてください。"},
    )
    wait_minutes = StrictInteger(
        min_value=0, max_value=congestion.MAX_WAIT_MINUTES, required=False, allow_null=True,
        help_text="待ち時間の目安（分）。省略すると 待ち人数 × 窓口の1人あたりの目安 で計算します。",
        error_messages={"invalid": "wait_minutes は整数（分）で送ってください。",
                        "min_value": "wait_minutes は 0 以上にしてください。",
                        "max_value": f"wait_minutes は {congestion.MAX_WAIT_MINUTES} 以下にしてください。"},
    )
    at = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="発券機の時刻（ISO 8601。時差がなければ日本時間）。省略すると受け取った時刻。",
        error_messages={"invalid": "at は ISO 8601 の日時（例: 2025-06-11T10:00:00+09:00）で送ってください。"},
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["この項目は受け付けていません（waiting, wait_minutes, at のみ）。"]
                                               for name in unknown[:5]})
        return attrs


class QueueResultSerializer(serializers.Serializer):
    counter = serializers.CharField(help_text="窓口コード")
    waiting = serializers.IntegerField()
    wait_minutes = serializers.IntegerField(help_text="表示する待ち時間の目安（分）")
    estimated = serializers.BooleanField(help_text="wait_minutes を待ち人数から計算したとき true")
    recorded_at = serializers.DateTimeField()


class QueueErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


FIELD_ERRORS = OpenApiResponse(
    response={"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    description="本文の誤り（項目名ごとのメッセージ）",
)


def _actor(machine) -> SimpleNamespace:
    """The audit record's actor: the machine (not a staff account, so no id)."""
    return SimpleNamespace(pk=None, username=f"ticket-machine:{machine.pk}")


class QueueView(APIView):
    authentication_classes = [TicketMachineAuthentication]
    permission_classes = [HasMachine]
    parser_classes = [JSONParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # The key first (a stranger learns nothing but 401), then a huge body is refused
        # before anything reads it (DRF parses lazily, on request.data).
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            raise PayloadTooLarge()
        per_minute = int(getattr(settings, "TICKET_MACHINE_RATE_PER_MINUTE", 120))
        if not hit(f"ticket-machine:{request.auth.pk}", limit=per_minute, window=dt.timedelta(minutes=1)):
            raise exceptions.Throttled(wait=60, detail=f"送信が多すぎます（1分あたり{per_minute}回まで）。")

    @extend_schema(
        operation_id="counters_post_queue", tags=["counters"], summary="窓口の待ち人数を送る（発券機）",
        description="発券機が、いま待っている人数（と待ち時間の目安）を送ります。窓口の混雑状況のページ（/congestion/）に"
                    f"表示され、{congestion.current_for().seconds // 60}分より古いものは「現在」として表示されません。本文は"
                    f" {MAX_BODY} バイトまで。",
        request=QueueInputSerializer,
        examples=[OpenApiExample("待ち人数だけ", value={"waiting": 12}, request_only=True),
                  OpenApiExample("待ち時間と時刻も", value={"waiting": 12, "wait_minutes": 35,
                                                       "at": "2025-06-11T10:00:00+09:00"}, request_only=True)],
        responses={
            201: QueueResultSerializer,
            400: FIELD_ERRORS,
            401: OpenApiResponse(QueueErrorSerializer, description="発券機のキーがない、または誤り"),
            403: OpenApiResponse(QueueErrorSerializer, description="この発券機はその窓口のデータを送れない"),
            413: OpenApiResponse(QueueErrorSerializer, description="本文が大きすぎる"),
            429: OpenApiResponse(QueueErrorSerializer, description="送信が多すぎる（Retry-After 秒後に再試行）"),
        },
    )
    def post(self, request, code: str):
        machine = request.auth
        counter = Counter.objects.filter(code=code[:50], active=True).first()
        if counter is None or not machine.counters.filter(pk=counter.pk).exists():
            # The same answer for a counter that does not exist: a key proves nothing about others.
            audit("reservations.queue_denied", user=_actor(machine), target=code[:50],
                  detail={"machine": machine.pk, "reason": "counter"}, request=request)
            raise exceptions.PermissionDenied("この発券機は、この窓口の待ち人数を送れません。登録した窓口コードを確かめてください。")
        data = request.data
        if not isinstance(data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["本文は JSON のオブジェクト（{\"waiting\": 12} など）で送ってください。"]})
        form = QueueInputSerializer(data=data)
        if not form.is_valid():
            raise exceptions.ValidationError(form.errors)
        values = form.validated_data
        try:
            reading = congestion.record_reading(
                counter, waiting=values["waiting"], wait_minutes=values.get("wait_minutes"),
                source=QueueReading.Source.MACHINE, machine=machine, at=values.get("at"),
            )
        except congestion.Invalid as exc:
            raise exceptions.ValidationError({"at": [str(exc)]}) from None
        audit("reservations.queue_reading", user=_actor(machine), target=counter.code,
              detail={"machine": machine.pk, "reading": reading.pk, "waiting": reading.waiting,
                      "wait_minutes": reading.wait_minutes}, request=request)
        body = {"counter": counter.code, "waiting": reading.waiting,
                "wait_minutes": congestion.estimated_minutes(counter, reading),
                "estimated": reading.wait_minutes is None, "recorded_at": reading.recorded_at}
        return Response(QueueResultSerializer(body).data, status=http.HTTP_201_CREATED)


class PayloadTooLarge(exceptions.APIException):
    status_code = http.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"本文が大きすぎます（{MAX_BODY} バイトまで）。"
    default_code = "payload_too_large"
