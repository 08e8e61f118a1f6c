"""Placeholder: filled in by the issue's work on this area."""

from django.urls import path  # noqa: F401

app_name = "form_files"

urlpatterns: list = []
