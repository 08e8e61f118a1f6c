"""Staff pages of the reservations: lottery."""

from django.urls import path  # noqa: F401

app_name = "staff_lottery"

urlpatterns: list = []
