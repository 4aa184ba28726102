"""SQL compilers that keep decimal expressions exact (see :mod:`bots.sqlite_exact`).

Django wraps every decimal-valued expression in ``CAST(... AS NUMERIC)`` on SQLite
(``SQLiteNumericMixin``), i.e. turns it into a float. Here a decimal ``+ - * /``
compiles to the registered ``bf_dec_*`` functions, ``SUM`` to ``bf_dec_sum``, and the
cast is left out; everything else compiles as usual.
"""

from __future__ import annotations

from django.core.exceptions import FieldError
from django.db.models import Sum
from django.db.models.expressions import CombinedExpression, SQLiteNumericMixin
from django.db.models.sql import compiler

from bots.sqlite_exact.functions import FUNCTIONS, SUM


def _is_decimal(node) -> bool:
    try:
        return node.output_field.get_internal_type() == "DecimalField"
    except (FieldError, AttributeError):
        return False


class ExactDecimals:
    def compile(self, node):
        if not isinstance(node, SQLiteNumericMixin) or not _is_decimal(node):
            return super().compile(node)
        if isinstance(node, CombinedExpression) and node.connector in FUNCTIONS:
            lhs, lhs_params = self.compile(node.lhs)
            rhs, rhs_params = self.compile(node.rhs)
            return f"{FUNCTIONS[node.connector]}({lhs}, {rhs})", (*lhs_params, *rhs_params)
        if isinstance(node, Sum):
            return node.as_sql(self, self.connection, function=SUM)
        if type(node).as_sqlite is SQLiteNumericMixin.as_sqlite:
            return node.as_sql(self, self.connection)  # without the float cast
        return super().compile(node)


class SQLCompiler(ExactDecimals, compiler.SQLCompiler):
    pass


class SQLInsertCompiler(ExactDecimals, compiler.SQLInsertCompiler):
    pass


class SQLDeleteCompiler(ExactDecimals, compiler.SQLDeleteCompiler):
    pass


class SQLUpdateCompiler(ExactDecimals, compiler.SQLUpdateCompiler):
    pass


class SQLAggregateCompiler(ExactDecimals, compiler.SQLAggregateCompiler):
    pass
