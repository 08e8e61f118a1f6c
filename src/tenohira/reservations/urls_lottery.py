"""Residents' pages of the reservations: lottery (included by reservations.urls)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
