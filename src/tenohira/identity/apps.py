from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "tenohira.identity"
    label = "identity"
    verbose_name = "本人確認とマイページ"

    def ready(self):
        # Each provider module registers itself on import (identity.registry).
        from tenohira.identity import contrib  # noqa: F401
        from tenohira.identity import receivers

        receivers.connect()  # マイページ links (applications.signals)
