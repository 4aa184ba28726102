"""Money and quantities: exact decimals on every backend.

PostgreSQL stores ``numeric(28, 12)``. On the embedded default (``bots.sqlite_exact``)
the column is ``TEXT`` compared through a decimal collation, so 12345678.123456789012
reads back as written and sums are exact; with Django's stock SQLite backend it falls
back to ``decimal`` (NUMERIC: 15 significant digits).
"""

from __future__ import annotations

from django.db import models

from bots.sqlite_exact.functions import COLLATION, ROUND


class MoneyField(models.DecimalField):
    def __init__(self, *args, max_digits: int = 28, decimal_places: int = 12, **kwargs):
        super().__init__(*args, max_digits=max_digits, decimal_places=decimal_places, **kwargs)

    def db_type(self, connection):
        if getattr(connection, "exact_decimals", False):
            return f"text COLLATE {COLLATION}"
        return super().db_type(connection)

    def get_placeholder(self, value, compiler, connection):
        # Every write (a value or an expression such as F("cash") + x) is rounded to the
        # column's scale, as numeric(28, 12) does on PostgreSQL.
        if getattr(connection, "exact_decimals", False):
            return f"{ROUND}(%s, {int(self.decimal_places)})"
        return "%s"
