"""Realtime test kit: test-only event types, a relay on the test's loop, stream clients.

The relay runs as a task on the test's event loop (as it does inside the ASGI server);
on SQLite its database work shares asgiref's sync thread with the consumers, so the
in-memory test database never sees two writers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import transaction

from accounts.tokens import token_pair_for
from realtime import registry
from realtime.registry import EventType
from realtime.relay import LeaseLost, Relay
from realtime.routing import websocket_application
from realtime.services import event_record
from tests.conftest import USING_POSTGRES

BOT_THING = registry.register(
    EventType(
        name="test_bot_thing",
        category=registry.BOT_UPDATE,
        description="A test-only bot event.",
        required={"n": int},
        optional={"bot": dict},
    )
)
TRADE_THING = registry.register(
    EventType(name="test_trade_thing", category=registry.TRADE_UPDATE, description="Test trade.", required={"n": int})
)
ADMIN_THING = registry.register(
    EventType(name="test_admin_thing", category=registry.ADMIN_UPDATE, description="Test admin.", required={"n": int})
)
INGESTIBLE = registry.register(
    EventType(
        name="test_ingested",
        category=registry.BOT_UPDATE,
        description="Test type external engines may push.",
        required={"n": int},
        ingestible=True,
    )
)

TIMEOUT = 10


@pytest.fixture(autouse=True)
def _realtime_settings(settings):
    settings.RELAY_IN_ASGI = False
    settings.RELAY_POLL_SECONDS = 0.02
    settings.RELAY_LEASE_SECONDS = 10
    settings.REALTIME_WS_AUTH_TIMEOUT = 0.3
    settings.REALTIME_WS_PING_SECONDS = 3600
    settings.REALTIME_SSE_HEARTBEAT_SECONDS = 3600
    settings.REALTIME_SSE_OVERVIEW_SECONDS = 3600
    settings.INTERNAL_EVENTS_SECRET = "test-internal-secret"
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    return settings


def access_token(user) -> str:
    return token_pair_for(user)["access_token"]


def record_now(user_id, n: int, *, type: str = "test_bot_thing", bot_id=None, payload=None):
    with transaction.atomic():
        return event_record(
            type=type, user_id=user_id, payload=payload or {"n": n}, message=f"event {n}", bot_id=bot_id
        )


arecord = sync_to_async(record_now, thread_sensitive=True)


class ObservedRelay(Relay):
    """A relay whose refusals are counted: a test waits for "the relay looked and was
    refused" (a positive signal) before asserting that it did not publish."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.refused = 0  # lease acquisitions refused (on standby)
        self.leases_lost = 0  # claims or renewals that found the lease gone
        self.batches: list[int] = []  # the size of each non-empty claim

    def _acquire(self) -> bool:
        taken = super()._acquire()
        self.refused += not taken
        return taken

    def _claim(self) -> list[dict]:
        try:
            batch = super()._claim()
        except LeaseLost:
            self.leases_lost += 1
            raise
        if batch:
            self.batches.append(len(batch))
        return batch

    def _renew(self) -> None:
        try:
            super()._renew()
        except LeaseLost:
            self.leases_lost += 1
            raise


class ObservedLayer:
    """The channel layer as the relay sees it, counting failed sends (an outage seen)."""

    def __init__(self, inner):
        self.inner = inner
        self.failed_sends = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def group_send(self, group, message):
        try:
            return await self.inner.group_send(group, message)
        except BaseException:  # a timeout cancels the send
            self.failed_sends += 1
            raise


async def until(predicate, timeout=TIMEOUT, what="condition") -> None:
    """Until a cheap, non-blocking predicate (an attribute of a relay on this loop) holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_relay(**kwargs):
    kwargs.setdefault("shared_thread", not USING_POSTGRES)
    relay = ObservedRelay(**kwargs)
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        relay.stop()
        try:
            await asyncio.wait_for(task, timeout=TIMEOUT)
        except TimeoutError:
            task.cancel()


@pytest.fixture
async def relay(transactional_db, owner_token, other_token, staff_token):
    # The personas and their tokens exist before the relay starts: on in-memory SQLite a
    # fixture writing from the main thread must not meet the relay's write transaction.
    async with running_relay() as relay:
        yield relay
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        with contextlib.suppress(Exception):
            await layer.flush()
    await shared_thread_idle()


_open_streams: list = []  # WebSocket clients, SSE streams: anything with ``async close()``


def close_after_test(stream):
    _open_streams.append(stream)
    return stream


@pytest.fixture(autouse=True)
async def _streams_closed():
    """Every client a test connected is closed and the shared thread idle before
    pytest-django flushes the database, whether the test passed or not."""
    yield
    while _open_streams:
        await _open_streams.pop().close()
    await shared_thread_idle()


async def shared_thread_idle() -> None:
    """Let consumers finish queries in flight before the database is flushed: in-memory
    SQLite (shared cache) fails a write at once, without waiting, while another
    connection still reads the table."""
    for _ in range(3):
        await asyncio.sleep(0.02)
        await sync_to_async(lambda: None, thread_sensitive=True)()


class Client:
    """A WebSocket client: connect, read JSON, collect events by seq."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self.events: list[dict] = []
        self.other: list[dict] = []

    @classmethod
    async def connect(cls, *, token=None, path="/api/ws", headers=None, subprotocols=None, expect="connection"):
        if token is not None:
            path = f"{path}{'&' if '?' in path else '?'}token={token}"
        communicator = WebsocketCommunicator(
            websocket_application(), path, headers=headers or [], subprotocols=subprotocols
        )
        connected, subprotocol = await communicator.connect(timeout=TIMEOUT)
        client = cls(communicator)
        close_after_test(client)
        client.accepted, client.subprotocol = connected, subprotocol
        if connected and expect:
            first = await client.receive()
            assert first["type"] == expect, first
        return client

    async def receive(self, timeout=TIMEOUT) -> dict:
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            return {"type": "__closed__", "code": output.get("code")}
        return json.loads(output["text"])

    async def send(self, content: dict) -> None:
        await self.communicator.send_to(text_data=json.dumps(content))

    async def until(self, predicate, timeout=TIMEOUT) -> dict:
        """Read until a message matches; events (those with a seq) are kept in order."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.receive(timeout=max(0.01, deadline - loop.time()))
            if "seq" in message and message["type"] not in ("resumed",):
                self.events.append(message)
            else:
                self.other.append(message)
            if predicate(message):
                return message

    async def until_events(self, count: int, timeout=TIMEOUT) -> list[dict]:
        if len(self.events) < count:
            await self.until(lambda _m: len(self.events) >= count, timeout=timeout)
        return self.events

    async def nothing_more(self, wait=0.3) -> bool:
        return await self.communicator.receive_nothing(timeout=wait)

    def seqs(self) -> list[int]:
        return [event["seq"] for event in self.events]

    async def close(self):
        with contextlib.suppress(Exception):
            await self.communicator.disconnect()


@pytest.fixture
def owner_token(owner) -> str:
    return access_token(owner)


@pytest.fixture
def other_token(other_user) -> str:
    return access_token(other_user)


@pytest.fixture
def staff_token(staff) -> str:
    return access_token(staff)


async def wait_published(timeout=TIMEOUT) -> None:
    """Until the relay has numbered and sent every recorded event."""
    from realtime.models import Event

    unpublished = sync_to_async(Event.objects.filter(published_at__isnull=True).exists, thread_sensitive=True)
    deadline = asyncio.get_running_loop().time() + timeout
    while await unpublished():
        assert asyncio.get_running_loop().time() < deadline, "events not published in time"
        await asyncio.sleep(0.02)
