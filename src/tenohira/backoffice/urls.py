"""Staff pages under /staff/. Every view here is wrapped in backoffice.auth.staff_required
and reads through backoffice.selectors (tests/backoffice/test_scoping.py checks both)."""

from django.urls import path  # noqa: F401  (areas add their paths below)

app_name = "backoffice"

urlpatterns = [
]
