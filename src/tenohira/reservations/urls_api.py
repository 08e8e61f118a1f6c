"""The reservations' API under /api/v1/ (the queue-ticket machines' feed)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
