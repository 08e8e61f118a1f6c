from django.urls import path

from tenohira.identity import views

urlpatterns: list = [
    path("identity/sign-in/", views.sign_in, name="sign_in"),
    path("identity/sign-in/<slug:provider>/start/", views.start, name="start"),
    path("identity/callback/<slug:provider>/", views.callback, name="callback"),
    path("identity/sign-out/", views.sign_out, name="sign_out"),
    path("identity/email/", views.email, name="email"),
    path("identity/email/code/", views.email_code, name="email_code"),
    path("identity/email/link/<str:token>/", views.email_link, name="email_link"),
    path("identity/sign/callback/", views.sign_callback, name="sign_callback"),
    # Under the draft's own path: the browser sends the draft's owner cookie (scoped to
    # /apply/<id>/) only there. Step keys have no hyphen, so no step can be called this.
    path("apply/<uuid:public_id>/card-signature/", views.sign, name="sign"),
]
