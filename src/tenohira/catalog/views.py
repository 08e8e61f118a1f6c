"""Resident pages of the catalog: phone-first, server-rendered, no JavaScript needed."""

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from tenohira.catalog import extensions, selectors
from tenohira.catalog.models import Department, LifeEvent, Procedure, Section

RESULTS_PER_PAGE = 20
MAX_QUERY_LENGTH = 100


def home(request):
    return render(
        request,
        "catalog/home.html",
        {
            "life_events": selectors.life_events_with_counts(),
            "departments": selectors.departments_with_counts(),
            "online_count": selectors.online_procedures().count(),
        },
    )


def search(request):
    query = request.GET.get("q", "").strip()
    too_long = len(query) > MAX_QUERY_LENGTH
    query = query[:MAX_QUERY_LENGTH]
    online_only = request.GET.get("online") == "1"
    page = None
    if query:
        results, _terms = selectors.search_procedures(query, online_only=online_only)
        page = Paginator(results, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
    elif online_only:
        page = Paginator(selectors.online_procedures(), RESULTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"query": query, "page": page, "too_long": too_long, "online_only": online_only}
    if page is None or not page.paginator.count:
        context["life_events"] = selectors.life_events_with_counts()
        context["departments"] = selectors.departments_with_counts()
    return render(request, "catalog/search.html", context)


def department_list(request):
    return render(request, "catalog/department_list.html", {"departments": selectors.departments_with_counts()})


def department_detail(request, pk: int):
    department = get_object_or_404(Department, pk=pk)
    return render(
        request,
        "catalog/department_detail.html",
        {"department": department, "sections": selectors.sections_of(department)},
    )


def section_detail(request, pk: int):
    section = get_object_or_404(Section.objects.select_related("department"), pk=pk)
    return render(
        request,
        "catalog/section_detail.html",
        {"section": section, "procedures": selectors.procedures_of_section(section)},
    )


def life_event_list(request):
    return render(request, "catalog/life_event_list.html", {"life_events": selectors.life_events_with_counts()})


def life_event_detail(request, slug: str):
    event = get_object_or_404(LifeEvent, slug=slug)
    return render(
        request,
        "catalog/life_event_detail.html",
        {
            "event": event,
            "first_steps": selectors.first_steps_of_life_event(event),
            "procedures": selectors.procedures_of_life_event(event),
        },
    )


def procedure_detail(request, code: str):
    try:
        procedure = selectors.get_published_procedure(code)
    except Procedure.DoesNotExist:
        raise Http404("procedure not found") from None
    return render(
        request,
        "catalog/procedure_detail.html",
        {
            "procedure": procedure,
            "ways": selectors.ways_to_apply(procedure),
            "related": selectors.related_procedures(procedure),
            "signature_when": selectors.signature_when(procedure) if procedure.online_here else "",
            "panels": extensions.procedure_panels(procedure),
        },
    )
