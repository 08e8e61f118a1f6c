"""/staff/reservations/: the resources of the user's sections, a day and a week of their
slots and bookings, and the actions and exports (backoffice.views_reservations).

A resource is named by its code and a booking by its number; each is looked up through
backoffice.selectors_reservations with the acting user (another section's answers 404),
and a slot only under the resource read that way."""

from django.urls import path

from tenohira.backoffice import views_reservations as views

app_name = "staff_reservations"

urlpatterns = [
    path("", views.index, name="index"),
    path("r/<str:resource_code>/", views.day, name="day"),
    path("r/<str:resource_code>/week/", views.week, name="week"),
    path("r/<str:resource_code>/export/", views.export, name="export"),
    path("r/<str:resource_code>/generate/", views.generate, name="generate"),
    path("r/<str:resource_code>/book/", views.book, name="book"),
    path("r/<str:resource_code>/slots/<int:slot_id>/", views.slot, name="slot"),
    path("r/<str:resource_code>/slots/<int:slot_id>/block/", views.block, name="block"),
    path("r/<str:resource_code>/slots/<int:slot_id>/unblock/", views.unblock, name="unblock"),
    path("b/<str:booking_number>/", views.booking, name="booking"),
    path("b/<str:booking_number>/check-in/", views.check_in, name="check_in"),
    path("b/<str:booking_number>/no-show/", views.no_show, name="no_show"),
    path("b/<str:booking_number>/cancel/", views.cancel, name="cancel"),
]
