from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "tenohira.payments"
    label = "payments"
    verbose_name = "手数料の支払い"

    def ready(self):
        # Importing contrib registers each provider (payments.registry); the receivers
        # assess a fee when an application is sent and add the payment panels to the
        # resident's pages (applications.signals, applications.extensions).
        from tenohira.payments import contrib, receivers

        assert contrib
        receivers.connect()
