from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "tenohira.catalog"
    label = "catalog"
    verbose_name = "手続カタログ（総合案内）"

    def ready(self):
        from tenohira.catalog import signals  # noqa: F401
