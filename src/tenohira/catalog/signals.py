"""Keep the search index true when something a procedure is found by changes elsewhere."""

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
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
    if action == "pre_clear" and reverse:
        # After the clear the links are gone: remember now who loses this life event.
        instance._cleared_procedure_pks = set(instance.procedures.values_list("pk", flat=True))
        return
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if reverse:  # a life event gained or lost procedures
        if action == "post_clear":
            pk_set = instance.__dict__.pop("_cleared_procedure_pks", set())
        reindex(_procedures().filter(pk__in=pk_set or ()))
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


@receiver(pre_delete, sender=LifeEvent)
def life_event_deleting(sender, instance, **kwargs):
    # Deleting cascades to the links without m2m_changed; remember who had the event.
    instance._deleted_procedure_pks = set(instance.procedures.values_list("pk", flat=True))


@receiver(post_delete, sender=LifeEvent)
def life_event_deleted(sender, instance, **kwargs):
    reindex(_procedures().filter(pk__in=instance.__dict__.pop("_deleted_procedure_pks", set())))
