"""Residents' pages: /reservations/ (find, book, see, change, cancel), lotteries and
waiting lists, and the counters' congestion (/congestion/)."""

from django.urls import include, path

from tenohira.reservations import views

app_name = "reservations"

urlpatterns = [
    path("reservations/", views.index, name="index"),
    path("reservations/b/<str:token>/", views.booking, name="booking"),
    path("", include("tenohira.reservations.urls_lottery")),
    path("", include("tenohira.reservations.urls_congestion")),
]
