"""The relay: committed events → ``seq`` → channel-layer groups, one relay at a time.

Algorithm (one long-lived event loop; all database work on one dedicated thread, so
the relay keeps one connection and never hops threads per message):

1. **Lease.** The relay takes the lease in ``RelayState`` with a conditional UPDATE
   (free, expired, or already ours). A standby retries every second and takes over once
   the holder stops renewing (it died): within ``RELAY_LEASE_SECONDS``.
2. **Sequence.** In one transaction that locks the ``RelayState`` row and re-checks the
   lease (fencing), the relay takes committed rows with ``seq IS NULL`` in insertion
   order and numbers them ``last_seq + 1 …``. The numbers are committed *before* anything
   is sent, so the table already holds every event a client could be told about:
   replay (``resume``, ``Last-Event-ID``, a consumer's catch-up) reads from it.
   A transaction that commits late simply gets a later ``seq``: publish order.
3. **Send.** Each event goes to ``user.<id>``, ``bot.<id>`` and ``staff``, in ``seq``
   order. A send that fails (the channel layer is down) is retried with backoff,
   forever, renewing the lease meanwhile; nothing is skipped and nothing is reordered.
4. **Confirm.** Only after every group got the batch are its rows marked
   ``published_at``. Rows with a ``seq`` but no ``published_at`` (a relay died between
   2 and 4) are sent again, first, by whichever relay holds the lease next; clients
   drop a ``seq`` they already have, so a resend is harmless.
5. **An event that cannot be sent** (its payload cannot be encoded, or the layer
   refuses that one message) must not stop every user's stream — the relay publishes in
   ``seq`` order, so it would meet the same row again after every restart. Such a row is
   confirmed with ``failed_at`` and the reason, an ``event_undeliverable`` event tells
   staff (in the same transaction), and the relay goes on with the next event.

The relay wakes on ``NOTIFY botfleet_events`` (PostgreSQL, a dedicated psycopg
connection), on an in-process nudge (``relay_signal``), or after ``RELAY_POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from realtime import registry, relay_signal
from realtime.models import Event, RelayState
from realtime.serialization import groups_for, layer_message

logger = logging.getLogger("botfleet.relay")

_FIELDS = ("id", "seq", "user_id", "bot_id", "type", "payload", "message", "created_at")


class LeaseLost(Exception):
    """Another relay holds the lease: stop publishing at once."""


class _Unsendable(Exception):
    """The channel layer refused this one message (not an outage): it never will take it."""


# Raised by a layer for the message itself (encoding, size), never for an outage.
_MESSAGE_ERRORS = (TypeError, ValueError, OverflowError, RecursionError)

EVENT_UNDELIVERABLE = registry.EventType(
    "event_undeliverable",
    registry.ADMIN_UPDATE,
    "The relay could not send an event (its payload cannot be encoded); it was recorded as failed and skipped.",
    required={"event_id": int, "event_seq": int, "event_type": str, "error": str},
    optional={"user_id": int, "bot_id": int},
)


def ensure_state() -> None:
    """Create the singleton row once; ``last_seq`` starts above any ``seq`` in the table."""
    if not RelayState.objects.filter(pk=RelayState.SINGLETON_ID).exists():
        top = Event.objects.aggregate(top=Max("seq"))["top"] or 0
        RelayState.objects.bulk_create([RelayState(pk=RelayState.SINGLETON_ID, last_seq=top)], ignore_conflicts=True)


def relay_status() -> dict:
    """What ops look at: who holds the lease, its heartbeat, the counters, the backlog."""
    ensure_state()
    state = RelayState.objects.get(pk=RelayState.SINGLETON_ID)
    now = timezone.now()
    return {
        "holder": state.holder or None,
        "active": bool(state.holder and state.lease_until and state.lease_until > now),
        "lease_until": state.lease_until,
        "heartbeat_at": state.heartbeat_at,
        "heartbeat_age_seconds": (now - state.heartbeat_at).total_seconds() if state.heartbeat_at else None,
        "started_at": state.started_at,
        "last_seq": state.last_seq,
        "purged_through": state.purged_through,
        "published_total": state.published_total,
        "send_failures": state.send_failures,
        "backlog": Event.objects.filter(published_at__isnull=True).count(),
        "failed_events": Event.objects.filter(failed_at__isnull=False).count(),
    }


class Relay:
    def __init__(
        self,
        *,
        name: str | None = None,
        layer=None,
        poll_seconds: float | None = None,
        lease_seconds: float | None = None,
        batch_size: int = 500,
        coalesce_seconds: float | None = None,
        shared_thread: bool = False,
    ):
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.layer = layer
        self.poll_seconds = poll_seconds if poll_seconds is not None else settings.RELAY_POLL_SECONDS
        self.lease_seconds = lease_seconds if lease_seconds is not None else settings.RELAY_LEASE_SECONDS
        self.batch_size = batch_size
        self.coalesce_seconds = coalesce_seconds if coalesce_seconds is not None else settings.RELAY_COALESCE_SECONDS
        self.active = False
        self.published = 0
        # ``shared_thread``: run database work on asgiref's shared sync thread instead of a
        # thread of its own (tests on in-memory SQLite, where two writers would collide).
        self.shared_thread = shared_thread
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-db")
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_renewal = 0.0
        self._failures_unrecorded = 0
        # Set when the lease is taken: a relay that died may have left rows sequenced but not
        # confirmed, or numbered past ``last_seq``. Only then can either be so; this relay
        # confirms every batch before it claims the next (a failure sends it back to _acquire).
        self._lease_new = True
        # Whether the last claim found rows: while busy, the claim skips its cheap pre-read.
        self._busy = False

    # -- lifecycle ---------------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping = True
        if self._wake is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self.layer is None:
            self.layer = get_channel_layer()
        relay_signal.add_waker(self._nudge)
        listener = asyncio.create_task(self._listen()) if connection.vendor == "postgresql" else None
        try:
            await self._run()
        finally:
            relay_signal.remove_waker(self._nudge)
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
            try:
                await self._db(self._release)
            except DatabaseError:
                logger.warning("relay %s could not release its lease; it expires by itself", self.name)
            await self._db(_close_connection)
            self._executor.shutdown(wait=False)
            self.active = False

    async def _run(self) -> None:
        waiting_logged = False
        while not self._stopping:
            try:
                if not await self._db(self._acquire):
                    if not waiting_logged:
                        logger.info("relay %s is on standby: another relay holds the lease", self.name)
                        waiting_logged = True
                    await self._sleep(min(1.0, self.lease_seconds / 3))
                    continue
                waiting_logged = False
                self.active = True
                logger.info("relay %s started: holds the lease, publishing", self.name)
                await self._publish_loop()
            except LeaseLost:
                logger.warning("relay %s lost its lease; back to standby", self.name)
            except DatabaseError as exc:
                logger.warning("relay %s: database unavailable (%s); retrying", self.name, exc.__class__.__name__)
                await self._db(_close_connection)
                await self._sleep(1.0)
            self.active = False

    # -- the loop ----------------------------------------------------------------------------
    async def _publish_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            batch = await self._db(self._claim)
            if batch:
                failed = await self._send(batch)
                await self._db(self._confirm, [row["id"] for row in batch], failed)
                self.published += len(batch) - len(failed)
                _tell_listeners([row["seq"] for row in batch if row["id"] not in failed])
                if len(batch) < self.batch_size:
                    # Busy, not behind: let what commits meanwhile gather into one batch. A claim,
                    # its confirmation and their lease writes cost the same for one event as for
                    # hundreds; under a stream of small commits (a flood of signals) claiming each
                    # alone was most of the relay's CPU. An event after a quiet spell still goes
                    # at once: only one arriving while the relay was busy waits, at most this long.
                    await self._pause(self.coalesce_seconds)
                continue
            if time.monotonic() - self._last_renewal > self.lease_seconds / 3:
                await self._db(self._renew)
            await self._sleep(self.poll_seconds)

    async def _send(self, batch: list[dict]) -> dict[int, str]:
        """Send the batch in order; returns ``{row id: reason}`` of the rows that cannot be sent."""
        failed: dict[int, str] = {}
        for row in batch:
            try:
                message = layer_message(row)
                for group in groups_for(user_id=row["user_id"], bot_id=row["bot_id"]):
                    await self._send_one(group, message)
            # Whatever one row's content makes fail (an encoder's limit, a layer refusing
            # it) stays that row's problem; outages are retried inside _send_one.
            except (_Unsendable, *_MESSAGE_ERRORS) as exc:
                reason = f"{exc.__class__.__name__}: {exc}"[:300]
                logger.error(
                    "relay %s: event %s (seq %s, %s) cannot be sent: %s",
                    self.name,
                    row["id"],
                    row["seq"],
                    row["type"],
                    reason,
                )
                failed[row["id"]] = reason
            # Let consumers on this loop (embedded mode) drain their channels between events.
            await asyncio.sleep(0)
        return failed

    async def _send_one(self, group: str, message: dict) -> None:
        delay = 0.05
        while True:
            try:
                await asyncio.wait_for(self.layer.group_send(group, message), timeout=settings.RELAY_SEND_TIMEOUT)
                return
            except asyncio.CancelledError:
                raise
            except _MESSAGE_ERRORS as exc:
                raise _Unsendable(f"the channel layer refused it ({exc.__class__.__name__}: {exc})") from exc
            except Exception as exc:  # any layer failure (Redis down, a timeout): retry, never skip
                self._failures_unrecorded += 1
                if self._failures_unrecorded == 1 or self._failures_unrecorded % 50 == 0:
                    logger.warning(
                        "relay %s: channel layer send failed (%s: %s); retrying seq %s",
                        self.name,
                        exc.__class__.__name__,
                        str(exc)[:200],
                        message["seq"],
                    )
                if self._stopping:
                    raise LeaseLost("stopping") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                if time.monotonic() - self._last_renewal > self.lease_seconds / 3:
                    await self._db(self._renew)  # keep the lease through an outage

    # -- wake-ups ----------------------------------------------------------------------------
    def _nudge(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` unless stopping (a wake-up does not cut it short, unlike ``_sleep``)."""
        if seconds > 0 and not self._stopping:
            await asyncio.sleep(seconds)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _listen(self) -> None:
        """LISTEN on a dedicated autocommit connection; reconnects on its own."""
        import psycopg

        params = _psycopg_params()
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {relay_signal.LISTEN_CHANNEL}")
                    self._wake.set()  # whatever committed while we were not listening
                    async for _notify in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except psycopg.Error as exc:
                logger.warning("relay LISTEN connection failed (%s); polling meanwhile", exc.__class__.__name__)
                await asyncio.sleep(1.0)

    # -- database (on the relay's own thread) -----------------------------------------------
    async def _db(self, fn, *args):
        if self.shared_thread:
            return await sync_to_async(fn, thread_sensitive=True)(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _acquire(self) -> bool:
        close_old_connections()
        ensure_state()
        now = timezone.now()
        taken = (
            RelayState.objects.filter(pk=RelayState.SINGLETON_ID)
            .filter(_lease_free(now) | _lease_ours(self.name))
            .update(
                holder=self.name,
                lease_until=now + timedelta(seconds=self.lease_seconds),
                heartbeat_at=now,
                started_at=now,
            )
        )
        if taken:
            self._last_renewal = time.monotonic()
            self._lease_new = True
        return bool(taken)

    def _renew(self) -> None:
        now = timezone.now()
        failures, self._failures_unrecorded = self._failures_unrecorded, 0
        renewed = RelayState.objects.filter(pk=RelayState.SINGLETON_ID, holder=self.name, lease_until__gt=now).update(
            lease_until=now + timedelta(seconds=self.lease_seconds),
            heartbeat_at=now,
            send_failures=F("send_failures") + failures,
        )
        if not renewed:
            raise LeaseLost(self.name)
        self._last_renewal = time.monotonic()

    def _release(self) -> None:
        RelayState.objects.filter(pk=RelayState.SINGLETON_ID, holder=self.name).update(holder="", lease_until=None)

    def _claim(self) -> list[dict]:
        """Rows to send next: first any sent-but-unconfirmed ones (a predecessor's, looked for once the
        lease is taken), else newly sequenced ones."""
        # A cheap read first: an idle relay must not take SQLite's write lock 10 times a second.
        if not self._busy and not Event.objects.filter(published_at__isnull=True).exists():
            return []
        with transaction.atomic():
            state = RelayState.objects.select_for_update().get(pk=RelayState.SINGLETON_ID)
            now = timezone.now()
            if state.holder != self.name or state.lease_until is None or state.lease_until <= now:
                raise LeaseLost(self.name)
            pending = []
            if self._lease_new:
                pending = list(
                    Event.objects.filter(seq__isnull=False, published_at__isnull=True)
                    .order_by("seq")
                    .values(*_FIELDS)[: self.batch_size]
                )
            if not pending:
                if self._lease_new:
                    # Never behind the table (a restored backup, a hand-edited row): max+1 at least.
                    top = Event.objects.aggregate(top=Max("seq"))["top"] or 0
                    state.last_seq = max(state.last_seq, top)
                    self._lease_new = False  # what a predecessor left is sent, and numbered past
                fresh = list(Event.objects.filter(seq__isnull=True).order_by("id").values(*_FIELDS)[: self.batch_size])
                if fresh:
                    for offset, row in enumerate(fresh, start=1):
                        row["seq"] = state.last_seq + offset
                    Event.objects.bulk_update(
                        [Event(id=row["id"], seq=row["seq"]) for row in fresh], ["seq"], batch_size=500
                    )
                    state.last_seq += len(fresh)
                pending = fresh
            state.lease_until = now + timedelta(seconds=self.lease_seconds)
            state.heartbeat_at = now
            state.save(update_fields=["last_seq", "lease_until", "heartbeat_at"])
        self._last_renewal = time.monotonic()
        self._busy = bool(pending)
        return pending

    def _confirm(self, ids: list[int], failed: dict[int, str] | None = None) -> None:
        from realtime.services import event_record

        failed = failed or {}
        with transaction.atomic():
            now = timezone.now()
            for row in Event.objects.filter(id__in=list(failed), published_at__isnull=True).values(
                "id", "seq", "type", "user_id", "bot_id"
            ):
                reason = failed[row["id"]]
                Event.objects.filter(id=row["id"]).update(published_at=now, failed_at=now, failure=reason)
                event_record(
                    type=EVENT_UNDELIVERABLE.name,
                    user_id=None,
                    payload={
                        "event_id": row["id"],
                        "event_seq": row["seq"],
                        "event_type": row["type"],
                        "error": reason,
                        "user_id": row["user_id"],
                        "bot_id": row["bot_id"],
                    },
                    message=f"Event {row['seq']} ({row['type']}) could not be sent: {reason}",
                )
            Event.objects.filter(id__in=ids, published_at__isnull=True).update(published_at=now)
            failures, self._failures_unrecorded = self._failures_unrecorded, 0
            RelayState.objects.filter(pk=RelayState.SINGLETON_ID).update(
                published_total=F("published_total") + len(ids), send_failures=F("send_failures") + failures
            )


def _tell_listeners(seqs: list[int]) -> None:
    """Other apps' publish listeners (``registry.add_publish_listener``); theirs to be quick."""
    if not seqs:
        return
    for listener in registry.publish_listeners():
        try:
            listener(seqs)
        except Exception:  # a listener's bug must never stop the streams
            logger.exception("relay publish listener %r failed", listener)


def _close_connection() -> None:
    connection.close()  # the relay thread's own connection (resolved on that thread)


def _lease_free(now):
    from django.db.models import Q

    return Q(holder="") | Q(lease_until__isnull=True) | Q(lease_until__lte=now)


def _lease_ours(name: str):
    from django.db.models import Q

    return Q(holder=name)


def _psycopg_params() -> dict:
    """Connection parameters for the LISTEN connection, from the default database's settings."""
    params = connection.get_connection_params()
    # Django-specific keys psycopg.connect does not take.
    for key in ("cursor_factory", "context", "prepare_threshold", "server_side_binding", "pool"):
        params.pop(key, None)
    return params


# -- the embedded relay: a task inside the ASGI process -------------------------------------
_embedded: dict = {}


def ensure_embedded_relay() -> None:
    """Start the relay on the running loop once (the ASGI server's loop). Cheap when running."""
    if not settings.RELAY_IN_ASGI:
        return
    loop = asyncio.get_running_loop()
    task = _embedded.get("task")
    if task is not None and not task.done() and _embedded.get("loop") is loop:
        return
    relay = Relay()
    _embedded.update(loop=loop, relay=relay, task=loop.create_task(relay.run(), name="botfleet-relay"))
    _embedded["task"].add_done_callback(_embedded_done)


def _embedded_done(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("embedded relay stopped", exc_info=task.exception())
