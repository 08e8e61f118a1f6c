"""/staff/insights/form-steps/: step statistics per form (where residents give up)."""

from django.urls import path

from tenohira.insights import views_steps

app_name = "steps"

urlpatterns = [
    path("", views_steps.index, name="index"),
    path("<str:procedure_code>/", views_steps.detail, name="detail"),
]
