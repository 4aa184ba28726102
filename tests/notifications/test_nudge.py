"""The relay nudges the fan-out after each published batch, off its own loop, once at a time."""

from __future__ import annotations

import threading

from notifications import dispatch
from realtime import registry, relay


def test_the_relay_tells_its_listeners_and_survives_a_broken_one():
    heard: list[list[int]] = []

    def broken(seqs):
        raise RuntimeError("a listener's bug")

    registry.add_publish_listener(broken)
    registry.add_publish_listener(heard.append)
    try:
        relay._tell_listeners([5, 6])
    finally:
        registry._publish_listeners.remove(broken)
        registry._publish_listeners.remove(heard.append)
    assert heard == [[5, 6]]
    assert dispatch.on_published in registry.publish_listeners()  # notifications registered at start


def test_a_nudge_queues_one_fan_out_on_a_thread_of_its_own(settings, monkeypatch):
    from notifications import tasks

    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued = threading.Event()
    threads: list[str] = []

    def apply_async(**kwargs):
        threads.append(threading.current_thread().name)
        queued.set()

    monkeypatch.setattr(tasks.fanout_task, "apply_async", apply_async)
    dispatch.on_published([1])
    assert queued.wait(5)
    assert threads == ["notify-kick_0"]


def test_a_broker_outage_never_reaches_the_relay(settings, monkeypatch):
    from notifications import tasks

    settings.CELERY_TASK_ALWAYS_EAGER = False
    tried = threading.Event()

    def down(**kwargs):
        tried.set()
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.fanout_task, "apply_async", down)
    dispatch.on_published([1])  # returns at once, raises nothing
    assert tried.wait(5)


def test_at_most_one_fan_out_waits_in_the_queue(settings, monkeypatch):
    from django.core.cache import cache

    from notifications import tasks

    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(dispatch, "KICK_COALESCE_SECONDS", 0)  # _kick is called directly: nothing to coalesce
    queued: list[int] = []
    monkeypatch.setattr(tasks.fanout_task, "apply_async", lambda **kwargs: queued.append(1))
    for _ in range(3):
        dispatch._kick()  # three nudges while the first fan-out has not started
    assert queued == [1]
    cache.delete(dispatch.KICK_KEY)  # it started
    dispatch._kick()
    assert queued == [1, 1]
