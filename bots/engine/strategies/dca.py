"""Dollar-cost averaging: buy ``order_pct`` of capital every ``every_ticks`` ticks, up to
``max_orders`` buys; sell everything once the price is ``take_profit_pct`` above the
average cost, then start over.

Memory: ``orders`` (buys in the current cycle) and ``last_buy_tick``.
"""

from __future__ import annotations

from bots.engine.strategies import BUY, HOLD_DECISION, SELL, Decision, Fill, View


def lookback(params: dict) -> int:
    return 1


def decide(params: dict, view: View) -> Decision:
    take_profit = float(params["take_profit_pct"])
    if view.position > 0 and view.average_cost > 0 and view.price >= view.average_cost * (1 + take_profit):
        return Decision(SELL, quantity=view.position, reason="dca_take_profit")
    orders = int(view.state.get("orders", 0))
    last = view.state.get("last_buy_tick")
    due = last is None or view.tick - int(last) >= int(params["every_ticks"])
    if due and orders < int(params["max_orders"]):
        quote = min(view.cash, view.capital * float(params["order_pct"]))
        if quote > 0:
            return Decision(BUY, quote=quote, reason="dca_buy", tag={"tick": view.tick})
    return HOLD_DECISION


def on_fill(params: dict, state: dict, decision: Decision, fill: Fill) -> dict:
    if fill.side == BUY:
        return {**state, "orders": int(state.get("orders", 0)) + 1, "last_buy_tick": decision.tag.get("tick")}
    return {**state, "orders": 0}
