"""Staff pages of the reservations: counters."""

from django.urls import path  # noqa: F401

app_name = "staff_counters"

urlpatterns: list = []
