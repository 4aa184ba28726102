"""realtime's periodic tasks (collected by ``config.schedule``): housekeeping, always on."""

from celery.schedules import crontab


def entries() -> dict:
    return {
        "realtime-purge-events": {
            "task": "realtime.tasks.events_purge_task",
            "schedule": crontab(minute=17, hour="*/6"),
        },
    }
