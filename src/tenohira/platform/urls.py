from django.urls import path

from tenohira.platform import health, views
from tenohira.platform.models import SitePage

app_name = "platform"

# /contact/, /privacy/, /accessibility/, /terms/: short addresses a resident can read
# aloud or find again; each is named after its slug ({% url 'platform:privacy' %}).
urlpatterns = [
    path(f"{slug}/", views.site_page, {"slug": slug}, name=slug) for slug in SitePage.Slug.values
] + [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
