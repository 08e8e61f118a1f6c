from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "tenohira.insights"
    label = "insights"
    verbose_name = "DX の見える化（5レス）"

    def ready(self):
        from tenohira.insights import signals  # noqa: F401  (closure days → calendar cache, recount)
