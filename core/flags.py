"""Feature flags, read once at process start and logged on one line."""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger("botfleet.flags")


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def feature_flags_line() -> str:
    return (
        f"Feature flags: trading={_on_off(settings.ENABLE_TRADING)} "
        f"schedulers={_on_off(settings.ENABLE_SCHEDULERS)} "
        f"autopilot={_on_off(settings.ENABLE_AUTOPILOT)} "
        f"bodyguard={_on_off(not settings.DISABLE_AI_BODYGUARD)} "
        f"live_min_training_hours={settings.LIVE_MIN_TRAINING_HOURS:g}"
    )


def feature_flags() -> dict:
    return {
        "trading": settings.ENABLE_TRADING,
        "schedulers": settings.ENABLE_SCHEDULERS,
        "autopilot": settings.ENABLE_AUTOPILOT,
        "bodyguard": not settings.DISABLE_AI_BODYGUARD,
        "live_min_training_hours": settings.LIVE_MIN_TRAINING_HOURS,
    }


def log_feature_flags(process: str) -> None:
    logger.info("%s (%s)", feature_flags_line(), process)
