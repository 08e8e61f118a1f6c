"""Placeholder: filled in by the payments work (resident pages under /pay/, webhooks)."""

from django.urls import path  # noqa: F401

app_name = "payments"

urlpatterns: list = []
