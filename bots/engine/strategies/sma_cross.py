"""SMA crossover: buy when the fast SMA crosses above the slow one, sell on the cross below.

A cross is judged on closed candles only (the last two), so every tick within one
candle sees the same signal, and a restarted worker reaches the same decision.
"""

from __future__ import annotations

from bots.engine.strategies import BUY, HOLD_DECISION, SELL, Decision, View, default_on_fill, entry_quote, sma

on_fill = default_on_fill


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
    if crossed_up and view.position <= 0:
        return Decision(BUY, quote=entry_quote(view), reason="sma_cross_up")
    if crossed_down and view.position > 0:
        return Decision(SELL, quantity=view.position, reason="sma_cross_down")
    return HOLD_DECISION
