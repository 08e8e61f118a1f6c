"""The reservations' API under /api/v1/ (the queue-ticket machines' feed, reservations.api)."""

from django.urls import path

from tenohira.reservations import api

urlpatterns = [
    path("counters/<str:code>/queue", api.QueueView.as_view(), name="counter_queue"),
]
