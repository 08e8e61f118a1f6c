"""Residents' pages: /reservations/ (find, book, see, change, cancel), lotteries and
waiting lists, and the counters' congestion (/congestion/)."""

from django.urls import include, path

from tenohira.reservations import views

app_name = "reservations"

urlpatterns = [
    path("reservations/", views.index, name="index"),
    path("reservations/r/<slug:code>/", views.resource_page, name="resource"),
    path("reservations/r/<slug:code>/book/", views.book, name="book"),
    path("reservations/r/<slug:code>/<str:day>/", views.day_page, name="day"),
    path("reservations/b/<str:token>/", views.booking, name="booking"),
    path("reservations/b/<str:token>/done/", views.done, name="done"),
    path("reservations/b/<str:token>/ical/", views.ical, name="ical"),
    path("reservations/b/<str:token>/cancel/", views.cancel, name="cancel"),
    path("reservations/b/<str:token>/change/", views.change, name="change"),
    path("", include("tenohira.reservations.urls_lottery")),
    path("", include("tenohira.reservations.urls_congestion")),
]
