from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "tenohira.platform"
    # The label only names tables, permissions and migrations (platform_sitepage); it is
    # never imported, so it does not compete with the standard library's `platform`.
    label = "platform"
    verbose_name = "サイト共通"
