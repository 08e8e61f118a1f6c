"""REST API of the catalog under /api/v1/."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination

from tenohira.catalog import selectors
from tenohira.catalog.serializers import ProcedureSerializer, SearchQuerySerializer


class ProcedurePagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


@extend_schema(
    summary="手続きの検索・一覧",
    parameters=[
        OpenApiParameter("q", str, description="検索語（空なら全件を申請件数の多い順）"),
        OpenApiParameter("department", int, description="部局 ID"),
        OpenApiParameter("online", bool, description="true: 今オンラインで申請できる手続きだけ"),
    ],
)
class ProcedureListView(ListAPIView):
    serializer_class = ProcedureSerializer
    pagination_class = ProcedurePagination

    def get_queryset(self):
        params = SearchQuerySerializer(data=self.request.query_params)
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
