"""The event types signals emit (API.md "realtime": category ``bot_update``).

Registered from ``SignalsConfig.ready``; ``signal`` is ``{id, source, action, symbol,
status, reason}``, so a dashboard updates a signal bot's history as signals arrive.
"""

from __future__ import annotations

from realtime.registry import BOT_UPDATE, EventType, register

EVENT_TYPES = (
    EventType(
        "signal_received",
        BOT_UPDATE,
        "A signal bot received a signal: accepted, or rejected with the reason (it is in its history).",
        required={"signal": dict},
    ),
    EventType(
        "signal_rejected",
        BOT_UPDATE,
        "An accepted signal was refused when acted on (the bot stopped or was locked since it arrived).",
        required={"signal": dict},
    ),
    EventType(
        "signal_executed",
        BOT_UPDATE,
        "An accepted signal was acted on: its order was placed (``signal.order_id``).",
        required={"signal": dict},
    ),
    EventType(
        "signal_failed",
        BOT_UPDATE,
        "An accepted signal could not be acted on (nothing to sell, or the bot's rules refused its order).",
        required={"signal": dict},
    ),
)


def register_all() -> None:
    for event_type in EVENT_TYPES:
        register(event_type)


def signal_summary(signal) -> dict:
    return {
        "id": signal.pk,
        "source": signal.source,
        "action": signal.action,
        "symbol": signal.symbol,
        "status": signal.status,
        "reason": signal.reason or None,
        "order_id": signal.order_id,
    }
