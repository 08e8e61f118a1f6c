"""/staff/accounting/: the 会計管理者's pages (消込, 収納データ, 日計表)."""

from django.urls import path

from tenohira.backoffice import views_accounting

app_name = "accounting"

urlpatterns = [
    path("", views_accounting.index, name="index"),
    path("imports/<int:import_id>/", views_accounting.import_detail, name="import_detail"),
    path("receipts/", views_accounting.receipts, name="receipts"),
    path("daily/", views_accounting.daily_report, name="daily"),
]
