"""Writes to form definitions: publishing a schema as a new immutable version."""

from __future__ import annotations

from django.db import transaction

from tenohira.catalog.models import Procedure
from tenohira.forms.models import FormDefinition, FormVersion
from tenohira.forms.schema import SchemaError, parse


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


# --- the builder's working copy (下書き) ---------------------------------------------------
# A clerk edits a working copy kept on the definition; it may hold problems while they
# work. Publishing checks it with the same parser the engine runs and makes a new
# immutable version of it, so residents only ever meet a schema that parses.


@transaction.atomic
def start_working_copy(procedure: Procedure, schema: dict, *, user, kind: str | None = None,
                       anonymous: bool | None = None, action: str = "forms.start") -> FormDefinition:
    """Begin (or replace) the working copy of the procedure's form with `schema` (from
    scratch, a template or an imported file). Creates the definition when the procedure
    has none yet. Audited."""
    from django.utils import timezone

    from tenohira.audit.services import record

    definition, _ = FormDefinition.objects.select_for_update().get_or_create(procedure=procedure)
    definition.working_schema = schema
    definition.working_updated_at = timezone.now()
    definition.working_updated_by = user
    fields = ["working_schema", "working_updated_at", "working_updated_by"]
    if kind is not None:
        definition.kind = kind
        fields.append("kind")
    if anonymous is not None:
        definition.anonymous = anonymous
        fields.append("anonymous")
    definition.save(update_fields=fields)
    record(action, user=user, target=f"procedure:{procedure.code}", detail={"definition": definition.pk})
    return definition


@transaction.atomic
def save_working_copy(definition: FormDefinition, schema: dict, *, user, action: str = "forms.edit",
                      detail: dict | None = None) -> FormDefinition:
    """Store an edited working copy (problems allowed). Audited with what changed."""
    from django.utils import timezone

    from tenohira.audit.services import record

    FormDefinition.objects.select_for_update().filter(pk=definition.pk).first()
    definition.working_schema = schema
    definition.working_updated_at = timezone.now()
    definition.working_updated_by = user
    definition.save(update_fields=["working_schema", "working_updated_at", "working_updated_by"])
    record(action, user=user, target=f"procedure:{definition.procedure.code}",
           detail={"definition": definition.pk, **(detail or {})})
    return definition


@transaction.atomic
def publish_working_copy(definition: FormDefinition, *, user) -> tuple[FormVersion, bool]:
    """Publish the working copy as a new version. Raises SchemaError (every problem, in
    Japanese) when it cannot run; nothing changes then. Audited."""
    from tenohira.audit.services import record
    from tenohira.forms import builder

    definition = FormDefinition.objects.select_for_update().get(pk=definition.pk)
    if definition.working_schema is None:
        raise SchemaError(["編集中のフォームがありません。"])
    # The builder's own checks first (a condition on a later page, a page left empty …):
    # they say in plain words what parse() says in the schema's terms, and catch what
    # would parse but never work for a resident.
    refused = builder.blocking(definition.working_schema)
    if refused:
        raise SchemaError(refused)
    version, created = publish(definition.procedure, definition.working_schema)
    record("forms.publish", user=user, target=f"procedure:{definition.procedure.code}",
           detail={"definition": definition.pk, "version": version.number, "created": created})
    return version, created


class StaleWorkingCopy(Exception):
    """Another clerk changed the working copy after this page was shown."""


def revision_of(definition: FormDefinition) -> str:
    """A token of the working copy's last change, carried by every builder page's forms."""
    stamp = definition.working_updated_at
    return stamp.isoformat() if stamp else ""


@transaction.atomic
def edit_working_copy(definition: FormDefinition, change, *, user, action: str = "forms.edit",
                      revision: str | None = None, detail: dict | None = None):
    """Apply `change(schema)` (a forms.builder operation on a copy of the working copy) and
    store the result, audited. The row is locked, so two clerks' edits never interleave;
    with `revision` (the token the page was shown with) an edit made on a page that is out
    of date is refused with StaleWorkingCopy instead of silently undoing the other's work.
    A BuilderError from `change` leaves everything as it was. Returns change's result."""
    from tenohira.forms import builder

    locked = FormDefinition.objects.select_for_update().select_related("procedure").get(pk=definition.pk)
    if revision is not None and revision != revision_of(locked):
        raise StaleWorkingCopy()
    schema = builder.working_copy_of(locked.working_schema)
    result = change(schema)
    save_working_copy(locked, schema, user=user, action=action, detail=detail)
    definition.working_schema = locked.working_schema
    definition.working_updated_at = locked.working_updated_at
    definition.working_updated_by = locked.working_updated_by
    return result


@transaction.atomic
def set_window_by(definition: FormDefinition, opens_at, closes_at, *, user) -> FormDefinition:
    """set_window from the builder: the same check, audited."""
    from tenohira.audit.services import record

    updated = set_window(definition.procedure, opens_at, closes_at)
    record("forms.window", user=user, target=f"procedure:{definition.procedure.code}",
           detail={"definition": definition.pk, "opens_at": opens_at.isoformat() if opens_at else None,
                   "closes_at": closes_at.isoformat() if closes_at else None})
    return updated


@transaction.atomic
def create_survey(section, name: str, *, user, anonymous: bool = False) -> FormDefinition:
    """A new アンケート: a procedure of the section (code Q0001, Q0002 …) with a working copy
    of one empty page, kind survey. The caller has checked that `user` may build forms in
    `section` (backoffice.selectors.form_sections_for)."""
    from tenohira.audit.services import record
    from tenohira.catalog.models import Channel, ProcedureChannel
    from tenohira.forms import builder

    name = builder._text(name, "アンケートの名前", 200, required=True)
    # Codes are taken under a lock of the section's row, so two clerks never get the same.
    type(section).objects.select_for_update().filter(pk=section.pk).first()
    used = set(Procedure.objects.filter(code__startswith="Q").values_list("code", flat=True))
    number = 1
    while f"Q{number:04d}" in used:
        number += 1
    procedure = Procedure.objects.create(code=f"Q{number:04d}", section=section, name=name, is_published=True)
    ProcedureChannel.objects.create(procedure=procedure, kind=Channel.PLATFORM)
    definition = start_working_copy(procedure, builder.new_schema(name), user=user,
                                    kind=FormDefinition.Kind.SURVEY, anonymous=anonymous)
    record("forms.survey_create", user=user, target=f"procedure:{procedure.code}",
           detail={"definition": definition.pk, "anonymous": anonymous})
    return definition
