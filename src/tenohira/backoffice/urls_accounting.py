"""Placeholder: filled in by the payments work (the accountant's pages: 消込, 収納データ, 日計表)."""

from django.urls import path  # noqa: F401

app_name = "accounting"

urlpatterns: list = []
