"""Sign-in, sign-out and signing (urls_signin) and the resident's マイページ (urls_mypage)."""

from tenohira.identity import urls_mypage, urls_signin

app_name = "identity"

urlpatterns = urls_signin.urlpatterns + urls_mypage.urlpatterns
