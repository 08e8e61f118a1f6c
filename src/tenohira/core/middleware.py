"""Response headers every page of the site carries.

No-store keeps pages with personal data (a resident's answers, a status lookup, staff
screens) out of the browser's cache and any shared proxy cache: a shared terminal at a
library or a counter must not show the previous user's application on "back". It is set
by path prefix so that a new page under these prefixes is covered without remembering a
decorator; a view that already says no-store keeps its own header.
"""

from __future__ import annotations

from django.conf import settings

NO_STORE = "no-store"


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.prefixes = tuple(settings.NO_STORE_PATH_PREFIXES)
        self.permissions = ", ".join(f"{feature}=()" for feature in settings.PERMISSIONS_POLICY_DENY)

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(self.prefixes) and NO_STORE not in response.get("Cache-Control", ""):
            # max-age=0 etc. from never_cache is not enough: it still lets the page be stored.
            response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
            response.headers.pop("Expires", None)
        if self.permissions:
            response.headers.setdefault("Permissions-Policy", self.permissions)
        return response
