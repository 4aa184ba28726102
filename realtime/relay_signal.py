"""How a committed event wakes the relay without waiting for its poll.

``notify()`` runs after the commit of every transaction that recorded events:

* on PostgreSQL it sends ``NOTIFY botfleet_events``; the active relay LISTENs on a
  dedicated connection, wherever it runs;
* in the same process (the embedded relay inside the ASGI server, or tests) it also
  wakes the relay's event loop directly.

A lost wake-up costs latency only: the relay polls every ``RELAY_POLL_SECONDS`` anyway.
So a caller committing many small transactions in a row (the engine's batch) may wrap them
in :func:`coalesced`: one ``NOTIFY`` per window instead of one per commit, the last one sent
when the block ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

LISTEN_CHANNEL = "botfleet_events"

logger = logging.getLogger("botfleet.relay")
_wakers: set[Callable[[], None]] = set()
_lock = threading.Lock()
_local = threading.local()  # per thread (a connection is): the open ``coalesced`` block, if any


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
    block = getattr(_local, "block", None)
    if block is not None:
        if time.monotonic() - block["sent"] < block["window"]:
            block["pending"] = True
            return
        block["sent"], block["pending"] = time.monotonic(), False
    _send()


def _send() -> None:
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {LISTEN_CHANNEL}")
    except DatabaseError:
        # The event is committed; the relay's poll finds it.
        logger.debug("NOTIFY failed; the relay's poll will pick the event up", exc_info=True)


@contextmanager
def coalesced(window: float = 0.05) -> Iterator[None]:
    """At most one ``NOTIFY`` per ``window`` seconds inside the block; one owed is sent at its end.

    Waking the relay once for several commits delays none of their events by more than
    ``window`` (and the relay's own poll bounds it anyway). Nested blocks join the outer one.
    """
    if getattr(_local, "block", None) is not None:
        yield
        return
    _local.block = block = {"window": window, "sent": float("-inf"), "pending": False}
    try:
        yield
    finally:
        _local.block = None
        if block["pending"]:
            _send()
