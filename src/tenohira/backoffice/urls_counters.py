"""Staff pages of the reservations: the counters' waiting count entered by hand
(backoffice.views_counters)."""

from django.urls import path

from tenohira.backoffice import views_counters

app_name = "staff_counters"

urlpatterns = [
    path("", views_counters.counters, name="list"),
    path("<slug:code>/", views_counters.record, name="record"),
]
