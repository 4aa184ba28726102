"""Strategy decision functions, one module per strategy id of :mod:`bots.strategies`.

Each module exposes

* ``lookback(params) -> int`` — how many closed candles it needs (at most
  :data:`MAX_LOOKBACK`, what :func:`bots.engine.market.candles` serves); a strategy
  whose value depends on the whole history (an exponential smoothing) asks for the
  run-in that makes the window's start negligible;
* ``decide(params, view) -> Decision`` — pure: no database, no clock, no randomness;
* ``on_fill(params, state, decision, fill) -> dict`` — the strategy memory after a fill
  of one of its orders (the tick stores it in the same transaction as the fill, so a
  crash can never leave the memory and the books disagreeing);
* optionally ``signals(params, closes) -> (entry, exit)`` — for a strategy whose signal is
  a pure function of its window of closed candles: boolean arrays over a whole series,
  ``entry[i]`` / ``exit[i]`` True wherever ``decide`` on the window
  ``closes[max(0, i - lookback) : i]`` might buy when flat / sell when holding. The same
  floating-point operations in the same order as ``decide`` (no lookahead: index ``i``
  reads closes before ``i`` only); a backtest calls ``decide`` only where one is True
  (:mod:`bots.engine.backtest`), and tests/backtests/test_signals.py proves them equal.

A decision says *what* the strategy wants (buy with this much quote, sell this much
base); the risk rules (:mod:`bots.engine.risk`) then decide whether and how much.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

BUY, SELL, HOLD = "buy", "sell", "hold"
MAX_LOOKBACK = 1000  # closed candles the market seam serves at most


@dataclass(frozen=True)
class View:
    """What a strategy sees on one tick. Amounts are floats: decisions, not accounting."""

    closes: np.ndarray  # closes of closed candles, oldest first
    price: float  # the price now
    position: float  # base quantity held
    average_cost: float  # per unit, quote (0 when flat)
    cash: float  # the bot's free quote balance
    capital: float
    position_size_pct: float  # fraction of capital an entry uses (strategies that do not size)
    tick: int  # the bot's tick number
    state: dict = field(default_factory=dict)  # the strategy's memory (read-only here)
    candle: int = 0  # the forming candle's number (epoch seconds // timeframe seconds): same value, same candle


@dataclass(frozen=True)
class Decision:
    action: str = HOLD  # buy | sell | hold
    quote: float = 0.0  # buy: quote currency to spend
    quantity: float = 0.0  # sell: base quantity to sell
    reason: str = ""
    tag: dict = field(default_factory=dict)  # strategy bookkeeping handed back to on_fill

    @property
    def is_order(self) -> bool:
        return self.action in (BUY, SELL)


@dataclass(frozen=True)
class Fill:
    side: str
    quantity: float
    price: float


HOLD_DECISION = Decision()


def registry() -> dict[str, ModuleType]:
    from bots.engine.strategies import dca, grid, rsi, signal, sma_cross

    return {"sma_cross": sma_cross, "rsi": rsi, "grid": grid, "dca": dca, "signal": signal}


_REGISTRY: dict[str, ModuleType] | None = None


def get(strategy_id: str) -> ModuleType:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = registry()
    return _REGISTRY[strategy_id]


def override(strategy_id: str, module) -> Callable[[], None]:
    """Swap a strategy implementation (tests); returns the undo."""
    get(strategy_id)
    table = _REGISTRY or {}
    previous = table.get(strategy_id)
    table[strategy_id] = module

    def undo() -> None:
        table[strategy_id] = previous

    return undo


def default_on_fill(params: dict, state: dict, decision: Decision, fill: Fill) -> dict:
    return state


def entry_quote(view: View) -> float:
    """Quote an all-in entry uses: the position size share of capital, bounded by cash."""
    return max(0.0, min(view.cash, view.capital * view.position_size_pct))


_ZERO = np.zeros(1)


def sma(values: np.ndarray, period: int) -> np.ndarray:
    """Simple moving averages (valid part only), ``len(values) - period + 1`` of them."""
    if len(values) < period:
        return np.empty(0)
    # The same running sums as ``np.cumsum(np.insert(values, 0, 0.0))``, without np.insert's
    # generic (slow) path: this runs once per tick per average, in bots and backtests alike.
    cumsum = np.concatenate((_ZERO, np.cumsum(values, dtype=float)))
    return (cumsum[period:] - cumsum[:-period]) / period


def window_sums(closes: np.ndarray, length: int, counts) -> dict[int, np.ndarray]:
    """For every full window ``closes[i - length : i]`` (``i`` from ``length`` to ``len(closes)``),
    the sum of its first ``k`` closes for each ``k`` in ``counts``, added one close at a time
    from the window's start: the very floats ``np.cumsum`` gives on that window alone (its
    additions run in order), computed for all windows at once."""
    windows = len(closes) - length + 1
    wanted = set(counts)
    out = {0: np.zeros(max(windows, 0))} if 0 in wanted else {}
    if windows <= 0:
        return {k: np.empty(0) for k in wanted}
    acc = np.array(closes[0:windows], dtype=float)
    for k in range(1, max(wanted) + 1):
        if k > 1:
            np.add(acc, closes[k - 1 : k - 1 + windows], out=acc)
        if k in wanted:
            out[k] = acc.copy()
    return out
