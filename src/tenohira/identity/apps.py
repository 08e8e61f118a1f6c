from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "tenohira.identity"
    label = "identity"
    verbose_name = "本人確認とマイページ"

    def ready(self):
        # Importing contrib registers each provider (identity.registry); the receivers
        # link drafts and submissions to マイページ (applications.signals).
        from tenohira.identity import contrib, receivers

        assert contrib
        receivers.connect()
