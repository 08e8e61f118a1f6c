from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "tenohira.backoffice"
    label = "backoffice"
    verbose_name = "職員の業務"
