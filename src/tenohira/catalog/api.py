"""REST API of the catalog under /api/v1/."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination

from tenohira.catalog import selectors
from tenohira.catalog.serializers import ProcedureSerializer, SearchQuerySerializer


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ProcedurePagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        # A size that is not a whole number in 1..100 is an error the caller should see,
        # not something quietly replaced.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or len(raw) > 3 or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [
                f"1ページの件数は1から{self.max_page_size}までの整数で指定してください。"
            ]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1  # below 1: 404
                parameter["description"] = "ページ番号（1から）"
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
                parameter["description"] = f"1ページの件数（既定 {self.page_size}）"
        return parameters


@extend_schema(
    summary="手続きの検索・一覧",
    # From the serializer that validates them, so the limits (length, minimum) are documented.
    parameters=[SearchQuerySerializer],
    responses={
        200: ProcedureSerializer(many=True),
        400: OpenApiResponse(
            response={"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            description="パラメーターの誤り（項目名ごとのメッセージ）",
        ),
        404: OpenApiResponse(response=ErrorSerializer, description="存在しないページ番号"),
    },
)
class ProcedureListView(ListAPIView):
    serializer_class = ProcedureSerializer
    pagination_class = ProcedurePagination

    def get_queryset(self):
        # A plain dict, not the QueryDict: DRF reads a QueryDict as an HTML form, where an
        # empty value means "not given"; the API says what it takes, so "department=" is
        # an error like any other value that is not a number.
        data = self.request.query_params.dict()
        if "q" in data and len(data["q"]) <= SearchQuerySerializer().fields["q"].max_length:
            # Control characters (NUL above all) cannot be part of a search word; they are
            # dropped, as the form pages drop them, rather than refused. (A query over the
            # length limit is refused as it came.)
            data["q"] = "".join(c for c in data["q"] if c.isprintable() or c in " \u3000")
        params = SearchQuerySerializer(data=data)
        if not params.is_valid():
            raise ValidationError(params.errors)
        query = params.validated_data.get("q", "").strip()
        department = params.validated_data.get("department")
        online = params.validated_data.get("online", False)
        if query:
            results, _terms = selectors.search_procedures(query, department_id=department, online_only=online)
            return results
        queryset = selectors.online_procedures() if online else selectors.published_procedures()
        if department:
            queryset = queryset.filter(section__department_id=department)
        return queryset.order_by("-annual_applications", "name", "pk")
