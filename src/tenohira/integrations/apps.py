from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "tenohira.integrations"
    label = "integrations"
    verbose_name = "業務システム連携"

    def ready(self):
        # Importing contrib registers each delivery kind (integrations.registry).
        from tenohira.integrations import contrib, receivers

        assert contrib
        receivers.connect()
