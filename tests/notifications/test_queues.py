"""Notification deliveries never share workers with bot ticks (issue 21): their own queue,
their own worker in both layouts, and that worker is not counted as the engine."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery import Celery

from bots.tasks import takes_ticks
from config.celery import app
from config.processes import PROCFILE, PROCFILE_EMBEDDED, read_procfile

NOTIFICATION_TASKS = ["fanout_task", "deliver_task", "sweep_task", "purge_task"]


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize("task", NOTIFICATION_TASKS)
def test_every_notification_task_goes_to_the_notifications_queue(task):
    assert queue_of(f"notifications.tasks.{task}") == "notifications"


@pytest.mark.parametrize("task", ["bots.tick_batch", "bots.dispatch", "bots.housekeeping", "bots.backtest_run"])
def test_ticks_and_housekeeping_stay_on_the_default_queue(task):
    assert queue_of(task) == "celery"


@pytest.mark.parametrize("procfile", [PROCFILE_EMBEDDED, PROCFILE], ids=["Procfile.embedded", "Procfile"])
def test_each_layout_runs_a_worker_per_queue(procfile):
    specs = read_procfile(procfile, {})

    def queues(name: str) -> str:
        argv = specs[name].argv
        return argv[argv.index("-Q") + 1]

    assert queues("worker") == "celery"
    assert queues("notify") == "notifications"


def _consumer(*queues: str) -> SimpleNamespace:
    worker_app = Celery("botfleet-test", set_as_current=False)
    if queues:
        worker_app.amqp.queues.select(list(queues))
    return SimpleNamespace(app=worker_app)


def test_only_a_worker_that_takes_ticks_is_the_engine():
    assert takes_ticks(_consumer())  # no -Q: every queue, the default one included
    assert takes_ticks(_consumer("celery"))
    assert takes_ticks(_consumer("celery", "notifications"))
    assert not takes_ticks(_consumer("notifications"))
