"""/staff/reservations/lottery/: lotteries, provisional bookings and fees of the resources of
the user's sections (backoffice.views_lottery)."""

from django.urls import path

from tenohira.backoffice import views_lottery as views

app_name = "staff_lottery"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("<int:lottery_id>/", views.detail, name="detail"),
    path("<int:lottery_id>/close/", views.close, name="close"),
    path("<int:lottery_id>/draw/", views.draw, name="draw"),
    path("provisional/", views.provisional, name="provisional"),
    path("provisional/<str:booking_number>/confirm/", views.confirm, name="confirm"),
    path("provisional/<str:booking_number>/reject/", views.reject, name="reject"),
    path("fees/", views.fees, name="fees"),
    path("fees/<str:booking_number>/paid/", views.paid, name="paid"),
    path("fees/<str:booking_number>/reduction/", views.reduction, name="reduction"),
    path("fees/reduction/<int:reduction_id>/decide/", views.decide, name="decide"),
]
