"""Reads of the catalog. The catalog is public information, so none of these need the
acting user; staff-side selectors elsewhere do."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from tenohira.catalog import search as search_engine
from tenohira.catalog.models import (
    CHANNEL_EASE,
    Channel,
    Department,
    LifeEvent,
    LifeEventFirstStep,
    Procedure,
    ProcedureChannel,
    Section,
)
from tenohira.core.text import split_terms
from tenohira.forms import windows
from tenohira.forms.models import FormVersion

# ---------------------------------------------------------------------------------------
# Online status. A procedure counts as online on this platform only while a published
# form exists and its application window is open; a procedure with a named external
# online service counts as online there. Badges, the 「オンラインで申請できる」 filter and
# every online KPI use these definitions, so what residents read and what headquarters
# is told cannot drift apart.


def _published_form(at: dt.datetime | None = None, *, until: dt.datetime | None = None) -> Exists:
    """A published form of the outer procedure, accepting at `at` (or, with `until`,
    published by then and with a window reaching past `at`: open at some moment of
    [at, until])."""
    forms = FormVersion.objects.filter(
        definition__procedure=OuterRef("pk"), status=FormVersion.Status.PUBLISHED
    )
    if at is not None:
        last = until or at
        forms = forms.filter(
            Q(definition__opens_at__isnull=True) | Q(definition__opens_at__lte=last),
            Q(definition__closes_at__isnull=True) | Q(definition__closes_at__gt=at),
        )
        if until is not None:
            forms = forms.filter(published_at__lte=until)
    return Exists(forms)


def _channel(kind: str) -> Exists:
    return Exists(ProcedureChannel.objects.filter(procedure=OuterRef("pk"), kind=kind))


def with_online_status(queryset: QuerySet[Procedure], at: dt.datetime | None = None) -> QuerySet[Procedure]:
    """Annotates online_here (a published form, open now), online_external (a named
    external online service) and by_post, which the result badges read."""
    return queryset.annotate(
        online_here=_published_form(at or timezone.now()),
        online_external=_channel(Channel.EXTERNAL),
        by_post=_channel(Channel.POST),
    )


def online_procedure_ids(at: dt.datetime | None = None) -> set[int]:
    """Procedures a resident can apply for online at `at` (now by default)."""
    at = at or timezone.now()
    online = Q(_published_form(at)) | Q(_channel(Channel.EXTERNAL))
    return set(Procedure.objects.filter(online).values_list("pk", flat=True))


def online_procedure_ids_during(start: dt.date, end: dt.date) -> set[int]:
    """Procedures that were online at some moment of the days start..end (JST): a form
    published by the end whose window overlapped the period, or an external online
    service; in both cases not before a recorded オンライン化日."""
    zone = timezone.get_default_timezone()
    first = dt.datetime.combine(start, dt.time.min, tzinfo=zone)
    last = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    online = Q(_published_form(first, until=last)) | Q(_channel(Channel.EXTERNAL))
    not_before = Q(online_since__isnull=True) | Q(online_since__lte=end)
    return set(Procedure.objects.filter(online, not_before).values_list("pk", flat=True))


def online_without_form() -> QuerySet[Procedure]:
    """Procedures the catalog says are applied for here online, with no published form:
    work for the DX division, never shown to residents as online."""
    return (
        Procedure.objects.filter(_channel(Channel.PLATFORM))
        .exclude(_published_form())
        .select_related("section__department")
        .order_by("-annual_applications", "name")
    )


def published_procedures() -> QuerySet[Procedure]:
    return with_online_status(
        Procedure.objects.filter(is_published=True).select_related("section__department").prefetch_related("channels")
    )


def online_procedures() -> QuerySet[Procedure]:
    """Published procedures a resident can apply for online now, the most used first."""
    return published_procedures().filter(pk__in=online_procedure_ids()).order_by("-annual_applications", "name", "pk")


def search_procedures(query: str, *, department_id: int | None = None, online_only: bool = False):
    """Ranked published procedures for a resident's query (a sequence that loads one page
    at a time), and the analysed terms. `online_only` keeps those a resident can apply
    for online now."""
    results, terms = search_engine.search(published_procedures(), query, department_id=department_id)
    if online_only:
        online = online_procedure_ids()
        results = search_engine.RankedProcedures([pk for pk in results.pks if pk in online], results.queryset)
    return results, terms


def departments_with_counts() -> QuerySet[Department]:
    """Departments with published procedures, in the municipality's order (表示順, set in
    the admin). The order is explicit: an aggregate query does not get Meta.ordering on
    every database."""
    published = Q(sections__procedures__is_published=True)
    return (
        Department.objects.annotate(procedure_count=Count("sections__procedures", filter=published))
        .filter(procedure_count__gt=0)
        .order_by("order", "id")
    )


def sections_of(department: Department) -> QuerySet[Section]:
    return (
        department.sections.annotate(
            procedure_count=Count("procedures", filter=Q(procedures__is_published=True))
        )
        .filter(procedure_count__gt=0)
        .order_by("order", "id")
        .prefetch_related(
            Prefetch(
                "procedures",
                queryset=Procedure.objects.filter(is_published=True).order_by("-annual_applications", "name", "pk"),
                to_attr="published",
            )
        )
    )


def procedures_of_section(section: Section) -> QuerySet[Procedure]:
    return published_procedures().filter(section=section).order_by("-annual_applications", "name", "pk")


def life_events_with_counts() -> QuerySet[LifeEvent]:
    """Life events in the order the DX division set in the admin."""
    return LifeEvent.objects.annotate(
        procedure_count=Count("procedures", filter=Q(procedures__is_published=True))
    ).order_by("order", "id")


def procedures_of_life_event(event: LifeEvent) -> QuerySet[Procedure]:
    """The event's procedures in the municipality's order of departments and sections,
    without those already listed as the first steps."""
    first = LifeEventFirstStep.objects.filter(life_event=event).values("procedure_id")
    return (
        published_procedures().filter(life_events=event).exclude(pk__in=first)
        .order_by("section__department__order", "section__department_id", "-annual_applications", "name", "pk")
    )


def first_steps_of_life_event(event: LifeEvent) -> list[Procedure]:
    """まず必要な手続き, in the order the DX division set (published procedures only)."""
    steps = LifeEventFirstStep.objects.filter(life_event=event, procedure__is_published=True).order_by("order", "id")
    notes = {step.procedure_id: step.note for step in steps}
    ordered = list(notes)
    procedures = published_procedures().in_bulk(ordered)
    result = []
    for pk in ordered:
        if pk in procedures:
            procedures[pk].first_step_note = notes[pk]
            result.append(procedures[pk])
    return result


def get_published_procedure(code: str) -> Procedure:
    return published_procedures().select_related("form").prefetch_related("life_events", "channels").get(code=code)


def related_procedures(procedure: Procedure, limit: int = 5) -> QuerySet[Procedure]:
    """Other procedures residents in the same situation usually need."""
    return (
        published_procedures()
        .filter(life_events__in=procedure.life_events.all())
        .exclude(pk=procedure.pk)
        .distinct()
        .order_by("-annual_applications", "pk")[:limit]
    )


@dataclass
class Way:
    """One way to apply, as the procedure page shows it."""

    kind: str
    usable: bool = True
    url: str = ""
    service_name: str = ""
    place: str = ""
    hours: str = ""
    bring: list[str] = field(default_factory=list)
    note: str = ""
    phone: str = ""
    # For the form on this platform: "open", "before" or "closed", and the sentence the
    # start page says of its window (和暦, the last day of an exclusive end).
    window: str = ""
    window_notice: str = ""
    # A counter the catalog did not name: the section that handles the procedure.
    at_section: bool = False


def _office_hours() -> str:
    from django.conf import settings

    return f"平日 {settings.OFFICE_OPENS}〜{settings.OFFICE_CLOSES}（土日祝日・年末年始を除く）"


def ways_to_apply(procedure: Procedure, at: dt.datetime | None = None) -> list[Way]:
    """Every way to apply for the procedure, the easiest first: online here (only with a
    published form; outside its window it is shown as not accepting), named external
    online services, by post, at counters. A procedure the catalog names no usable way
    for is applied for at its section's counter, so the page always says where to go."""
    at = at or timezone.now()
    channels = sorted(procedure.channels.all(), key=lambda c: (CHANNEL_EASE[c.kind], c.order, c.pk))
    section = procedure.section
    ways: list[Way] = []
    definition = getattr(procedure, "form", None)
    if definition is not None and definition.published_version() is not None:
        window = definition.window_state(at)
        ways.append(Way(
            Channel.PLATFORM, usable=window == "open", url=procedure.apply_url, window=window,
            window_notice=windows.notice(definition, at),
        ))
    for channel in channels:
        if channel.kind == Channel.EXTERNAL:
            ways.append(Way(
                Channel.EXTERNAL, url=channel.url, note=channel.note,
                service_name=channel.service_name or external_service_name(channel.url),
            ))
        elif channel.kind == Channel.POST:
            ways.append(Way(Channel.POST, place=channel.place, note=channel.note, bring=procedure.requirement_list))
        elif channel.kind == Channel.COUNTER:
            ways.append(Way(
                Channel.COUNTER, place=channel.place or _section_place(section),
                hours=channel.hours or section.hours or _office_hours(), note=channel.note,
                bring=split_terms(channel.bring) if channel.bring else procedure.requirement_list,
                phone=section.phone,
            ))
    if not any(way.usable for way in ways):
        ways.append(Way(
            Channel.COUNTER, place=_section_place(section), hours=section.hours or _office_hours(),
            bring=procedure.requirement_list, phone=section.phone, at_section=True,
        ))
    return ways


def _section_place(section: Section) -> str:
    return section.place or f"{section.department.name} {section.name}"


# Names residents know, for an external service row that gives only its address.
KNOWN_SERVICES = {
    "app.oss.myna.go.jp": "マイナポータル ぴったりサービス",
    "myna.go.jp": "マイナポータル",
    "s-kantan.jp": "かんたん電子申請",
    "shinsei.e-gov.go.jp": "e-Gov 電子申請",
    "eltax.lta.go.jp": "eLTAX（地方税ポータルシステム）",
    "logoform.jp": "LoGoフォーム",
}


def external_service_name(url: str) -> str:
    """The service an address belongs to, for the link text (「〇〇で申請する（外部サイト）」)."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    for known, name in KNOWN_SERVICES.items():
        if host == known or host.endswith("." + known):
            return name
    return host or "外部の申請サービス"


def signature_when(procedure: Procedure) -> str:
    """When the procedure's online form needs the resident's 電子署名 with the My Number
    card: "" (never), "always", or the form's own words for when (「郵送で受け取る場合」).
    The same rule the application pages enforce (applications.assurance): the form's
    `signature` option decides for a card procedure; without it, card_signature always."""
    from tenohira.catalog.models import Identity

    if procedure.identity not in {Identity.CARD_SIGNIN, Identity.CARD_SIGNATURE}:
        return ""
    definition = getattr(procedure, "form", None)
    version = definition.published_version() if definition is not None else None
    option = version.parsed().signature if version is not None else None
    if option is None:
        return "always" if procedure.identity == Identity.CARD_SIGNATURE else ""
    return option.note or "場合により"
