"""The SSE stream: auth, headers, frames, heartbeat, overview, Last-Event-ID."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from django.core.asgi import get_asgi_application

from realtime import registry
from tests.realtime.conftest import TIMEOUT, arecord, close_after_test
from tests.realtime.test_consumers import a_short_lived_token, api_call

pytestmark = pytest.mark.django_db(transaction=True)


class SSE:
    """Drives the real ASGI handler, as a server would; parses frames as they arrive."""

    def __init__(self, path: str, headers: list[tuple[bytes, bytes]] | None = None):
        path, _, query = path.partition("?")
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(b"host", b"testserver"), *(headers or [])],
            "client": ("127.0.0.1", 5555),
            "server": ("testserver", 80),
        }
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.status = None
        self.headers: dict[str, str] = {}
        self.buffer = b""
        self.frames: list[dict] = []

    async def start(self):
        await self.inbox.put({"type": "http.request", "body": b"", "more_body": False})
        self.task = asyncio.create_task(get_asgi_application()(self.scope, self.inbox.get, self.outbox.put))
        close_after_test(self)
        start = await asyncio.wait_for(self.outbox.get(), TIMEOUT)
        self.status = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return self

    async def body(self) -> bytes:
        chunks = b""
        while True:
            message = await asyncio.wait_for(self.outbox.get(), TIMEOUT)
            chunks += message.get("body", b"")
            if not message.get("more_body"):
                return chunks

    async def frame(self) -> dict:
        while b"\n\n" not in self.buffer:
            message = await asyncio.wait_for(self.outbox.get(), TIMEOUT)
            self.buffer += message.get("body", b"")
        raw, self.buffer = self.buffer.split(b"\n\n", 1)
        frame = {}
        for line in raw.decode().split("\n"):
            key, _, value = line.partition(": ")
            frame[key] = value
        if "data" in frame:
            frame["data"] = json.loads(frame["data"])
        return frame

    async def until(self, predicate) -> dict:
        while True:
            frame = await self.frame()
            self.frames.append(frame)
            if predicate(frame):
                return frame

    def events(self) -> list[dict]:
        return [f for f in self.frames if f.get("event") in registry.CATEGORIES]

    async def close(self):
        await self.inbox.put({"type": "http.disconnect"})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, TIMEOUT)


async def test_needs_a_token(relay):
    stream = await SSE("/api/realtime/events").start()

    assert stream.status == 401
    assert json.loads(await stream.body())["error"]["code"] == "NOT_AUTHENTICATED"


async def test_a_bad_token_is_401(relay):
    stream = await SSE("/api/realtime/events?token=nope").start()

    assert stream.status == 401
    assert json.loads(await stream.body())["success"] is False


async def test_events_arrive_with_id_and_category_and_proxy_headers(relay, owner, owner_token):
    stream = await SSE("/api/realtime/events", headers=[(b"authorization", f"Bearer {owner_token}".encode())]).start()
    assert (await stream.frame()) == {"": "connected"}  # the comment line

    await arecord(owner.pk, 1)
    await arecord(owner.pk, 2, type="test_trade_thing")
    first = await stream.until(lambda f: f.get("event") == "bot_update")
    second = await stream.until(lambda f: f.get("event") == "trade_update")

    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream"
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-accel-buffering"] == "no"
    assert first["id"] == str(first["data"]["seq"])
    assert first["data"]["type"] == "test_bot_thing"
    assert first["data"]["n"] == 1
    assert int(second["id"]) > int(first["id"])


async def test_only_the_users_own_events(relay, owner, other_user, owner_token):
    stream = await SSE(f"/api/realtime/events?token={owner_token}").start()
    await stream.frame()

    await arecord(other_user.pk, 1)
    await arecord(owner.pk, 2)
    await stream.until(lambda f: f.get("event") == "bot_update")

    assert [f["data"]["n"] for f in stream.events()] == [2]


async def test_last_event_id_replays_then_continues(relay, owner, owner_token):
    events = [await arecord(owner.pk, n) for n in range(3)]
    await asyncio.sleep(0.3)
    from asgiref.sync import sync_to_async

    for event in events:
        await sync_to_async(event.refresh_from_db)()
    stream = await SSE(
        f"/api/realtime/events?token={owner_token}", headers=[(b"last-event-id", str(events[0].seq).encode())]
    ).start()

    await stream.until(lambda f: f.get("data", {}).get("n") == 2)
    await arecord(owner.pk, 3)
    await stream.until(lambda f: f.get("data", {}).get("n") == 3)

    assert [f["data"]["n"] for f in stream.events()] == [1, 2, 3]


async def test_heartbeat_counts(relay, owner_token, settings):
    settings.REALTIME_SSE_HEARTBEAT_SECONDS = 0.05
    stream = await SSE(f"/api/realtime/events?token={owner_token}").start()

    first = await stream.until(lambda f: f.get("event") == "heartbeat")
    second = await stream.until(lambda f: f.get("event") == "heartbeat")

    assert first["data"]["type"] == "heartbeat"
    assert (first["data"]["counter"], second["data"]["counter"]) == (1, 2)


async def test_overview_at_start_and_after_a_bot_event(relay, owner, owner_token, monkeypatch, settings):
    settings.REALTIME_OVERVIEW_COALESCE_SECONDS = 0.05
    calls = []

    def provider(user_id):
        calls.append(user_id)
        return {"active_bots": 1, "total_bots": 2, "total_profit": 3.5}

    monkeypatch.setattr(registry, "_overview_provider", provider)
    stream = await SSE(f"/api/realtime/events?token={owner_token}").start()

    first = await stream.until(lambda f: f.get("event") == "overview_update")
    await arecord(owner.pk, 1)
    await stream.until(lambda f: f.get("event") == "overview_update")

    assert first["data"]["type"] == "overview"
    assert first["data"]["total_bots"] == 2
    assert calls == [owner.pk, owner.pk]


# -- the token, checked again on an open stream ---------------------------------------------
async def ended(stream: SSE) -> dict:
    """The stream's last frame (``session_ended``), after which the body is complete."""
    frame = await stream.until(lambda f: f.get("event") == "session_ended")
    while True:
        message = await asyncio.wait_for(stream.outbox.get(), TIMEOUT)
        if not message.get("more_body"):
            assert stream.buffer + message.get("body", b"") == b""
            return frame


async def test_logout_ends_the_sessions_stream(relay, owner, owner_token):
    stream = await SSE(f"/api/realtime/events?token={owner_token}").start()
    await stream.frame()

    response = await api_call("post", "/api/auth/logout", owner_token)

    assert response.status_code == 200, response.content
    frame = await ended(stream)
    assert frame["data"]["type"] == "session_ended"
    assert frame["data"]["message"] == "Token has been revoked."


async def test_disabling_the_account_ends_its_stream(relay, owner, owner_token, staff_token):
    stream = await SSE("/api/realtime/events", headers=[(b"authorization", f"Bearer {owner_token}".encode())]).start()
    await stream.frame()

    response = await api_call("put", f"/api/admin/users/{owner.pk}", staff_token, {"is_active": False})

    assert response.status_code == 200, response.content
    frame = await ended(stream)
    assert frame["data"]["message"] == "This account has been disabled by staff."


async def test_the_stream_ends_when_its_token_expires(relay, owner):
    stream = await SSE(f"/api/realtime/events?token={await a_short_lived_token(owner)}").start()
    await stream.frame()

    frame = await ended(stream)

    assert frame["data"]["message"] == "Token is invalid or expired."


async def test_another_users_logout_leaves_the_stream_open(relay, owner, owner_token, other_token):
    stream = await SSE(f"/api/realtime/events?token={owner_token}").start()
    await stream.frame()
    assert (await api_call("post", "/api/auth/logout", other_token)).status_code == 200

    await arecord(owner.pk, 5)

    frame = await stream.until(lambda f: f.get("event") in ("bot_update", "session_ended"))
    assert (frame["event"], frame["data"]["n"]) == ("bot_update", 5)


async def test_a_disabled_account_is_403_account_disabled(relay, owner, owner_token):
    """API.md: an account disabled by staff is a 403 with code ACCOUNT_DISABLED, not a 401."""
    from asgiref.sync import sync_to_async

    from accounts.models import User

    await sync_to_async(User.objects.filter(pk=owner.pk).update)(is_active=False)

    stream = await SSE(f"/api/realtime/events?token={owner_token}").start()

    assert stream.status == 403
    error = json.loads(await stream.body())["error"]
    assert error["code"] == "ACCOUNT_DISABLED"
