"""Placeholder: filled in by the payments work (staff pages)."""

from django.urls import path  # noqa: F401

app_name = "staff_payments"

urlpatterns: list = []
