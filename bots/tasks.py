"""Celery entry points of the engine: thin, bounded, idempotent.

* ``engine_dispatch_task`` (beat, only with ``ENABLE_SCHEDULERS``): counts due bots and
  sends that many batches of ``bots_tick_batch_task``. Nothing relies on redelivery: a
  lost batch leaves its bots due (or leased until the lease expires) and the next beat
  sends them again.
* ``bots_tick_batch_task``: claims and ticks one batch (``bots.engine.tick.tick_batch``).
* ``bot_tick_task``: one bot now.
* ``engine_housekeeping_task`` (beat, always): reconcile orders left in flight, prune
  heartbeats of workers long gone, fail backtests whose worker died (their lease expired),
  log when the engine has no live worker.
* ``backtest_run_task``: one backtest run (a sweep sends one per combination).

Worker heartbeats are a thread per worker process (``bots.engine.heartbeat``), started
on ``worker_ready`` (in workers that take ticks: ``takes_ticks``) and stopped on ``worker_shutdown``.
"""

from __future__ import annotations

import logging
import math

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.utils import timezone

from bots.engine import heartbeat, tick

logger = logging.getLogger("botfleet.engine")

# Limits below the lease (ENGINE_LEASE_SECONDS): a batch killed for running too long
# has released nothing, and its lease must outlive it so no other worker ticks the
# same bots meanwhile. A crashed worker's bots wait at most one lease.
TICK_TIME_LIMIT = max(5, int(tick.lease_seconds() * 0.8))
TICK_SOFT_TIME_LIMIT = max(4, int(tick.lease_seconds() * 0.65))


@shared_task(name="bots.dispatch", ignore_result=True, time_limit=30, soft_time_limit=25)
def engine_dispatch_task() -> int:
    batches = math.ceil(tick.due_count(now=timezone.now()) / tick.batch_size())
    for _ in range(batches):
        # Expires: a batch still queued when the next dispatches arrive is useless.
        bots_tick_batch_task.apply_async(expires=60)
    return batches


@shared_task(
    name="bots.tick_batch", ignore_result=True, time_limit=TICK_TIME_LIMIT, soft_time_limit=TICK_SOFT_TIME_LIMIT
)
def bots_tick_batch_task() -> dict:
    report = tick.tick_batch()
    return {"claimed": report.claimed, "orders": report.orders, "fills": report.fills, "errors": report.errors}


@shared_task(name="bots.tick", ignore_result=True, time_limit=TICK_TIME_LIMIT, soft_time_limit=TICK_SOFT_TIME_LIMIT)
def bot_tick_task(bot_id: int) -> dict:
    report = tick.tick_bot(bot_id)
    return {"claimed": report.claimed, "orders": report.orders, "fills": report.fills, "errors": report.errors}


@shared_task(name="bots.housekeeping", ignore_result=True, time_limit=120, soft_time_limit=100)
def engine_housekeeping_task() -> dict:
    from bots.services.backtests import backtests_reap

    failed = backtests_reap()
    if failed:
        logger.warning("%s backtest(s) failed: their worker stopped before they ended", failed)
    return {"reconciled": tick.reconcile_orders(), "pruned": heartbeat.prune(now=timezone.now())}


@shared_task(name="bots.backtest_run", ignore_result=True, acks_late=False)
def backtest_run_task(backtest_id: int) -> str:
    """One backtest (or one combination of a sweep): claimed once, run, result written."""
    from bots.services.backtests import backtest_run

    return backtest_run(backtest_id)


def takes_ticks(consumer) -> bool:
    """Whether a worker consumes the default queue (bot ticks). A notifications-only worker
    (``-Q notifications``) is not the engine: its heartbeat would say "online" while no
    worker ticks bots, and the watchdog would never alert."""
    queues = consumer.app.amqp.queues
    return consumer.app.conf.task_default_queue in set(queues.consume_from or queues)


@worker_ready.connect
def _start_heartbeat(sender=None, **kwargs) -> None:
    if sender is not None and not takes_ticks(sender):
        return
    heartbeat.start(getattr(sender, "hostname", "") if sender is not None else "")


@worker_shutdown.connect
def _stop_heartbeat(sender=None, **kwargs) -> None:
    heartbeat.stop()
