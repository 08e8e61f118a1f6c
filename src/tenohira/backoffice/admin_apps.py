"""django.contrib.admin's app, with backoffice.admin_site.StaffAdminSite as admin.site.

Kept apart from apps.py (one AppConfig per module, so Django finds the back office's own
config by itself) and light: settings name it, so it is imported before the app registry."""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "tenohira.backoffice.admin_site.StaffAdminSite"
