from django.apps import AppConfig
from django.core.checks import Tags, Warning, register


class AuditConfig(AppConfig):
    name = "tenohira.audit"
    label = "audit"
    verbose_name = "監査ログ"

    def ready(self):
        register(check_audit_key, Tags.security, deploy=True)
        from tenohira.audit import signals

        signals.connect()


def check_audit_key(app_configs, **kwargs):
    from django.conf import settings

    from tenohira.audit import keys

    if getattr(settings, "DEMO", False) or not keys.uses_default_key():
        return []
    return [Warning(
        "The audit key is generated into the data directory, next to the data it protects.",
        hint="Set AUDIT_KEY or AUDIT_KEY_FILE (a file readable only by the application) in production.",
        id="audit.W001",
    )]
