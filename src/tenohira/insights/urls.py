"""DX dashboards under /staff/insights/ (DX管理者: every department; 部局長: their own)."""

from django.urls import path

from tenohira.insights import views

app_name = "insights"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("departments/<int:department_id>/", views.department, name="department"),
    path("download/<str:fmt>/", views.download, name="download"),
]
