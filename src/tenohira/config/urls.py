from django.contrib import admin
from django.urls import include, path
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView

from tenohira.applications.views import postal_code_api
from tenohira.catalog.api import ProcedureListView
from tenohira.integrations import api as integration_api

admin.site.site_header = "てのひら 管理画面"
admin.site.site_title = "てのひら 管理"
admin.site.index_title = "DX推進の管理"

api_v1 = [
    path("procedures", ProcedureListView.as_view(), name="procedures"),
    path("postal-codes/<str:code>", postal_code_api, name="postal_code"),
    # The pull API for business systems (連携API).
    path("integration/token", integration_api.TokenView.as_view(), name="integration_token"),
    path("integration/submissions", integration_api.SubmissionListView.as_view(), name="integration_submissions"),
    path("integration/submissions/<str:receipt_number>", integration_api.SubmissionDetailView.as_view(),
         name="integration_submission"),
    path("integration/submissions/<str:receipt_number>/attachments/<str:token>",
         integration_api.AttachmentView.as_view(), name="integration_attachment"),
    path("integration/submissions/<str:receipt_number>/ack", integration_api.AcknowledgeView.as_view(),
         name="integration_ack"),
    path("integration/submissions/<str:receipt_number>/status", integration_api.StatusView.as_view(),
         name="integration_status"),
    # Queue-ticket machines post the waiting count of their counters (reservations).
    path("", include("tenohira.reservations.urls_api")),
    path("schema/", SpectacularAPIView.as_view(
        api_version="v1", renderer_classes=[OpenApiJsonRenderer, OpenApiYamlRenderer]
    ), name="schema"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("staff/audit/", include("tenohira.audit.urls")),
    # Where each form's visitors give up (the DX division's step statistics).
    path("staff/insights/form-steps/", include("tenohira.insights.urls_steps")),
    path("staff/insights/", include("tenohira.insights.urls")),
    # The form builder, form files (export/import, templates), surveys and tallies.
    path("staff/forms/files/", include("tenohira.backoffice.urls_form_files")),
    path("staff/forms/", include("tenohira.backoffice.urls_forms")),
    path("staff/surveys/", include("tenohira.backoffice.urls_surveys")),
    path("staff/tallies/", include("tenohira.insights.urls_tallies")),
    path("staff/integrations/", include("tenohira.integrations.urls")),
    # Fees: 減免, 還付, counter payments, reconciliation and the accountant's reports.
    path("staff/payments/", include("tenohira.backoffice.urls_payments")),
    path("staff/accounting/", include("tenohira.backoffice.urls_accounting")),
    # Reservations: lotteries, counters' congestion, and the bookings per resource.
    path("staff/reservations/lottery/", include("tenohira.backoffice.urls_lottery")),
    path("staff/reservations/counters/", include("tenohira.backoffice.urls_counters")),
    path("staff/reservations/", include("tenohira.backoffice.urls_reservations")),
    path("staff/", include("tenohira.backoffice.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("", include("tenohira.identity.urls")),
    # Paying a fee (/pay/…) and the providers' webhooks.
    path("", include("tenohira.payments.urls")),
    # Booking facilities, check-ups and counter visits (/reservations/), counter congestion.
    path("", include("tenohira.reservations.urls")),
    path("", include("tenohira.applications.urls")),
    path("", include("tenohira.catalog.urls")),
    path("", include("tenohira.platform.urls")),
]
