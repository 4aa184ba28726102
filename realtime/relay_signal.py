"""How a committed event wakes the relay without waiting for its poll.

``notify()`` runs after the commit of every transaction that recorded events:

* on PostgreSQL it sends ``NOTIFY botfleet_events``; the active relay LISTENs on a
  dedicated connection, wherever it runs;
* in the same process (the embedded relay inside the ASGI server, or tests) it also
  wakes the relay's event loop directly.

A lost wake-up costs latency only: the relay polls every ``RELAY_POLL_SECONDS`` anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import DatabaseError, connection

LISTEN_CHANNEL = "botfleet_events"

logger = logging.getLogger("botfleet.relay")
_wakers: set[Callable[[], None]] = set()
_lock = threading.Lock()


def add_waker(waker: Callable[[], None]) -> None:
    with _lock:
        _wakers.add(waker)


def remove_waker(waker: Callable[[], None]) -> None:
    with _lock:
        _wakers.discard(waker)


def notify() -> None:
    with _lock:
        wakers = list(_wakers)
    for waker in wakers:
        waker()
    if connection.vendor == "postgresql":
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"NOTIFY {LISTEN_CHANNEL}")
        except DatabaseError:
            # The event is committed; the relay's poll finds it.
            logger.debug("NOTIFY failed; the relay's poll will pick the event up", exc_info=True)
