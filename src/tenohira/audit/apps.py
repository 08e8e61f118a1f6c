from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "tenohira.audit"
    label = "audit"
    verbose_name = "監査ログ"
