"""Signals' Celery tasks: act on an accepted signal at once (not at the bot's next tick), and sweep
up what a killed worker left."""

from __future__ import annotations

from celery import shared_task

from signals import services

MAX_RETRIES = 20


@shared_task(bind=True, acks_late=True, ignore_result=True, time_limit=60, soft_time_limit=50, max_retries=MAX_RETRIES)
def signal_execute(self, signal_id: int) -> None:
    """Drain the signal's bot (``services.signals_drain``); a bot busy with a long tick batch is
    tried again every half second, then its signal at the head is refused as busy."""
    try:
        services.signal_execute(signal_id=signal_id, last_attempt=self.request.retries >= MAX_RETRIES)
    except services.BotBusy as exc:
        raise self.retry(countdown=0.5, exc=exc) from None


@shared_task(ignore_result=True, time_limit=30, soft_time_limit=25)
def signals_sweep_task() -> int:
    """Beat: a task for the signals a killed worker left (``services.signals_sweep``)."""
    return services.signals_sweep()
