"""Signals' Celery task: act on an accepted signal at once (not at the bot's next tick)."""

from __future__ import annotations

from celery import shared_task

from signals import services


@shared_task(acks_late=True, ignore_result=True, time_limit=60, soft_time_limit=50)
def signal_execute(signal_id: int) -> None:
    services.signal_execute(signal_id=signal_id)
