"""SMA crossover: buy when the fast SMA crosses above the slow one, sell on the cross below.

A cross is judged on closed candles only (the last two), so every tick within one
candle sees the same signal, and a restarted worker reaches the same decision.

Memory: ``entered_candle``, the candle whose cross the last entry bought. A cross is
entered once: after an exit within that same candle (a stop-loss or take-profit), the
signal still reads "crossed up" until the candle closes, and buying it again would
repeat the trade the exit just ended.
"""

from __future__ import annotations

import numpy as np

from bots.engine.strategies import BUY, HOLD_DECISION, SELL, Decision, Fill, View, entry_quote, sma, window_sums


def lookback(params: dict) -> int:
    return int(params["slow"]) + 1


def decide(params: dict, view: View) -> Decision:
    fast_n, slow_n = int(params["fast"]), int(params["slow"])
    closes = view.closes
    if len(closes) < slow_n + 1:
        return HOLD_DECISION
    fast, slow = sma(closes, fast_n)[-2:], sma(closes, slow_n)[-2:]
    crossed_up = fast[0] <= slow[0] and fast[1] > slow[1]
    crossed_down = fast[0] >= slow[0] and fast[1] < slow[1]
    if crossed_up and view.position <= 0 and view.state.get("entered_candle") != view.candle:
        return Decision(BUY, quote=entry_quote(view), reason="sma_cross_up", tag={"candle": view.candle})
    if crossed_down and view.position > 0:
        return Decision(SELL, quantity=view.position, reason="sma_cross_down")
    return HOLD_DECISION


def signals(params: dict, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``decide``'s crosses over a whole series (see :mod:`bots.engine.strategies`): at candle
    ``i``, the averages of the window ``closes[i - slow - 1 : i]`` computed as ``sma`` computes
    them on that window (running sums from its start), so the same floats are compared."""
    fast_n, slow_n = int(params["fast"]), int(params["slow"])
    n, length = len(closes), lookback(params)
    up, down = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if n <= length or fast_n > slow_n:
        return up, down  # no full window: decide holds (a shorter window has too few closes)
    c = window_sums(closes[: n - 1], length, {length, length - 1, length - fast_n, length - 1 - fast_n, 1, 0})
    fast = ((c[length - 1] - c[length - 1 - fast_n]) / fast_n, (c[length] - c[length - fast_n]) / fast_n)
    slow = ((c[length - 1] - c[length - 1 - slow_n]) / slow_n, (c[length] - c[length - slow_n]) / slow_n)
    up[length:] = (fast[0] <= slow[0]) & (fast[1] > slow[1])
    down[length:] = (fast[0] >= slow[0]) & (fast[1] < slow[1])
    return up, down


def on_fill(params: dict, state: dict, decision: Decision, fill: Fill) -> dict:
    if fill.side == BUY and "candle" in decision.tag:
        return {**state, "entered_candle": decision.tag["candle"]}
    return state
