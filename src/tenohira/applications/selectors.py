"""Reads of the resident side."""

from __future__ import annotations

from django.http import Http404

from tenohira.applications.models import Draft
from tenohira.forms.models import FormVersion


def published_form_version(procedure) -> FormVersion | None:
    definition = getattr(procedure, "form", None)
    if definition is None:
        return None
    return definition.published_version()


def get_draft(public_id) -> Draft:
    """The draft, with what its pages show (procedure, section) and its submission, if it
    was sent, in the same query: every draft page asks whether it was sent."""
    drafts = Draft.objects.select_related("form_version__definition__procedure__section__department", "submission")
    draft = drafts.filter(public_id=public_id).first()
    if draft is None:
        raise Http404("draft not found")
    return draft
