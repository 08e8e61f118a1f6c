"""フォーム作成 (the form builder) under /staff/forms/ (backoffice.views_forms)."""

from django.urls import path

from tenohira.backoffice import views_forms

app_name = "forms"

urlpatterns = [
    path("", views_forms.index, name="index"),
    path("<str:procedure_code>/", views_forms.editor, name="editor"),
    path("<str:procedure_code>/fields/<str:field_key>/", views_forms.field, name="field"),
    path("<str:procedure_code>/steps/<str:step_key>/", views_forms.step, name="step"),
    path("<str:procedure_code>/publish/", views_forms.publish, name="publish"),
    path("<str:procedure_code>/preview/", views_forms.preview, name="preview"),
    path("<str:procedure_code>/preview-reset/", views_forms.preview_reset, name="preview_reset"),
    path("<str:procedure_code>/preview-check/", views_forms.preview_check, name="preview_check"),
    path("<str:procedure_code>/preview/<str:step_key>/", views_forms.preview_step, name="preview_step"),
]
