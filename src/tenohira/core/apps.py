from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "tenohira.core"
    label = "core"
    verbose_name = "共通"
