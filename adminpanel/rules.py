"""Staff override rules: the keys the engine honours and their ranges.

The engine reads ``Bot.override_rules`` at every tick and lets each rule take
precedence over the bot's own settings, so a rule written here applies from the bot's
next tick. Only validated rules reach the database (``adminpanel.services``).

========================  ==========================  =================================
key                       range                       meaning
========================  ==========================  =================================
``position_size_pct``     0 < x ≤ 1                   fraction of capital per entry
``stop_loss_pct``         0 < x < 1                   exit when down this fraction
``take_profit_pct``       0 < x < 1                   exit when up this fraction
``max_daily_trades``      integer ≥ 0                 fills per UTC day (0: no trading)
``max_open_positions``    integer ≥ 0                 open positions at once
========================  ==========================  =================================
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

FRACTION_RULES = {
    # key: (lower bound exclusive, upper bound, upper inclusive?)
    "position_size_pct": (Decimal(0), Decimal(1), True),
    "stop_loss_pct": (Decimal(0), Decimal(1), False),
    "take_profit_pct": (Decimal(0), Decimal(1), False),
}
COUNT_RULES = ("max_daily_trades", "max_open_positions")
KNOWN_RULES = (*FRACTION_RULES, *COUNT_RULES)


class RulesError(ValueError):
    """``errors`` maps each offending key to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = errors


def _fraction(key: str, value) -> float:
    low, high, inclusive = FRACTION_RULES[key]
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not number.is_finite():
        raise ValueError("must be a finite number")
    upper_ok = number <= high if inclusive else number < high
    if not (number > low and upper_ok):
        bracket = "]" if inclusive else ")"
        raise ValueError(f"must be in (0, 1{bracket}, got {value}")
    return float(number)


def _count(value) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number ≥ 0")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"must be a whole number ≥ 0, got {value}")
        value = int(value)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a whole number ≥ 0, got {value}") from None
    if number < 0:
        raise ValueError(f"must be a whole number ≥ 0, got {value}")
    return number


def validate_rules(rules) -> dict:
    """The cleaned rules (numbers as JSON numbers); raises ``RulesError`` naming each bad key.

    Keys whose value is ``None`` or ``""`` are dropped (the rule is lifted).
    """
    if not isinstance(rules, dict):
        raise RulesError({"override_rules": "must be an object of rule: value"})
    errors, clean = {}, {}
    for key, value in rules.items():
        if key not in KNOWN_RULES:
            errors[key] = f"unknown rule; known rules: {', '.join(KNOWN_RULES)}"
            continue
        if value is None or value == "":
            continue
        try:
            clean[key] = _fraction(key, value) if key in FRACTION_RULES else _count(value)
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise RulesError(errors)
    return {key: clean[key] for key in KNOWN_RULES if key in clean}
