"""Signal bots: every decision comes from outside (a webhook or an imported text signal).

On its own tick the strategy never trades: ``decide`` always holds. A signal is acted on
at once by ``signals.tasks.signal_execute``, which hands the bot's order to the same
engine path as a manual order (limiter, training bay, halt, flags, overrides, bodyguard).
The engine's protective exits (stop-loss, take-profit, overrides) still run on its ticks:
they are the bot's, not the strategy's.
"""

from __future__ import annotations

from bots.engine.strategies import HOLD_DECISION, Decision, View, default_on_fill

on_fill = default_on_fill


def lookback(params: dict) -> int:
    return 1


def decide(params: dict, view: View) -> Decision:
    return HOLD_DECISION
