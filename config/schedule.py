"""Every periodic task in one place.

Housekeeping always runs; trading dispatch and autopilot only when their feature flags
are on (read once, at process start, like every flag). Apps contribute entries through
their ``schedule()`` functions so this module stays the single list, in order.
"""

from __future__ import annotations

from importlib import import_module

# Apps that contribute periodic tasks, each through ``<app>.schedule.entries()``.
_CONTRIBUTORS = ("realtime", "bots", "training", "adminpanel", "credentials", "accounts", "notifications", "signals")


def beat_schedule() -> dict:
    schedule: dict = {}
    for app_label in _CONTRIBUTORS:
        try:
            module = import_module(f"{app_label}.schedule")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app_label}.schedule":
                raise
            continue
        schedule.update(module.entries())
    return schedule
