"""Residents' pages of the reservations: lotteries (抽選) and waiting lists (キャンセル待ち),
included by reservations.urls. The day page of a slot that is full links to
`reservations:waitlist_join`."""

from django.urls import path

from tenohira.reservations import views_lottery as views

urlpatterns = [
    path("reservations/lottery/<int:pk>/", views.lottery, name="lottery"),
    path("reservations/lottery/<int:pk>/results/", views.results, name="lottery_results"),
    path("reservations/lottery/<int:pk>/<str:name>.csv", views.published_csv, name="lottery_csv"),
    path("reservations/lottery/e/<str:token>/", views.entry, name="lottery_entry"),
    path("reservations/lottery/e/<str:token>/withdraw/", views.entry_withdraw, name="lottery_withdraw"),
    path("reservations/waitlist/<int:slot_id>/", views.waitlist_join, name="waitlist_join"),
    path("reservations/waitlist/w/<str:token>/", views.waitlist_entry, name="waitlist_entry"),
    path("reservations/waitlist/w/<str:token>/accept/", views.waitlist_accept, name="waitlist_accept"),
    path("reservations/waitlist/w/<str:token>/withdraw/", views.waitlist_withdraw, name="waitlist_withdraw"),
]
