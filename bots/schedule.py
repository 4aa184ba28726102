"""The engine's periodic tasks (collected by ``config.schedule``).

Bot dispatch only with ``ENABLE_SCHEDULERS`` (read when beat starts); housekeeping always.
``ENGINE_DISPATCH_SECONDS`` (default 5) is how often due bots are dispatched: a bot's
tick is at most that late.
"""

from __future__ import annotations

from django.conf import settings

from bots.engine.risk import setting


def entries() -> dict:
    schedule = {
        "engine-housekeeping": {
            "task": "bots.housekeeping",
            "schedule": setting("ENGINE_HOUSEKEEPING_SECONDS", 30.0),
            "options": {"expires": 60},
        }
    }
    if settings.ENABLE_SCHEDULERS:
        seconds = setting("ENGINE_DISPATCH_SECONDS", 5.0)
        schedule["engine-dispatch"] = {
            "task": "bots.dispatch",
            "schedule": seconds,
            "options": {"expires": max(seconds * 2, 10)},
        }
    return schedule
