"""/staff/surveys/: the surveys of the user's sections and the import of paper answers."""

from django.urls import path

from tenohira.backoffice import views_surveys

app_name = "surveys"

urlpatterns = [
    path("", views_surveys.index, name="index"),
    path("<str:procedure_code>/", views_surveys.detail, name="detail"),
    path("<str:procedure_code>/template.<str:fmt>", views_surveys.template, name="template"),
]
