"""Residents' pages of the reservations: congestion (included by reservations.urls)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
