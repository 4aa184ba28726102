"""notifications' periodic task (collected by ``config.schedule``): always on.

The relay's nudge sends within a second; the sweep catches what a lost nudge left and
sends the retries that came due, so it runs often (``NOTIFICATIONS_SWEEP_SECONDS``, 5 s).
"""

from celery.schedules import crontab
from django.conf import settings


def entries() -> dict:
    seconds = float(getattr(settings, "NOTIFICATIONS_SWEEP_SECONDS", 5.0))
    return {
        "notifications-sweep": {
            "task": "notifications.tasks.sweep_task",
            "schedule": seconds,
            "options": {"expires": max(seconds * 2, 10)},
        },
        "notifications-purge": {
            "task": "notifications.tasks.purge_task",
            "schedule": crontab(minute=23, hour="*/6"),
        },
    }
