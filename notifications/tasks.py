"""Thin Celery entry points. Each is idempotent: claims and the cursor make a second run harmless."""

from celery import shared_task
from django.core.cache import cache

from notifications import dispatch, services


@shared_task(ignore_result=True, acks_late=True)
def fanout_task() -> int:
    """Queued by the relay's nudge: deliveries for what was just published, then send them."""
    cache.delete(dispatch.KICK_KEY)  # first: what is published from now on queues the next one
    fanned = dispatch.fanout()
    dispatch.deliver_due()
    return fanned


@shared_task(ignore_result=True, acks_late=True)
def deliver_task() -> int:
    return dispatch.deliver_due()


@shared_task(ignore_result=True, acks_late=True)
def sweep_task() -> int:
    """Periodic: what a lost nudge left, retries that came due, Telegram links received."""
    dispatch.fanout()
    sent = dispatch.deliver_due()
    services.link_pending_telegram()
    return sent


@shared_task(ignore_result=True, acks_late=True)
def purge_task() -> int:
    return dispatch.deliveries_purge()
