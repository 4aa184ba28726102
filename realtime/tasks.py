"""Celery entry points for realtime housekeeping."""

from celery import shared_task

from realtime.services import events_purge


@shared_task(acks_late=True, ignore_result=True)
def events_purge_task() -> int:
    """Idempotent: deletes what is past retention, whoever runs it."""
    return events_purge()
