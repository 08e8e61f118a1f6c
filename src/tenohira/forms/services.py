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
