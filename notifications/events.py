"""The event types notifications emits: the engine watchdog's alerts (and a channel's test).

``engine_offline`` goes to staff (a staff-only event) and to each owner of a running
bot; ``engine_online`` follows when a worker beats again.
"""

from __future__ import annotations

from realtime.registry import ADMIN_UPDATE, EventType, register

_ENGINE = {"last_heartbeat": str, "silent_seconds": (int, float), "running_bots": int}

ENGINE_OFFLINE = EventType(
    "engine_offline",
    ADMIN_UPDATE,
    "No engine worker has written a heartbeat for ENGINE_OFFLINE_SECONDS (60 s): bots are not being ticked.",
    required={"silent_seconds": (int, float)},
    optional=_ENGINE,
)
ENGINE_ONLINE = EventType(
    "engine_online",
    ADMIN_UPDATE,
    "An engine worker beats again after an engine_offline alert: bots are ticked again.",
    required={"offline_seconds": (int, float)},
    optional=_ENGINE,
)
EVENT_TYPES = (ENGINE_OFFLINE, ENGINE_ONLINE)


def register_all() -> None:
    for event_type in EVENT_TYPES:
        register(event_type)
