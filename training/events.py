"""The event types the training bay emits (API.md "realtime": category ``bot_update``).

Registered from ``TrainingConfig.ready``. ``bot`` is the bot's API representation
(``bots.serializers.bot_to_dict``), so clients update their bot card from any of them.
"""

from __future__ import annotations

from realtime.registry import BOT_UPDATE, EventType, register

_NUMBER = (int, float)

EVENT_TYPES = (
    EventType(
        "training_eligible",
        BOT_UPDATE,
        "A bot's training countdown completed: it may be promoted to real-money trading (once per period).",
        required={"bot": dict, "hours_elapsed": _NUMBER, "min_training_hours": _NUMBER},
    ),
    EventType(
        "bot_promoted",
        BOT_UPDATE,
        "A bot left the training bay and trades real money from now on, starting flat.",
        required={"bot": dict, "source": str, "forced": bool, "hours_elapsed": _NUMBER},
        optional={"reason": str, "closed_positions": list, "actor_id": int, "metrics": dict},
    ),
    EventType(
        "autopilot_skipped",
        BOT_UPDATE,
        "Autopilot did not promote an eligible bot; ``reason`` says why (``reasons`` holds the codes).",
        required={"bot": dict, "reason": str, "reasons": list},
        optional={"metrics": dict},
    ),
)


def register_all() -> None:
    for event_type in EVENT_TYPES:
        register(event_type)
