"""Bulk inserts for the sync: PostgreSQL's COPY where it is available, bulk_create elsewhere.

COPY skips what makes bulk_create slow for thousands of rows a batch (model instances, SQL
compilation, one parameter per value in UNNEST arrays): the rows go to the server as one stream.
The primary keys later rows need (a message's id for its participants, say) are taken from the
table's sequence beforehand, one query per call, and set on the objects as bulk_create would.

Values are converted as Django converts them for saving (JSON as text, binary as bytes, naive
datetimes made aware); a value of any other type or field goes through the field's own
`get_db_prep_save`. No conflict handling: use bulk_create for `ignore_conflicts`.
"""

import itertools
import json
from collections.abc import Iterable, Sequence

from django.db import connection, models
from django.utils import timezone


def insert(
    model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str] | None = None
) -> None:
    """Insert model instances, as `bulk_create` does: an instance without a primary key gets
    one, set on it. `fields` (names) defaults to every concrete field but an automatic key."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    meta = model._meta
    pk = meta.pk
    columns = _columns(model, fields)
    stamped = [f for f in columns if _auto_now(f)]
    relations = [f for f in columns if f.is_relation]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        if pk not in columns:
            missing = [obj for obj in objs if obj.pk is None]
            if missing:
                cursor.cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [meta.db_table, pk.column, len(missing)],
                )
                for obj, (value,) in zip(missing, cursor.cursor.fetchall(), strict=True):
                    setattr(obj, pk.attname, value)
            columns = [pk, *columns]
        for obj in objs:
            for f in stamped:
                f.pre_save(obj, add=True)
            for f in relations:
                # As bulk_create: a related object saved after it was assigned lends its key.
                if getattr(obj, f.attname) is None and f.is_cached(obj):
                    related = f.get_cached_value(obj)
                    if related is not None:
                        setattr(obj, f.attname, related.pk)
            obj._state.adding = False
            obj._state.db = connection.alias
        attnames = [f.attname for f in columns]
        _copy(
            cursor.cursor, meta.db_table, columns, ([getattr(o, a) for a in attnames] for o in objs)
        )


def insert_values(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence]
) -> None:
    """Insert rows given as values, one per name in `fields` (a relation by its key), without
    building model instances where COPY is available. The fields left out take their Python
    defaults (auto_now fields: now); the primary key is the database's."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    rows = itertools.chain([first], rows)
    columns = _columns(model, fields)
    if connection.vendor != "postgresql":
        attnames = [f.attname for f in columns]
        model.objects.bulk_create(model(**dict(zip(attnames, row, strict=True))) for row in rows)
        return
    named = {f.attname for f in columns}
    rest = [f for f in _columns(model, None) if f.attname not in named and not f.primary_key]
    extra = [(f, _default(f)) for f in rest]
    if extra:
        rows = ([*row, *(default() for _, default in extra)] for row in rows)
        columns = [*columns, *(f for f, _ in extra)]
    else:
        rows = (list(row) for row in rows)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        _copy(cursor.cursor, model._meta.db_table, columns, rows)


def _columns(model, fields):
    meta = model._meta
    if fields is None:
        return [
            f
            for f in meta.concrete_fields
            if not (f.primary_key and isinstance(f, models.AutoField))
        ]
    return [meta.get_field(name) for name in fields]


def _auto_now(field) -> bool:
    return getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)


def _default(field):
    if _auto_now(field):
        if isinstance(field, models.DateTimeField):
            return timezone.now
        return lambda: timezone.localdate()
    return field.get_default


def _copy(cursor, table: str, columns, rows: Iterable[list]) -> None:
    converters = [(i, c) for i, f in enumerate(columns) if (c := _converter(f)) is not None]
    quote = connection.ops.quote_name
    sql = f"COPY {quote(table)} ({', '.join(quote(f.column) for f in columns)}) FROM STDIN"
    with cursor.copy(sql) as copy:
        for row in rows:
            for i, convert in converters:
                row[i] = convert(row[i])
            copy.write_row(row)


def _converter(field):
    """A function turning the field's Python value into one COPY takes."""
    if field.is_relation:
        field = field.target_field
    kind = type(field)

    def prepared(value):
        return field.get_db_prep_save(value, connection)

    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda value: None if value is None else json.dumps(value, cls=encoder)
    if isinstance(field, models.BinaryField):
        return lambda value: None if value is None else bytes(value)
    if kind is models.DateTimeField:
        # Aware datetimes go as they are; a naive one is made aware (with Django's warning).
        return lambda value: (
            value
            if value is None or getattr(value, "tzinfo", None) is not None
            else prepared(value)
        )
    if kind.get_db_prep_save is models.Field.get_db_prep_save and kind.get_db_prep_value in (
        models.Field.get_db_prep_value,
        # These only tell psycopg the integer's size, which COPY takes from the column.
        models.IntegerField.get_db_prep_value,
        models.AutoField.get_db_prep_value,
    ):
        if isinstance(field, models.CharField | models.TextField):
            return lambda value: value if value is None or type(value) is str else prepared(value)
        if isinstance(field, models.IntegerField | models.AutoField):
            return lambda value: value if value is None or type(value) is int else prepared(value)
        if isinstance(field, models.BooleanField):
            return lambda value: value if value is None or type(value) is bool else prepared(value)
    return prepared
