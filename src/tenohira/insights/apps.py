from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "tenohira.insights"
    label = "insights"
    verbose_name = "DX の見える化（5レス）"
