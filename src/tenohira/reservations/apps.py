from django.apps import AppConfig


class ReservationsConfig(AppConfig):
    name = "tenohira.reservations"
    label = "reservations"
    verbose_name = "予約"

    def ready(self):
        # The background sweeps (reminders, lapsed offers and holds, unpaid bookings) and
        # what reservations add to other apps' pages (registered, never imported by them).
        from tenohira.reservations import receivers, tasks

        assert tasks
        receivers.connect()
