"""The engine watchdog: no worker heartbeat for ``ENGINE_OFFLINE_SECONDS`` (60 s) →
``engine_offline`` to staff and to each owner of a running bot; ``engine_online`` to the
same people once a worker beats again.

It must run where the engine is not: when every worker is dead no Celery task runs, so
Celery beat runs it on a thread of its own (``config.celery``), every
``ENGINE_WATCH_SECONDS``. While the engine is offline that thread also fans out and sends
the alerts itself — nobody else would. The heartbeats are bots' and are read through
``realtime.registry.engine_status_provider`` (notifications may not import bots).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone

from notifications import conf, dispatch
from notifications.events import ENGINE_OFFLINE, ENGINE_ONLINE
from notifications.models import EngineWatch
from realtime import registry
from realtime.services import event_record

logger = logging.getLogger("botfleet.notifications")


def _watch() -> EngineWatch:
    watch = EngineWatch.objects.select_for_update().filter(pk=EngineWatch.SINGLETON_ID).first()
    if watch is None:
        EngineWatch.objects.bulk_create([EngineWatch(pk=EngineWatch.SINGLETON_ID)], ignore_conflicts=True)
        watch = EngineWatch.objects.select_for_update().get(pk=EngineWatch.SINGLETON_ID)
    return watch


def engine_watch(*, now=None) -> str | None:
    """One look; returns ``"offline"`` / ``"online"`` when it just changed, else None."""
    provider = registry.engine_status_provider()
    if provider is None:
        return None
    now = now or timezone.now()
    limit = float(conf.get("ENGINE_OFFLINE_SECONDS"))
    facts = provider()
    beat = facts.get("last_heartbeat")
    owners = list(facts.get("running_owner_ids") or [])
    with transaction.atomic():
        watch = _watch()
        if beat is not None and (watch.last_heartbeat is None or beat > watch.last_heartbeat):
            watch.last_heartbeat = beat
        silent = (now - (watch.last_heartbeat or watch.created_at)).total_seconds()
        fresh = beat is not None and (now - beat).total_seconds() < limit
        change = None
        if watch.online and not fresh and silent >= limit:
            change = "offline"
            _alert(ENGINE_OFFLINE.name, owners, watch, silent=silent, owners_running=len(owners))
        elif not watch.online and fresh:
            change = "online"
            _alert(ENGINE_ONLINE.name, owners, watch, offline=(now - watch.changed_at).total_seconds())
        if change:
            watch.online = change == "online"
            watch.changed_at = now
            logger.warning("engine %s: last worker heartbeat %s", change, watch.last_heartbeat or "never")
        watch.save()
    return change


def _alert(type_: str, owners: list[int], watch: EngineWatch, *, silent=None, offline=None, owners_running=0):
    last = watch.last_heartbeat.isoformat() if watch.last_heartbeat else None
    if type_ == ENGINE_OFFLINE.name:
        payload = {"silent_seconds": round(silent, 1), "last_heartbeat": last}
        message = f"Engine offline: no worker heartbeat for {int(silent)} s; bots are not being traded"
    else:
        payload = {"offline_seconds": round(offline, 1), "last_heartbeat": last}
        message = f"Engine back online after {int(offline)} s"
    event_record(type=type_, user_id=None, payload={**payload, "running_bots": owners_running}, message=message)
    for owner_id in owners:
        event_record(type=type_, user_id=owner_id, payload=payload, message=message)


def watch_and_rescue() -> None:
    """Beat's thread: look; while offline, fan out and send the engine alerts here."""
    change = engine_watch()
    if change == "offline" or not EngineWatch.objects.filter(pk=EngineWatch.SINGLETON_ID, online=True).exists():
        dispatch.fanout()
        dispatch.deliver_due(event_types=[ENGINE_OFFLINE.name, ENGINE_ONLINE.name, "test"])


_stop = threading.Event()


def run_forever(interval: float | None = None) -> None:
    every = interval or float(conf.get("ENGINE_WATCH_SECONDS"))
    logger.info("Engine watchdog started (every %g s, offline after %g s)", every, conf.get("ENGINE_OFFLINE_SECONDS"))
    while not _stop.wait(every):
        try:
            close_old_connections()
            watch_and_rescue()
        except DatabaseError as exc:
            logger.warning("engine watchdog: database unavailable (%s); retrying", exc.__class__.__name__)
        except Exception:
            logger.exception("engine watchdog failed; retrying")


def start_thread() -> threading.Thread:
    _stop.clear()
    thread = threading.Thread(target=run_forever, name="engine-watchdog", daemon=True)
    thread.start()
    return thread


def stop() -> None:
    _stop.set()


def offline_since() -> timedelta | None:
    watch = EngineWatch.objects.filter(pk=EngineWatch.SINGLETON_ID).first()
    return None if watch is None or watch.online else timezone.now() - watch.changed_at
