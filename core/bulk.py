"""Writing many rows of one table with one statement, each row its own values.

Django's ``bulk_update`` writes ``CASE WHEN id = … THEN … END`` per column, which the
embedded default's SQLite casts to a float (``CAST(… AS NUMERIC)``): money would lose its
digits. Here the values arrive as a ``VALUES`` list joined by id, each through its field's
own preparation (exact money on SQLite, typed on PostgreSQL), so what is written is what
the model holds.
"""

from __future__ import annotations

from django.db import connection


def update_rows(model, rows: list[dict], fields: list[str]) -> None:
    """``UPDATE`` each row ``{"id": …, field: value…}`` (the primary key by its name) of ``model``
    with its own values, in one statement; returns the count."""
    if not rows:
        return
    ops = connection.ops
    table = ops.quote_name(model._meta.db_table)
    pk = model._meta.pk
    columns = [pk, *(model._meta.get_field(name) for name in fields)]
    pg = connection.vendor == "postgresql"

    def placeholder(field) -> str:
        # Money is rounded to its scale on SQLite (bots.moneyfield).
        sql = field.get_placeholder(None, None, connection) if hasattr(field, "get_placeholder") else "%s"
        return f"{sql}::{field.db_type(connection)}" if pg else sql

    row_sql = "(" + ", ".join(placeholder(field) for field in columns) + ")"
    params: list = []
    for row in rows:
        params += [field.get_db_prep_save(row[field.name], connection) for field in columns]
    names = ", ".join(ops.quote_name(field.column) for field in columns)
    assignments = ", ".join(f"{ops.quote_name(f.column)} = v.{ops.quote_name(f.column)}" for f in columns[1:])
    key = ops.quote_name(pk.column)
    sql = (
        f"WITH v({names}) AS (VALUES {', '.join([row_sql] * len(rows))}) "  # noqa: S608 - model columns only
        f"UPDATE {table} SET {assignments} FROM v WHERE {table}.{key} = v.{key}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
