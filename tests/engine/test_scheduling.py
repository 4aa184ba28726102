"""Dispatch, housekeeping, heartbeats and the engine's commands."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from bots import schedule, selectors
from bots.engine import heartbeat
from bots.models import Bot, Trade, WorkerHeartbeat
from bots.tasks import engine_dispatch_task
from tests.engine.factories import dca_bot, running_bot

pytestmark = pytest.mark.django_db


def test_dispatch_is_scheduled_only_with_enable_schedulers(settings):
    settings.ENABLE_SCHEDULERS = False
    assert set(schedule.entries()) == {"engine-housekeeping"}
    settings.ENABLE_SCHEDULERS = True
    assert set(schedule.entries()) == {"engine-housekeeping", "engine-dispatch"}
    from config.schedule import beat_schedule

    assert beat_schedule()["engine-dispatch"]["task"] == "bots.dispatch"


def test_dispatch_sends_one_batch_per_batch_size_of_due_bots(owner, settings):
    settings.ENGINE_BATCH_SIZE = 2
    due = [dca_bot(owner=owner, next_tick_at=timezone.now() - timedelta(seconds=1)) for _ in range(5)]
    running_bot(owner=owner, next_tick_at=timezone.now() + timedelta(hours=1))  # not due
    assert engine_dispatch_task.delay().get() == 3
    assert Trade.objects.filter(bot__in=due).count() == 5
    # Everything ticked: the next beat has nothing to send.
    assert engine_dispatch_task.delay().get() == 0


def test_a_lost_batch_is_sent_again_by_the_next_beat(owner):
    bot = dca_bot(owner=owner, next_tick_at=timezone.now() - timedelta(seconds=1))
    # The batch task was lost before any worker ran it: the bot is still due, nothing is leased.
    assert Bot.objects.get(pk=bot.pk).claimed_until is None
    assert engine_dispatch_task.delay().get() == 1
    assert Trade.objects.filter(bot=bot).count() == 1


def test_heartbeat_makes_the_engine_online_and_a_clean_stop_takes_it_offline(settings):
    settings.ENGINE_HEARTBEAT_SECONDS = 3600
    assert selectors.engine_status()["status"] == "offline"
    heartbeat.start("worker@test")
    try:
        status = selectors.engine_status()
        assert (status["status"], status["workers"]) == ("online", 1)
        assert WorkerHeartbeat.objects.get().info["flags"]["schedulers"] is False
    finally:
        heartbeat.stop()
    assert selectors.engine_status()["status"] == "offline"


def test_a_silent_worker_is_offline_after_thirty_seconds():
    WorkerHeartbeat.objects.create(name="worker@dead", last_seen=timezone.now() - timedelta(seconds=31))
    assert selectors.engine_status()["status"] == "offline"


def test_housekeeping_prunes_workers_gone_for_a_day():
    from bots.tasks import engine_housekeeping_task

    WorkerHeartbeat.objects.create(name="worker@gone", last_seen=timezone.now() - timedelta(days=2))
    assert engine_housekeeping_task.delay().get() == {"reconciled": 0, "pruned": 1}


def test_engine_status_command(owner):
    running_bot(owner=owner, next_tick_at=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("engine", "status", stdout=out)
    text = out.getvalue()
    assert "Engine: offline (0 worker(s)" in text
    assert "Bots: 1 running, 1 due, 0 leased by a worker" in text
    assert "Fleet halt: off" in text
    assert "Feature flags: trading=off" in text


def test_bots_tick_command_ticks_one_bot_now(owner):
    bot = dca_bot(owner=owner, next_tick_at=timezone.now() + timedelta(hours=1))
    out = StringIO()
    call_command("bots", "tick", str(bot.pk), stdout=out)
    assert out.getvalue().strip() == f"Bot {bot.pk} ticked: 1 order(s), 1 fill(s)"
    Bot.objects.filter(pk=bot.pk).update(status="paused")
    with pytest.raises(CommandError, match="was not ticked: it is paused"):
        call_command("bots", "tick", str(bot.pk))
    with pytest.raises(CommandError, match="no bot 999999"):
        call_command("bots", "tick", "999999")
