"""Decimal-exact SQL functions, aggregate and collation registered on every connection."""

from __future__ import annotations

import decimal
from decimal import Decimal, InvalidOperation

COLLATION = "bf_decimal"
# Enough digits that no product or quotient of two money values is rounded before it is
# stored (28 digits each; a stored value keeps its own digits).
_CONTEXT = decimal.Context(prec=80, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def _decimal(value) -> Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))  # what the float prints as, not its binary expansion
    if isinstance(value, bytes):
        value = value.decode()
    return Decimal(value)


def _text(value: Decimal) -> str:
    return format(value, "f")


def _binary(operation):
    def apply(a, b):
        if a is None or b is None:
            return None
        if isinstance(a, int) and isinstance(b, int) and operation is not _divide:
            return operation(a, b)  # integer arithmetic stays integer (counters); a quotient is a decimal
        try:
            result = operation(_decimal(a), _decimal(b))
        except (InvalidOperation, ZeroDivisionError):
            return None  # SQLite's answer to a division by zero or a non-number
        return None if result is None else _text(result)

    return apply


def _add(a, b):
    return _CONTEXT.add(a, b) if isinstance(a, Decimal) else a + b


def _subtract(a, b):
    return _CONTEXT.subtract(a, b) if isinstance(a, Decimal) else a - b


def _multiply(a, b):
    return _CONTEXT.multiply(a, b) if isinstance(a, Decimal) else a * b


def _divide(a, b):
    return None if b == 0 else _CONTEXT.divide(a, b)


def _round(value, places):
    """The value as the column keeps it: ``places`` decimals, halves away from zero (PostgreSQL's numeric)."""
    if value is None or places is None:
        return value
    try:
        exact = _decimal(value)
    except InvalidOperation:
        return value  # not a number: the column's CHECK constraints and readers refuse it
    return _text(exact.quantize(Decimal(1).scaleb(-int(places)), rounding=decimal.ROUND_HALF_UP, context=_CONTEXT))


ROUND = "bf_dec_round"
FUNCTIONS = {
    "+": "bf_dec_add",
    "-": "bf_dec_sub",
    "*": "bf_dec_mul",
    "/": "bf_dec_div",
}
SUM = "bf_dec_sum"


class _Sum:
    """``SUM`` over decimals as text: exact, ``NULL`` over no rows, integers stay integers."""

    def __init__(self):
        self.total = None
        self.integers = True

    def step(self, value):
        if value is None:
            return
        if not isinstance(value, int):
            self.integers = False
        value = value if isinstance(value, int) else _decimal(value)
        self.total = value if self.total is None else _add(self.total, value)

    def finalize(self):
        if self.total is None or self.integers:
            return self.total
        return _text(Decimal(self.total))


def _collate(a: str, b: str) -> int:
    try:
        x, y = Decimal(a), Decimal(b)
    except InvalidOperation:  # not numbers: order as text, deterministically
        return (a > b) - (a < b)
    return (x > y) - (x < y)


def register(connection) -> None:
    """Install the functions on a raw ``sqlite3`` connection."""
    binary = {"+": _add, "-": _subtract, "*": _multiply, "/": _divide}
    for connector, name in FUNCTIONS.items():
        connection.create_function(name, 2, _binary(binary[connector]), deterministic=True)
    connection.create_function(ROUND, 2, _round, deterministic=True)
    connection.create_aggregate(SUM, 1, _Sum)
    connection.create_collation(COLLATION, _collate)
