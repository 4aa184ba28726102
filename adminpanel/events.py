"""The event types adminpanel emits (category ``admin_update``), registered from
``AdminpanelConfig.ready``.

Force-pausing reuses bots' ``bot_paused`` and staff stops reuse ``bot_stopped`` (with
``reason`` and ``actor_id``), so a client's bot view needs no new case; what only staff
do has its own type here. Bot events go to the owner (and staff); fleet events are
staff-only.
"""

from __future__ import annotations

from realtime.registry import ADMIN_UPDATE, EventType, register

_ACTOR = {"actor_id": int}

EVENT_TYPES = (
    EventType(
        "override_updated",
        ADMIN_UPDATE,
        "Staff changed a bot's override rules (they apply from its next tick).",
        required={"bot": dict, "rules": dict},
        optional={**_ACTOR, "previous_rules": dict, "force_paused": bool},
    ),
    EventType(
        "bot_released",
        ADMIN_UPDATE,
        "Staff released a force-paused bot; it stays paused until its owner resumes it.",
        required={"bot": dict},
        optional=_ACTOR,
    ),
    EventType(
        "fleet_halted",
        ADMIN_UPDATE,
        "Staff halted the fleet: no live order leaves until it is resumed.",
        required={"halted": bool, "reason": str, "since": str},
        optional=_ACTOR,
    ),
    EventType(
        "fleet_resumed",
        ADMIN_UPDATE,
        "Staff lifted the fleet halt.",
        required={"halted": bool, "reason": str, "since": str},
        optional=_ACTOR,
    ),
    EventType(
        "user_updated_by_staff",
        ADMIN_UPDATE,
        "Staff changed an account (active, staff flag, lockout).",
        required={"user_id": int, "changed": list},
        optional=_ACTOR,
    ),
)


def register_all() -> None:
    for event_type in EVENT_TYPES:
        register(event_type)
