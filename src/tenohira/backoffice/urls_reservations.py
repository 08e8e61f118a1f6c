"""Staff pages of the reservations: reservations."""

from django.urls import path  # noqa: F401

app_name = "staff_reservations"

urlpatterns: list = []
