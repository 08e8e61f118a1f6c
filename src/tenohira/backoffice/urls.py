"""Staff pages under /staff/. Every view here is wrapped in backoffice.auth.staff_required
and reads through backoffice.selectors (tests/backoffice/test_scoping.py checks both)."""

from django.urls import path  # noqa: F401  (areas add their paths below)

from tenohira.backoffice import views, views_counter, views_export

app_name = "backoffice"

urlpatterns = [
    # sign-in, queue, one application (backoffice.views)
    path("", views.queue, name="queue"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password/", views.password_change, name="password"),
    path("submissions/<str:receipt_number>/", views.detail, name="detail"),
    path("submissions/<str:receipt_number>/transition/", views.transition, name="transition"),
    path("submissions/<str:receipt_number>/correction/", views.correction, name="correction"),
    path(
        "submissions/<str:receipt_number>/attachments/<int:attachment_id>/",
        views.attachment, name="attachment",
    ),
    # 書かない窓口 (counter entry, and the resident's code/QR handoff)
    path("counter/", views_counter.home, name="counter"),
    path("counter/start/", views_counter.start, name="counter_start"),
    path("counter/handoff/", views_counter.handoff, name="counter_handoff"),
    path("counter/handoff/<str:code>/", views_counter.handoff_open, name="counter_handoff_open"),
    path("counter/receipt/<str:receipt_number>/", views_counter.receipt, name="counter_receipt"),
    path("counter/receipt/<str:receipt_number>/receipt.pdf", views_counter.receipt_pdf, name="counter_receipt_pdf"),
    path("counter/<uuid:public_id>/check/", views_counter.check, name="counter_check"),
    path("counter/<uuid:public_id>/<slug:step_key>/", views_counter.step, name="counter_step"),
    # bulk export of a filtered queue (backoffice.views_export)
    path("export/", views_export.export, name="export"),
]
