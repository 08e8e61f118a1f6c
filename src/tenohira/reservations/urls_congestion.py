"""Residents' pages of the reservations: counter congestion (included by reservations.urls)."""

from django.urls import path

from tenohira.reservations import views_congestion

urlpatterns = [
    path("congestion/", views_congestion.congestion_page, name="congestion"),
]
