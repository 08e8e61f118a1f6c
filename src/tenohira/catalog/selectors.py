"""Reads of the catalog. The catalog is public information, so none of these need the
acting user; staff-side selectors elsewhere do."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from tenohira.catalog import search as search_engine
from tenohira.catalog.models import Department, LifeEvent, Procedure, Section


def published_procedures() -> QuerySet[Procedure]:
    return Procedure.objects.filter(is_published=True).select_related("section__department")


def search_procedures(query: str, *, department_id: int | None = None):
    """Ranked published procedures for a resident's query (a sequence that loads one page
    at a time), and the analysed terms."""
    return search_engine.search(published_procedures(), query, department_id=department_id)


def departments_with_counts() -> QuerySet[Department]:
    published = Q(sections__procedures__is_published=True)
    return Department.objects.annotate(procedure_count=Count("sections__procedures", filter=published)).filter(
        procedure_count__gt=0
    )


def sections_of(department: Department) -> QuerySet[Section]:
    return (
        department.sections.annotate(
            procedure_count=Count("procedures", filter=Q(procedures__is_published=True))
        )
        .filter(procedure_count__gt=0)
        .prefetch_related(
            Prefetch(
                "procedures",
                queryset=Procedure.objects.filter(is_published=True).order_by("-annual_applications", "name"),
                to_attr="published",
            )
        )
    )


def procedures_of_section(section: Section) -> QuerySet[Procedure]:
    return published_procedures().filter(section=section).order_by("-annual_applications", "name")


def life_events_with_counts() -> QuerySet[LifeEvent]:
    return LifeEvent.objects.annotate(
        procedure_count=Count("procedures", filter=Q(procedures__is_published=True))
    )


def procedures_of_life_event(event: LifeEvent) -> QuerySet[Procedure]:
    return published_procedures().filter(life_events=event).order_by(
        "section__department__order", "-annual_applications", "name"
    )


def get_published_procedure(code: str) -> Procedure:
    return published_procedures().prefetch_related("life_events").get(code=code)


def related_procedures(procedure: Procedure, limit: int = 5) -> QuerySet[Procedure]:
    """Other procedures residents in the same situation usually need."""
    return (
        published_procedures()
        .filter(life_events__in=procedure.life_events.all())
        .exclude(pk=procedure.pk)
        .distinct()
        .order_by("-annual_applications")[:limit]
    )
