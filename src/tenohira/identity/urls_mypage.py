"""マイページ (identity.views_mypage): only for a signed-in resident, scoped to their account."""

from django.urls import path

from tenohira.identity import views_mypage as views

urlpatterns: list = [
    path("mypage/", views.home, name="mypage"),
    path("mypage/add/", views.link, name="mypage_link"),
    path("mypage/add/code/", views.link_code, name="mypage_link_code"),
    path("mypage/drafts/<uuid:public_id>/continue/", views.continue_draft, name="mypage_continue"),
    path("mypage/applications/<str:receipt_number>/", views.application, name="mypage_application"),
    path("mypage/applications/<str:receipt_number>/receipt.pdf", views.receipt_pdf, name="mypage_receipt_pdf"),
    path("mypage/applications/<str:receipt_number>/withdraw/", views.withdraw, name="mypage_withdraw"),
    path("mypage/applications/<str:receipt_number>/correction/", views.correction, name="mypage_correction"),
]
