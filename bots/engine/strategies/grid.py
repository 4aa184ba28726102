"""Grid: ``levels`` evenly spaced buy lines from ``lower`` to ``upper``; each slot bought at
its line is sold one line higher.

Memory (``state["held"]``): line index → base quantity bought there. One order per tick:
a sell of a slot whose next line the price has reached comes first, else a buy at the
nearest line at or above the price when that is below every line already held (grids
buy dips). Each slot spends ``capital / levels``.
"""

from __future__ import annotations

from bots.engine.strategies import BUY, HOLD_DECISION, SELL, Decision, Fill, View


def lookback(params: dict) -> int:
    return 1


def lines(params: dict) -> list[float]:
    lower, upper, levels = float(params["lower"]), float(params["upper"]), int(params["levels"])
    step = (upper - lower) / (levels - 1)
    return [lower + i * step for i in range(levels)]


def decide(params: dict, view: View) -> Decision:
    grid = lines(params)
    held: dict = view.state.get("held", {})
    price = view.price
    for index in sorted(held, key=int):
        i = int(index)
        if i + 1 < len(grid) and price >= grid[i + 1] and held[index] > 0:
            quantity = min(float(held[index]), view.position)
            if quantity > 0:
                return Decision(SELL, quantity=quantity, reason="grid_take", tag={"line": i})
    if price < grid[0] or price > grid[-1]:
        return HOLD_DECISION
    slot = view.capital / len(grid)
    above = [i for i, line in enumerate(grid) if line >= price and i + 1 < len(grid)]
    if not above:
        return HOLD_DECISION
    i = min(above)  # the nearest line at or above the price
    # Buy on the way down only: below every line already held.
    if held and i >= min(int(k) for k in held):
        return HOLD_DECISION
    if view.cash >= slot * 0.999:
        return Decision(BUY, quote=slot, reason="grid_buy", tag={"line": i})
    return HOLD_DECISION


def on_fill(params: dict, state: dict, decision: Decision, fill: Fill) -> dict:
    held = dict(state.get("held", {}))
    key = str(decision.tag.get("line"))
    if decision.tag.get("line") is None:
        # A protective exit (stop-loss, take-profit) sold everything: the grid starts over.
        return {**state, "held": {}} if fill.side == SELL else state
    if fill.side == BUY:
        held[key] = held.get(key, 0.0) + fill.quantity
    else:
        remaining = held.get(key, 0.0) - fill.quantity
        if remaining > 1e-12:
            held[key] = remaining
        else:
            held.pop(key, None)
    return {**state, "held": held}
