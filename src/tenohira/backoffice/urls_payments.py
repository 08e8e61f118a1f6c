"""/staff/payments/: fees of the applications of the user's sections (backoffice.views_payments).

Objects other than the application itself (an assessment, a payment, a 減免, a 還付) are
named in the query string or the form, and looked up under the application the scoped
selector returned, never on their own."""

from django.urls import path

from tenohira.backoffice import views_payments

app_name = "staff_payments"

urlpatterns = [
    path("", views_payments.approvals, name="approvals"),
    path("<str:receipt_number>/assess/", views_payments.assess, name="assess"),
    path("<str:receipt_number>/request/", views_payments.request_payment, name="request"),
    path("<str:receipt_number>/counter/", views_payments.counter, name="counter"),
    path("<str:receipt_number>/reduction/", views_payments.reduction, name="reduction"),
    path("<str:receipt_number>/reduction/decide/", views_payments.reduction_decide, name="reduction_decide"),
    path("<str:receipt_number>/refund/", views_payments.refund, name="refund"),
    path("<str:receipt_number>/refund/decide/", views_payments.refund_decide, name="refund_decide"),
    path("<str:receipt_number>/refund/retry/", views_payments.refund_retry, name="refund_retry"),
]
