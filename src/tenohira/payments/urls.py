"""The resident's payment pages and the providers' webhooks (mounted at the site's root)."""

from django.urls import path

from tenohira.payments import views

app_name = "payments"

urlpatterns = [
    path("pay/return/<uuid:public_id>/", views.payment_return, name="return"),
    path("pay/<str:token>/", views.pay, name="pay"),
    path("pay/<str:token>/receipt.pdf", views.receipt, name="receipt"),
    path("api/v1/payments/webhooks/<slug:provider>", views.webhook, name="webhook"),
]
