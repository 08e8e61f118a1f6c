from django.apps import AppConfig


class ApplicationsConfig(AppConfig):
    name = "tenohira.applications"
    label = "applications"
    verbose_name = "オンライン申請"
