"""Response tallies (申込集計表) under /staff/tallies/: the forms a staff member may tally,
one form's tally page, and its downloads (views_tallies)."""

from django.urls import path

from tenohira.insights import views_tallies

app_name = "tallies"

urlpatterns = [
    path("", views_tallies.index, name="index"),
    path("<str:procedure_code>/", views_tallies.tally, name="tally"),
    path("<str:procedure_code>/download/<str:fmt>/", views_tallies.download, name="download"),
]
