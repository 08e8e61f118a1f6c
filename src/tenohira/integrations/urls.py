from django.urls import path

from tenohira.integrations import views

app_name = "integrations"

urlpatterns = [
    path("", views.deliveries, name="deliveries"),
    path("<uuid:delivery_id>/resend/", views.resend, name="resend"),
]
