"""RSI reversion: buy when Wilder's RSI falls below ``oversold``, sell above ``overbought``."""

from __future__ import annotations

import math

import numpy as np

from bots.engine.strategies import (
    BUY,
    HOLD_DECISION,
    MAX_LOOKBACK,
    SELL,
    Decision,
    View,
    default_on_fill,
    entry_quote,
)

on_fill = default_on_fill

# Weight the seed of the smoothing may keep in the last value. Wilder's averages forget
# their seed geometrically, by (period - 1) / period per candle; a window whose seed
# weighs under 1e-9 gives the RSI of the whole history to ~1e-7 (a 4n+1 window, as
# before, kept 1.5 % of it: up to 2 RSI points off, 9 flipped signals of 5,703 on ETH/BTC).
SEED_WEIGHT = 1e-9


def lookback(params: dict) -> int:
    """``period + 1`` closes for the seed, plus the run-in that makes the seed negligible.

    Period 14 needs 295 closes (real venues serve 300). Bounded by what a venue serves
    (:data:`~bots.engine.strategies.MAX_LOOKBACK`): beyond period 46 the value is an
    approximation whose seed still weighs ``((period - 1) / period) ** (window - period - 1)``.
    """
    period = int(params["period"])
    run_in = math.ceil(math.log(SEED_WEIGHT) / math.log1p(-1 / period)) if period > 1 else 0
    return min(MAX_LOOKBACK, period + 1 + run_in)


def rsi(closes: np.ndarray, period: int) -> float | None:
    """Wilder's RSI of the last close (0–100), or ``None`` without ``period + 1`` closes."""
    if len(closes) < period + 1:
        return None
    deltas = np.diff(closes)
    gains, losses = np.clip(deltas, 0, None), np.clip(-deltas, 0, None)
    avg_gain, avg_loss = gains[:period].mean(), losses[:period].mean()
    for gain, loss in zip(gains[period:], losses[period:], strict=True):
        avg_gain = (avg_gain * (period - 1) + gain) / period
        avg_loss = (avg_loss * (period - 1) + loss) / period
    if avg_loss == 0:
        return 100.0 if avg_gain > 0 else 50.0
    return float(100 - 100 / (1 + avg_gain / avg_loss))


def decide(params: dict, view: View) -> Decision:
    value = rsi(view.closes, int(params["period"]))
    if value is None:
        return HOLD_DECISION
    if value < float(params["oversold"]) and view.position <= 0:
        return Decision(BUY, quote=entry_quote(view), reason="rsi_oversold", tag={"rsi": round(value, 2)})
    if value > float(params["overbought"]) and view.position > 0:
        return Decision(SELL, quantity=view.position, reason="rsi_overbought", tag={"rsi": round(value, 2)})
    return HOLD_DECISION
