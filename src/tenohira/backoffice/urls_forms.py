"""フォーム作成 (the form builder) under /staff/forms/ (backoffice.views_forms)."""

from django.urls import path

from tenohira.backoffice import views_forms

app_name = "forms"

urlpatterns = [
    path("", views_forms.index, name="index"),
    path("<str:code>/", views_forms.editor, name="editor"),
    path("<str:code>/fields/<str:path>/", views_forms.field, name="field"),
    path("<str:code>/steps/<str:key>/", views_forms.step, name="step"),
    path("<str:code>/publish/", views_forms.publish, name="publish"),
    path("<str:code>/preview/", views_forms.preview, name="preview"),
    path("<str:code>/preview-reset/", views_forms.preview_reset, name="preview_reset"),
    path("<str:code>/preview-check/", views_forms.preview_check, name="preview_check"),
    path("<str:code>/preview/<str:step_key>/", views_forms.preview_step, name="preview_step"),
]
