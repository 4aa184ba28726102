"""The strategy registry: ids, params, defaults and JSON Schemas (API.md "Venues,
symbols, strategies"). Pure data and validation; the engine's decision functions live
in ``bots/engine/strategies/`` and are looked up by the same ids.

Validation is JSON Schema (draft 2020-12, ``jsonschema``) for types and ranges, plus a
small list of cross-field rules per strategy that JSON Schema cannot say plainly
(``fast < slow``, ``lower < upper``, ``oversold < overbought``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from jsonschema import Draft202012Validator

TIMEFRAMES: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "12h": 43200,
    "1d": 86400,
}
DEFAULT_TIMEFRAME = "1m"
DEFAULT_INTERVAL_SECONDS = 60


class ParamsError(ValueError):
    """Invalid strategy params; ``errors`` maps a param name (or ``params``) to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{key}: {value}" for key, value in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Rule:
    """A cross-field rule: ``check(params)`` is true when the params are consistent."""

    field: str
    message: str
    check: Callable[[dict], bool]


@dataclass(frozen=True)
class Strategy:
    id: str
    name: str
    description: str
    schema: dict
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    # Decisions come only from outside (signals): nothing to backtest, never trades on its own tick.
    external: bool = False

    @property
    def defaults(self) -> dict:
        return {key: spec["default"] for key, spec in self.schema["properties"].items() if "default" in spec}

    def describe(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "params_schema": self.schema,
            "defaults": self.defaults,
            "rules": [rule.message for rule in self.rules],
            "external": self.external,
        }


def _schema(properties: dict, required: list[str] | None = None) -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


_INT = {"type": "integer"}
_NUM = {"type": "number"}
# The largest price a strategy accepts: every number param declares a bound, so nothing
# stored can outgrow what JSON columns and encoders keep exactly (a 64-bit integer).
MAX_PRICE = 10**15

STRATEGIES: dict[str, Strategy] = {
    s.id: s
    for s in (
        Strategy(
            id="sma_cross",
            name="SMA crossover",
            description=(
                "Buys when the fast SMA crosses above the slow one (once per cross: not again after a stop-loss "
                "or take-profit in the same candle); sells on the cross below."
            ),
            schema=_schema(
                {
                    "fast": {**_INT, "minimum": 2, "maximum": 500, "default": 10, "title": "Fast period"},
                    "slow": {**_INT, "minimum": 3, "maximum": 1000, "default": 30, "title": "Slow period"},
                }
            ),
            rules=(Rule("fast", "fast must be less than slow", lambda p: p["fast"] < p["slow"]),),
        ),
        Strategy(
            id="rsi",
            name="RSI reversion",
            description="Buys when the RSI falls below the oversold level; sells above the overbought level.",
            schema=_schema(
                {
                    "period": {**_INT, "minimum": 2, "maximum": 500, "default": 14, "title": "RSI period"},
                    "oversold": {**_NUM, "exclusiveMinimum": 0, "exclusiveMaximum": 100, "default": 30},
                    "overbought": {**_NUM, "exclusiveMinimum": 0, "exclusiveMaximum": 100, "default": 70},
                }
            ),
            rules=(
                Rule("oversold", "oversold must be less than overbought", lambda p: p["oversold"] < p["overbought"]),
            ),
        ),
        Strategy(
            id="grid",
            name="Grid",
            description="Buys at evenly spaced levels between lower and upper and sells one level higher.",
            schema=_schema(
                {
                    "lower": {**_NUM, "exclusiveMinimum": 0, "maximum": MAX_PRICE, "title": "Lower price"},
                    "upper": {**_NUM, "exclusiveMinimum": 0, "maximum": MAX_PRICE, "title": "Upper price"},
                    "levels": {**_INT, "minimum": 2, "maximum": 200, "default": 10},
                },
                required=["lower", "upper"],
            ),
            rules=(Rule("lower", "lower must be less than upper", lambda p: p["lower"] < p["upper"]),),
        ),
        Strategy(
            id="dca",
            name="Dollar-cost averaging",
            description="Buys a fraction of capital every N ticks up to a maximum; sells all at the take-profit.",
            schema=_schema(
                {
                    "order_pct": {**_NUM, "exclusiveMinimum": 0, "maximum": 1, "default": 0.1},
                    "every_ticks": {**_INT, "minimum": 1, "maximum": 100000, "default": 1},
                    "max_orders": {**_INT, "minimum": 1, "maximum": 10000, "default": 10},
                    "take_profit_pct": {**_NUM, "exclusiveMinimum": 0, "maximum": 10, "default": 0.02},
                }
            ),
        ),
        Strategy(
            id="signal",
            name="Signal bot",
            description=(
                "Trades only on signals from outside: its webhook (POST signals/{token}, e.g. a TradingView "
                "alert) or an imported text signal, each acted on at once. It never trades on its own."
            ),
            schema=_schema({}),
            external=True,
        ),
    )
}
DEFAULT_STRATEGY = "sma_cross"

_validators = {sid: Draft202012Validator(s.schema) for sid, s in STRATEGIES.items()}


def get_strategy(strategy_id: str) -> Strategy:
    try:
        return STRATEGIES[strategy_id]
    except KeyError:
        raise ParamsError({"strategy": f"unknown strategy {strategy_id!r}; one of {', '.join(STRATEGIES)}"}) from None


class _NotFinite(ValueError):
    pass


def _plain(value):
    """Decimals (form or JSON input parsed with Decimal) validate as numbers.

    NaN and ±Infinity are refused here: JSON Schema's bounds compare false against NaN
    (so it would pass them), and no JSON column or encoder can keep either.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _NotFinite
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _NotFinite
    return value


def validate_params(strategy_id: str, params: dict | None) -> dict:
    """Return the params with defaults filled in, or raise ``ParamsError``.

    Unknown keys are refused (a typo such as ``fats`` must not silently fall back
    to a default), every value is checked against the schema, then the cross-field rules.
    """
    strategy = get_strategy(strategy_id)
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ParamsError({"params": "must be an object"})
    errors: dict[str, str] = {}
    plain = {}
    for key, value in params.items():
        try:
            plain[key] = _plain(value)
        except _NotFinite:
            errors[str(key)] = "must be a finite number"
    if errors:
        raise ParamsError(errors)
    merged = {**strategy.defaults, **plain}
    for error in sorted(_validators[strategy_id].iter_errors(merged), key=lambda e: list(e.path)):
        key = str(error.path[0]) if error.path else "params"
        if error.validator == "required":
            key = error.message.split("'")[1]
            errors.setdefault(key, "is required")
        elif error.validator == "additionalProperties":
            errors.setdefault("params", error.message)
        else:
            errors.setdefault(key, error.message)
    if not errors:
        for rule in strategy.rules:
            if not rule.check(merged):
                errors.setdefault(rule.field, rule.message)
    if errors:
        raise ParamsError(errors)
    return merged


def catalogue() -> list[dict]:
    return [strategy.describe() for strategy in STRATEGIES.values()]
