"""Settings with their defaults (config.settings sets them from the environment)."""

from __future__ import annotations

from django.conf import settings

_DEFAULTS = {
    "NOTIFICATIONS_HTTP_TIMEOUT": 5.0,  # each phase of one HTTP attempt
    "NOTIFICATIONS_RETRY_BASE_SECONDS": 5.0,  # first retry after this, doubling
    "NOTIFICATIONS_RETRY_MAX_SECONDS": 900.0,  # never more than this between attempts
    "NOTIFICATIONS_GIVE_UP_SECONDS": 86400.0,  # a delivery not done in a day is failed
    "NOTIFICATIONS_GROUP_SECONDS": 60.0,  # one message per channel and event type per window
    "NOTIFICATIONS_LEASE_SECONDS": 60.0,  # a claimed delivery is another worker's after this
    "NOTIFICATIONS_BATCH": 64,  # deliveries one task sends
    "NOTIFICATIONS_SENDERS": 16,  # concurrent requests of one task
    "NOTIFICATIONS_CODE_TTL_SECONDS": 3600,
    "NOTIFICATIONS_MAX_CHANNELS": 20,  # per user  # link and verification codes
    "ENGINE_OFFLINE_SECONDS": 60.0,
    "ENGINE_WATCH_SECONDS": 10.0,
}


def get(name: str):
    value = getattr(settings, name, None)
    return _DEFAULTS[name] if value is None else value
