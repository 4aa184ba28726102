"""Celery entry points for adminpanel's housekeeping."""

from celery import shared_task

from adminpanel.services import usage_reconcile


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=600, time_limit=900)
def usage_reconcile_task() -> dict:
    """Idempotent: recounts and corrects the usage counters, whoever runs it (and however often)."""
    return usage_reconcile()
