from __future__ import annotations

from decimal import Decimal

from django.db.backends.sqlite3 import base, operations
from django.db.models.expressions import Col

from bots.sqlite_exact.functions import register


class DatabaseOperations(operations.DatabaseOperations):
    compiler_module = "bots.sqlite_exact.compiler"

    def get_decimalfield_converter(self, expression):
        floats = super().get_decimalfield_converter(expression)
        field = expression.output_field
        quantum = Decimal(1).scaleb(-field.decimal_places) if isinstance(expression, Col) else None

        def converter(value, expression, connection):
            if isinstance(value, str):  # a money column or an exact function: its own digits
                value = Decimal(value)
                return value.quantize(quantum, context=field.context) if quantum is not None else value
            return floats(value, expression, connection)

        return converter


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    exact_decimals = True  # bots.moneyfield.MoneyField stores TEXT here

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        register(connection)
        return connection
