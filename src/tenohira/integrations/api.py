"""The pull API for business systems (連携API) under /api/v1/integration/.

Thin views: authenticate the client (api_auth), check the scope, call api_services, and
write one audit record per call, a refused one included. Audit records name the client and
the receipt number, never the applicant's data.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from types import SimpleNamespace

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status as http
from rest_framework.exceptions import ParseError, Throttled, ValidationError
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from tenohira.applications.attachments import open_stored
from tenohira.audit.services import record as audit
from tenohira.core.ratelimit import hit
from tenohira.integrations import api_auth, api_services
from tenohira.integrations.api_services import Forbidden, Invalid, NotFound
from tenohira.integrations.serializers import (
    AcknowledgementSerializer,
    IntegrationErrorSerializer,
    ListQuerySerializer,
    OAuthErrorSerializer,
    StatusInputSerializer,
    StatusResultSerializer,
    SubmissionDetailSerializer,
    SubmissionListSerializer,
    TokenInputSerializer,
    TokenSerializer,
)

TAG = ["integration"]
FIELD_ERRORS = OpenApiResponse(
    response={"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    description="入力の誤り（項目名ごとのメッセージ）",
)
COMMON = {
    401: OpenApiResponse(IntegrationErrorSerializer, description="APIキー・アクセストークンがない、誤り、または期限切れ"),
    403: OpenApiResponse(IntegrationErrorSerializer, description="権限（scope）または所属が違う"),
    429: OpenApiResponse(IntegrationErrorSerializer, description="呼び出しが多すぎる（Retry-After 秒後に再試行）"),
}
NOT_FOUND = {404: OpenApiResponse(IntegrationErrorSerializer, description="その受付番号の申請（または添付ファイル）がない")}


def _actor(client) -> SimpleNamespace:
    """The audit record's actor: the client, named so (it is not a staff account, so no id)."""
    return SimpleNamespace(pk=None, username=f"integration:{client.client_id}")


class HasClient(BasePermission):
    def has_permission(self, request, view):
        return request.auth is not None


class IntegrationView(APIView):
    authentication_classes = [api_auth.IntegrationAuthentication]
    permission_classes = [HasClient]
    scope = ""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        client = request.auth
        per_minute = getattr(settings, "INTEGRATION_RATE_PER_MINUTE", 600)
        if not hit(f"integration:{client.pk}", limit=per_minute, window=dt.timedelta(minutes=1)):
            raise Throttled(wait=60, detail=f"呼び出しが多すぎます（1分あたり{per_minute}回まで）。少し待ってから再試行してください。")
        if self.scope:
            try:
                api_services.require_scope(client, self.scope)
            except Forbidden as exc:
                self.refuse(request, str(exc), kwargs.get("receipt_number", ""))

    def refuse(self, request, reason: str, receipt_number: str = ""):
        from rest_framework.exceptions import PermissionDenied

        audit("integration.denied", user=_actor(request.auth), target=receipt_number,
              detail={"client": request.auth.pk, "operation": self.operation, "reason": reason}, request=request)
        raise PermissionDenied(reason)

    def record(self, request, receipt_number: str = "", **detail):
        audit(f"integration.{self.operation}", user=_actor(request.auth), target=receipt_number,
              detail={"client": request.auth.pk, **detail}, request=request)

    def call(self, request, function, *args, receipt_number: str = "", **kwargs):
        """Run a service call, turning its refusals into 403 (audited), 404 and 400."""
        from rest_framework.exceptions import NotFound as HttpNotFound

        try:
            return function(request.auth, *args, **kwargs)
        except Forbidden as exc:
            self.refuse(request, str(exc), receipt_number)
        except NotFound as exc:
            raise HttpNotFound(str(exc)) from None
        except Invalid as exc:
            raise ValidationError({"detail": [str(exc)]}) from None


@extend_schema_view(get=extend_schema(
    operation_id="integration_list_submissions", tags=TAG, summary="新しい申請の一覧（古い順）",
    parameters=[ListQuerySerializer],
    responses={200: SubmissionListSerializer, 400: FIELD_ERRORS, **COMMON},))
class SubmissionListView(IntegrationView):
    scope = "submissions:read"
    operation = "list"

    def get(self, request):
        params = ListQuerySerializer(data=request.query_params.dict())
        if not params.is_valid():
            raise ValidationError(params.errors)
        rows, next_cursor, more = self.call(
            request, api_services.list_submissions, since=params.validated_data.get("since"),
            limit=params.validated_data["limit"], unacknowledged=params.validated_data["unacknowledged"],
        )
        self.record(request, receipt_numbers=[row.receipt_number for row in rows])
        body = SubmissionListSerializer({"items": rows, "next": next_cursor, "has_more": more},
                                        context={"request": request}).data
        return Response(body)


@extend_schema_view(get=extend_schema(
    operation_id="integration_get_submission", tags=TAG, summary="申請の内容（標準データレイアウト）",
    responses={200: SubmissionDetailSerializer, **COMMON, **NOT_FOUND},))
class SubmissionDetailView(IntegrationView):
    scope = "submissions:read"
    operation = "read"

    def get(self, request, receipt_number: str):
        from tenohira.integrations.layout import document

        submission = self.call(request, api_services.get_submission, receipt_number, receipt_number=receipt_number)
        ack = submission.acknowledgements.filter(client=request.auth).first()
        attachments = list(submission.attachments.order_by("pk"))
        self.record(request, receipt_number)
        body = {
            "receipt_number": submission.receipt_number, "status": submission.status, "version": submission.version,
            "submitted_at": submission.submitted_at, "acknowledged_at": ack.at if ack else None,
            "document": document(submission),
            "attachments": attachments,
        }
        context = {"request": request, "receipt_number": receipt_number}
        response = Response(SubmissionDetailSerializer(body, context=context).data)
        response["Cache-Control"] = "private, no-store"
        return response


@extend_schema_view(get=extend_schema(
    operation_id="integration_download_attachment", tags=TAG, summary="添付ファイル",
    responses={
        (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="ファイルそのもの"),
        **COMMON, **NOT_FOUND,
    },))
class AttachmentView(IntegrationView):
    scope = "submissions:read"
    operation = "attachment"

    def get(self, request, receipt_number: str, token: str):
        from rest_framework.exceptions import NotFound as HttpNotFound

        _submission, item = self.call(request, api_services.get_attachment, receipt_number, token,
                                      receipt_number=receipt_number)
        try:
            stored = open_stored(item.stored_name)
        except FileNotFoundError:
            raise HttpNotFound("添付ファイルが保存場所にありません。管理者に連絡してください。") from None
        self.record(request, receipt_number, attachment=item.pk, sha256=item.sha256)
        response = FileResponse(stored, as_attachment=True, filename=item.original_name, content_type=item.content_type)
        response["Cache-Control"] = "private, no-store"
        return response


@extend_schema_view(post=extend_schema(
    operation_id="integration_acknowledge_submission", tags=TAG, summary="取込済の登録（何度送っても同じ）",
    request=None,
    responses={200: AcknowledgementSerializer, **COMMON, **NOT_FOUND},))
class AcknowledgeView(IntegrationView):
    scope = "submissions:ack"
    operation = "ack"

    def post(self, request, receipt_number: str):
        ack, created = self.call(request, api_services.acknowledge, receipt_number, receipt_number=receipt_number)
        self.record(request, receipt_number, first=created)
        return Response({"receipt_number": receipt_number, "acknowledged_at": ack.at, "first": created})


@extend_schema_view(post=extend_schema(
    operation_id="integration_post_status", tags=TAG, summary="申請の状態の更新と申請者へのお知らせ",
    request=StatusInputSerializer,
    responses={200: StatusResultSerializer, 400: FIELD_ERRORS, **COMMON, **NOT_FOUND},))
class StatusView(IntegrationView):
    scope = "status:write"
    operation = "status"
    parser_classes = [JSONParser]

    def post(self, request, receipt_number: str):
        data = StatusInputSerializer(data=request.data if isinstance(request.data, dict) else {})
        if not data.is_valid():
            raise ValidationError(data.errors)
        submission, previous = self.call(
            request, api_services.post_status, receipt_number, data.validated_data["status"],
            data.validated_data["message"], receipt_number=receipt_number,
        )
        self.record(request, receipt_number, to=submission.status, previous=previous,
                    message=bool(data.validated_data["message"].strip()))
        return Response({"receipt_number": receipt_number, "status": submission.status, "previous_status": previous})


@extend_schema_view(post=extend_schema(
    operation_id="integration_issue_token", tags=TAG, summary="アクセストークンの発行（OAuth2 client credentials）",
    request={"application/x-www-form-urlencoded": TokenInputSerializer, "application/json": TokenInputSerializer},
    responses={200: TokenSerializer, 400: OAuthErrorSerializer, 401: OAuthErrorSerializer, 429: IntegrationErrorSerializer},
    auth=[],))
class TokenView(APIView):
    authentication_classes = []
    permission_classes = []
    parser_classes = [FormParser, JSONParser]

    def post(self, request):
        def error(code: str, text: str, status: int = http.HTTP_400_BAD_REQUEST) -> Response:
            response = Response({"error": code, "error_description": text}, status=status)
            response["Cache-Control"] = "no-store"
            return response

        if not hit(f"integration-token:{_ip(request)}", limit=60,
                   window=dt.timedelta(minutes=1)):
            raise Throttled(wait=60, detail="トークンの要求が多すぎます。1分待ってから再試行してください。")
        try:
            data = request.data if hasattr(request.data, "get") else {}
        except ParseError:
            # An OAuth2 error body (RFC 6749 §5.2), as the document promises, not DRF's own.
            return error("invalid_request", "本文を読み取れませんでした。フォーム形式か UTF-8 の JSON で送ってください。")
        client_id, client_secret = data.get("client_id") or "", data.get("client_secret") or ""
        basic = _basic_credentials(request)
        if basic:
            client_id, client_secret = basic
        if data.get("grant_type") != "client_credentials":
            return error("unsupported_grant_type", "grant_type は client_credentials を指定してください。")
        # No client authentication at all is invalid_client too (RFC 6749 §5.2), a 401.
        if not isinstance(client_id, str) or not isinstance(client_secret, str) or not client_id or not client_secret:
            return error("invalid_client", "client_id と client_secret を送ってください（本文または Basic 認証）。",
                         http.HTTP_401_UNAUTHORIZED)
        if len(client_id) > 64 or len(client_secret) > 128:
            return error("invalid_client", "client_id または client_secret が正しくありません。", http.HTTP_401_UNAUTHORIZED)
        issued = api_auth.issue_token(client_id, client_secret)
        if issued is None:
            audit("integration.token_refused", target="", detail={"client_id": client_id[:64]}, request=request)
            return error("invalid_client", "client_id または client_secret が正しくありません。", http.HTTP_401_UNAUTHORIZED)
        client, token, row = issued
        audit("integration.token", user=_actor(client), detail={"client": client.pk}, request=request)
        response = Response({
            "access_token": token, "token_type": "Bearer",
            "expires_in": int(api_auth.token_lifetime().total_seconds()), "scope": " ".join(client.scopes),
        })
        response["Cache-Control"] = "no-store"
        return response


def _ip(request) -> str:
    from tenohira.audit.services import client_ip

    return client_ip(request)


def _basic_credentials(request) -> tuple[str, str] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = raw.partition(":")
    return (client_id, secret) if sep else None
