"""Residents' pages: /reservations/ (find, book, see, change, cancel) and /congestion/."""

from django.urls import path

from tenohira.reservations import views

app_name = "reservations"

urlpatterns = [
    path("reservations/", views.index, name="index"),
    path("reservations/b/<str:token>/", views.booking, name="booking"),
]
