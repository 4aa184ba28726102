"""Worker heartbeats: each Celery worker says it is alive every few seconds.

A daemon thread in the worker's main process (started on ``worker_ready``, so the
"started" line is true) calls ``bots.services.worker_heartbeat`` every
``ENGINE_HEARTBEAT_SECONDS`` (default 10 s). On a clean shutdown the worker's row is
removed, so ``GET status`` turns offline as soon as the last worker stops; a killed
worker simply stops beating and is offline within ``WorkerHeartbeat.ONLINE_SECONDS``
(30 s). The beat's own housekeeping prunes rows of workers gone for a day.

A heartbeat proves only that the worker's main process lives, not that its pool runs
ticks (a wedged pool beats on): ``status`` and ``ready`` also count running bots that
are overdue (``bots.selectors.overdue_bots_count``) and say ``stalled`` / ``engine`` down.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.db import DatabaseError, close_old_connections, connection

from bots.engine.risk import setting

logger = logging.getLogger("botfleet.engine")

_stop = threading.Event()
_thread: threading.Thread | None = None
_name = ""


def interval() -> float:
    return setting("ENGINE_HEARTBEAT_SECONDS", 10.0)


def _beat() -> None:
    from bots.services import worker_heartbeat
    from core.flags import feature_flags

    worker_heartbeat(
        name=_name,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        info={"flags": feature_flags()},
    )


def _run() -> None:
    # start() wrote the first beat; this thread writes the next ones.
    while not _stop.wait(interval()):
        try:
            _beat()
        except DatabaseError:
            logger.warning("Heartbeat not written (database unavailable); retrying")
            close_old_connections()
    connection.close()


def start(worker_name: str) -> None:
    global _thread, _name
    if _thread is not None and _thread.is_alive():
        return
    _name = worker_name or f"worker@{socket.gethostname()}:{os.getpid()}"
    _stop.clear()
    _beat()  # the first beat before saying so: "started" only when it really did
    _thread = threading.Thread(target=_run, name="engine-heartbeat", daemon=True)
    _thread.start()
    logger.info("Engine heartbeat started (%s, every %g s)", _name, interval())


def stop() -> None:
    global _thread
    _stop.set()
    if _thread is not None:
        _thread.join(timeout=5)
        _thread = None
    from bots.models import WorkerHeartbeat

    try:
        WorkerHeartbeat.objects.filter(name=_name).delete()
        connection.close()
    except DatabaseError:
        pass


def prune(*, now) -> int:
    """Drop rows of workers gone for a day; warn when no worker is alive. Returns rows dropped."""
    from datetime import timedelta

    from bots.models import WorkerHeartbeat

    pruned, _ = WorkerHeartbeat.objects.filter(last_seen__lt=now - timedelta(days=1)).delete()
    fresh = now - timedelta(seconds=WorkerHeartbeat.ONLINE_SECONDS)
    if not WorkerHeartbeat.objects.filter(last_seen__gte=fresh).exists():
        logger.warning("Engine offline: no worker heartbeat in the last %s s", WorkerHeartbeat.ONLINE_SECONDS)
    return pruned
