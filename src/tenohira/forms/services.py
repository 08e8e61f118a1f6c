"""Writes to form definitions: publishing a schema as a new immutable version."""

from __future__ import annotations

from django.db import transaction

from tenohira.catalog.models import Procedure
from tenohira.forms.models import FormDefinition, FormVersion
from tenohira.forms.schema import parse


@transaction.atomic
def publish(procedure: Procedure, schema: dict) -> tuple[FormVersion, bool]:
    """Publish `schema` for the procedure. Returns (version, created): when the latest
    published version already has exactly this schema nothing changes, so loading the
    same definitions twice is safe. Raises SchemaError when the schema is not usable."""
    parse(schema)
    definition, _ = FormDefinition.objects.select_for_update().get_or_create(procedure=procedure)
    latest = definition.published_version()
    if latest is not None and latest.schema == schema:
        return latest, False
    number = (definition.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    version = FormVersion.objects.create(
        definition=definition, number=number, schema=schema, status=FormVersion.Status.PUBLISHED
    )
    return version, True


def set_window(procedure: Procedure, opens_at, closes_at) -> FormDefinition:
    """Set the 受付期間 of the procedure's form (None on a side means no limit there)."""
    definition = FormDefinition.objects.get(procedure=procedure)
    definition.opens_at, definition.closes_at = opens_at, closes_at
    definition.full_clean(exclude=["procedure"])
    definition.save(update_fields=["opens_at", "closes_at"])
    return definition


def demo_window(today) -> tuple:
    """A 受付期間 for the demo's 放課後児童クラブ form that is open on the day the demo runs:
    from 25 days before to the end of the 29th day after (midnight, Japan time), like a
    real autumn intake of a few weeks, so the form can be tried any day."""
    import datetime as dt

    from tenohira.core.fiscal import JST

    start = dt.datetime.combine(today - dt.timedelta(days=25), dt.time(0, 0), tzinfo=JST)
    end = dt.datetime.combine(today + dt.timedelta(days=30), dt.time(0, 0), tzinfo=JST)
    return start, end
