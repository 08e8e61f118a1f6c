"""Keep the search index true when something a procedure is found by changes elsewhere."""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from tenohira.catalog.models import Department, LifeEvent, Procedure, Section, SynonymGroup
from tenohira.catalog.search import forget_synonyms, reindex


@receiver([post_save, post_delete], sender=SynonymGroup)
def synonyms_changed(**kwargs):
    forget_synonyms()


def _procedures():
    return Procedure.objects.select_related("section__department").prefetch_related("life_events")


@receiver(m2m_changed, sender=Procedure.life_events.through)
def life_events_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if reverse:  # a life event gained or lost procedures
        reindex(_procedures().filter(pk__in=pk_set) if pk_set else _procedures().filter(life_events=instance))
    else:
        reindex(_procedures().filter(pk=instance.pk))


@receiver(post_save, sender=Section)
def section_saved(sender, instance, created, **kwargs):
    if not created:
        reindex(_procedures().filter(section=instance))


@receiver(post_save, sender=Department)
def department_saved(sender, instance, created, **kwargs):
    if not created:
        reindex(_procedures().filter(section__department=instance))


@receiver(post_save, sender=LifeEvent)
def life_event_saved(sender, instance, created, **kwargs):
    if not created:
        reindex(_procedures().filter(life_events=instance))
