"""One multi-row INSERT without peewee's per-value query building.

``Model.insert_many`` builds its SQL value by value through peewee's query tree: for a batch of
100 edge events or visits that costs tens of milliseconds of Python, far more than the database
takes to store them. ``insert_rows`` writes the same statement directly: the columns of the
model's fields, one placeholder per value, each value converted by its field's ``db_value`` (as
peewee would), in chunks that stay under SQLite's parameter limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from peewee import Model

MAX_PARAMS = 30000  # SQLite 3.32+ allows 32,766 per statement; PostgreSQL 65,535


def insert_rows(model: type[Model], rows: Iterable[Mapping], ignore_conflicts: bool = False) -> None:
    """Insert ``rows`` (dicts keyed by field name, as ``Model.__data__``) in as few statements as
    the parameter limit allows. A field a row does not name gets the field's default.
    ``ignore_conflicts``: a row that would break a unique index is skipped (ON CONFLICT DO NOTHING)."""
    rows = list(rows)
    if not rows:
        return
    meta = model._meta
    names: list[str] = []
    for row in rows:
        for name in row:
            if name not in names:
                names.append(name)
    fields = [meta.fields[name] for name in names]
    for field in meta.sorted_fields:  # defaults as peewee fills them (not the auto primary key)
        if field.name not in names and field.default is not None:
            names.append(field.name)
            fields.append(field)
    database = meta.database
    left, right = database.quote  # the identifier quotes, e.g. '""'

    def quote(name: str) -> str:
        return left + name.replace(right, right * 2) + right

    columns = ", ".join(quote(f.column_name) for f in fields)
    one = "(" + ", ".join([database.param] * len(fields)) + ")"
    head = f"INSERT INTO {quote(meta.table_name)} ({columns}) VALUES "
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    per = max(1, MAX_PARAMS // len(fields))
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        params = []
        for row in chunk:
            for name, field in zip(names, fields, strict=True):
                params.append(field.db_value(row[name] if name in row else _default(field)))
        database.execute_sql(head + ", ".join([one] * len(chunk)) + tail, params)


def _default(field):
    return field.default() if callable(field.default) else field.default
