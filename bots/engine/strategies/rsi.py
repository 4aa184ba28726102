"""RSI reversion: buy when Wilder's RSI falls below ``oversold``, sell above ``overbought``."""

from __future__ import annotations

import numpy as np

from bots.engine.strategies import BUY, HOLD_DECISION, SELL, Decision, View, default_on_fill, entry_quote

on_fill = default_on_fill


def lookback(params: dict) -> int:
    # Wilder's smoothing needs a run-in beyond the period to settle.
    return int(params["period"]) * 4 + 1


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
