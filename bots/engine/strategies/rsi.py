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
    # The seed is a running sum (np.cumsum adds in order), not np.mean (pairwise): the
    # arithmetic :func:`signals` repeats for every window of a series at once.
    avg_gain = float(np.cumsum(gains[:period])[-1] / period)
    avg_loss = float(np.cumsum(losses[:period])[-1] / period)
    # Python floats (the same IEEE doubles as numpy's, several times faster one at a time).
    for gain, loss in zip(gains[period:].tolist(), losses[period:].tolist(), strict=True):
        avg_gain = (avg_gain * (period - 1) + gain) / period
        avg_loss = (avg_loss * (period - 1) + loss) / period
    if avg_loss == 0:
        return 100.0 if avg_gain > 0 else 50.0
    return float(100 - 100 / (1 + avg_gain / avg_loss))


def signals(params: dict, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``decide``'s thresholds over a whole series (see :mod:`bots.engine.strategies`): at
    candle ``i``, :func:`rsi` of the window ``closes[i - lookback : i]``, each window's seed and
    smoothing computed step by step for all windows at once, the same operations in the same
    order. A window shorter than ``lookback`` (a series starting within the warm-up) starts
    at the first close: those are one smoothing run, step by step."""
    period = int(params["period"])
    n, length = len(closes), lookback(params)
    entry, leave = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    oversold, overbought = float(params["oversold"]), float(params["overbought"])
    deltas = np.diff(closes[: n - 1]) if n > 1 else np.empty(0)
    gains, losses = np.clip(deltas, 0, None), np.clip(-deltas, 0, None)
    if n > period + 1:  # windows closes[0:i], i from period + 1 up to length - 1
        avg_gain, avg_loss = np.cumsum(gains[:period])[-1] / period, np.cumsum(losses[:period])[-1] / period
        for i in range(period + 1, min(length, n)):
            if i > period + 1:
                avg_gain = (avg_gain * (period - 1) + gains[i - 2]) / period
                avg_loss = (avg_loss * (period - 1) + losses[i - 2]) / period
            value = (100.0 if avg_gain > 0 else 50.0) if avg_loss == 0 else float(100 - 100 / (1 + avg_gain / avg_loss))
            entry[i], leave[i] = value < oversold, value > overbought
    windows = n - length  # full windows: candles length .. n - 1
    if windows <= 0:
        return entry, leave
    averages = []
    for moves in (gains, losses):
        avg = np.array(moves[0:windows])
        for k in range(1, period):
            np.add(avg, moves[k : k + windows], out=avg)
        np.divide(avg, period, out=avg)
        for k in range(period, length - 1):
            np.multiply(avg, period - 1, out=avg)
            np.add(avg, moves[k : k + windows], out=avg)
            np.divide(avg, period, out=avg)
        averages.append(avg)
    avg_gain, avg_loss = averages
    flat = avg_loss == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(flat, np.where(avg_gain > 0, 100.0, 50.0), 100 - 100 / (1 + avg_gain / avg_loss))
    entry[length:] = value < oversold
    leave[length:] = value > overbought
    return entry, leave


def decide(params: dict, view: View) -> Decision:
    value = rsi(view.closes, int(params["period"]))
    if value is None:
        return HOLD_DECISION
    if value < float(params["oversold"]) and view.position <= 0:
        return Decision(BUY, quote=entry_quote(view), reason="rsi_oversold", tag={"rsi": round(value, 2)})
    if value > float(params["overbought"]) and view.position > 0:
        return Decision(SELL, quantity=view.position, reason="rsi_overbought", tag={"rsi": round(value, 2)})
    return HOLD_DECISION
