"""New rows written together: a parent row and rows that point at it, in one statement.

A submission writes four new rows (the submission, its first version, its first history
event and its confirmation e-mail). Through the ORM that is four compiled statements and
four round trips, and on the busiest write of the site it was a third of the web
workers' CPU (bench/submit_bench.py). On PostgreSQL `insert_together` sends one statement
whose WITH clauses insert the parent and then each child with the parent's new id.
Elsewhere (SQLite, the embedded demo database) it saves them one by one.

The columns come from the models: every concrete field with the value save() would store
(`pre_save`, so auto_now_add works; `get_db_prep_save`, so JSON is adapted the same way).
A new field on one of these models therefore needs no change here. Like bulk_create, no
model signals are sent.
"""

# ruff: noqa: S608 - the SQL is built from model metadata (quoted names) only; every
# value is a query parameter.
from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Model


def insert_together(parent: Model, children: Iterable[tuple[Model, str | None]] = ()) -> None:
    """INSERT `parent`, then each (child, fk attname) with `child.<fk attname> = parent.pk`;
    a child with None instead of an attname is simply written in the same statement.

    Sets the primary keys on the instances, as save() would. Call inside a transaction
    when the rows must stand or fall together (on SQLite they are separate statements).
    """
    children = list(children)
    if connection.vendor != "postgresql":
        parent.save(force_insert=True)
        for child, fk in children:
            if fk:
                setattr(child, fk, parent.pk)
            child.save(force_insert=True)
        return

    quote = connection.ops.quote_name
    params: list = []

    def insert(obj: Model, parent_fk: str | None = None) -> str:
        meta = obj._meta
        columns, values = [], []
        for field in meta.concrete_fields:
            if field.primary_key and getattr(obj, field.attname) is None:
                continue  # the database assigns it
            columns.append(quote(field.column))
            if field.attname == parent_fk:
                values.append(f"(SELECT {quote(parent._meta.pk.column)} FROM parent)")
            else:
                values.append("%s")
                params.append(field.get_db_prep_save(field.pre_save(obj, True), connection=connection))
        return (
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(columns)}) VALUES ({', '.join(values)}) "
            f"RETURNING {quote(meta.pk.column)}"
        )

    clauses = [f"parent AS ({insert(parent)})"]
    clauses += [f"child{i} AS ({insert(child, fk)})" for i, (child, fk) in enumerate(children)]
    selected = [f"(SELECT {quote(parent._meta.pk.column)} FROM parent)"]
    selected += [f"(SELECT {quote(child._meta.pk.column)} FROM child{i})" for i, (child, _fk) in enumerate(children)]
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(clauses)} SELECT {', '.join(selected)}", params)
        keys = cursor.fetchone()
    for obj, key in zip([parent, *(child for child, _fk in children)], keys, strict=True):
        obj.pk = key
        obj._state.adding = False
        obj._state.db = connection.alias
    for child, fk in children:
        if fk:
            setattr(child, fk, parent.pk)


def load(model: type[Model], attnames: list[str], values) -> Model:
    """A model instance from columns read with hand-written SQL: the same conversions the
    ORM applies (dates, UUIDs and JSON on every database), then Model.from_db, so the
    instance is as if loaded with .only(*attnames)."""
    by_attname = dict(zip(attnames, values, strict=True))
    names, converted = [], []
    for field in model._meta.concrete_fields:  # from_db expects the model's field order
        if field.attname not in by_attname:
            continue
        value = by_attname[field.attname]
        column = field.get_col(model._meta.db_table)
        for converter in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
            value = converter(value, column, connection)
        names.append(field.attname)
        converted.append(value)
    return model.from_db(connection.alias, names, converted)
