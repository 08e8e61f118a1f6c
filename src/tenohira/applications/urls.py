from django.urls import path

from tenohira.applications import views

app_name = "applications"

urlpatterns = [
    path("procedures/<str:code>/apply/", views.start, name="start"),
    path("apply/<uuid:public_id>/check/", views.check, name="check"),
    path("apply/<uuid:public_id>/done/", views.done, name="done"),
    path("apply/<uuid:public_id>/receipt.pdf", views.receipt_pdf, name="receipt_pdf"),
    path("apply/<uuid:public_id>/save/", views.save_for_later, name="save"),
    path("apply/<uuid:public_id>/resend/", views.resend, name="resend"),
    path("apply/<uuid:public_id>/handoff/", views.handoff, name="handoff"),
    path("apply/<uuid:public_id>/<slug:step_key>/", views.step, name="step"),
    path("resume/<str:token>/", views.resume, name="resume"),
    path("status/", views.status, name="status"),
    path("status/withdraw/", views.withdraw, name="withdraw"),
    path("corrections/<str:token>/", views.correction, name="correction"),
    path("corrections/<str:token>/done/", views.correction_done, name="correction_done"),
]
