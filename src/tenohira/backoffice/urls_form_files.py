"""Form files and templates under /staff/forms/files/ (backoffice.views_form_files)."""

from django.urls import path

from tenohira.backoffice import views_form_files

app_name = "form_files"

urlpatterns = [
    path("", views_form_files.index, name="index"),
    path("templates/<slug:template>/", views_form_files.template, name="template"),
]
