"""Keep what depends on the closure days true when one is added, moved or removed."""

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from tenohira.core import calendar
from tenohira.core.models import ClosureDay
from tenohira.insights import aggregates


@receiver(pre_save, sender=ClosureDay)
def remember_old_date(sender, instance, **kwargs):
    instance._previous_date = (
        ClosureDay.objects.filter(pk=instance.pk).values_list("date", flat=True).first() if instance.pk else None
    )


@receiver(post_save, sender=ClosureDay)
@receiver(post_delete, sender=ClosureDay)
def closure_day_changed(sender, instance, **kwargs):
    """Applications already counted on that day (and on the day it moved from) change
    office-hours flag: recount those days (a one-day rebuild reads one day's facts)."""
    calendar.forget_closure_days()
    days = {instance.date, getattr(instance, "_previous_date", None)} - {None}
    for day in sorted(days):
        aggregates.rebuild(day, day)
