"""SMA crossover: buy when the fast SMA crosses above the slow one, sell on the cross below.

A cross is judged on closed candles only (the last two), so every tick within one
candle sees the same signal, and a restarted worker reaches the same decision.

Memory: ``entered_candle``, the candle whose cross the last entry bought. A cross is
entered once: after an exit within that same candle (a stop-loss or take-profit), the
signal still reads "crossed up" until the candle closes, and buying it again would
repeat the trade the exit just ended.
"""

from __future__ import annotations

from bots.engine.strategies import BUY, HOLD_DECISION, SELL, Decision, Fill, View, entry_quote, sma


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


def on_fill(params: dict, state: dict, decision: Decision, fill: Fill) -> dict:
    if fill.side == BUY and "candle" in decision.tag:
        return {**state, "entered_candle": decision.tag["candle"]}
    return state
