"""adminpanel's periodic tasks (collected by ``config.schedule``): housekeeping, always on.

The usage counters drift only through bulk deletions (event purges) and rows written
outside the services, so an hourly recount keeps the resource page within the hour.
"""

from celery.schedules import crontab


def entries() -> dict:
    return {
        "adminpanel-usage-reconcile": {
            "task": "adminpanel.tasks.usage_reconcile_task",
            "schedule": crontab(minute=41),
            "options": {"expires": 3000},
        },
    }
