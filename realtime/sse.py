"""Server-Sent Events at ``GET /api/realtime/events`` (API.md "realtime").

An async streaming view served by the ASGI server. Each event is
``id: <seq>`` / ``event: <category>`` / ``data: <event JSON>``; ``heartbeat`` every
``REALTIME_SSE_HEARTBEAT_SECONDS`` with a counter; ``overview_update`` from the
registered provider at most once per ``REALTIME_OVERVIEW_COALESCE_SECONDS`` after a bot
or trade event, and at least every ``REALTIME_SSE_OVERVIEW_SECONDS``. ``Last-Event-ID``
(or ``?last_event_id=``) replays from the table first; live messages wait meanwhile and
are deduplicated by ``seq``, as in the WebSocket consumer.

The token is checked again when the user's sessions change (logout, password change,
staff disabling the account: ``accounts.tokens.sessions_changed``) and when it expires;
once it no longer passes, a last ``session_ended`` frame says why and the stream ends
(reconnect with a fresh token and ``Last-Event-ID``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.tokens import SESSIONS_CHANGED, session_group
from core.envelope import error_json_response
from core.renderers import dumps
from realtime import registry, streams
from realtime.relay import ensure_embedded_relay
from realtime.serialization import EVENT_MESSAGE_TYPE

_OVERVIEW_TRIGGERS = frozenset({registry.BOT_UPDATE, registry.TRADE_UPDATE})


def _frame(*, event: str, data: bytes | str, seq: int | None) -> bytes:
    if isinstance(data, str):
        data = data.encode()
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event}\n".encode() + b"data: " + data + b"\n\n"


@require_GET
async def event_stream(request):
    ensure_embedded_relay()
    scope = {"headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()]}
    token = request.GET.get("token") or streams.bearer_token(scope)
    if not token:
        return error_json_response(401, "Authentication credentials were not provided.", code="NOT_AUTHENTICATED")
    try:
        identity = await database_sync_to_async(streams.authenticate)(token)
    except streams.AuthError as exc:
        return error_json_response(exc.status, str(exc), code=exc.code)
    last_id = streams.parse_seq(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"))
    staff_scope = identity.is_staff and request.GET.get("scope") == "staff"
    audience = streams.Audience(user_id=identity.user_id, staff=staff_scope)
    response = StreamingHttpResponse(_stream(identity, audience, last_id, token), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _session_ended(reason: str) -> bytes:
    data = {"type": "session_ended", "message": reason, "timestamp": timezone.now()}
    return _frame(event="session_ended", data=dumps(data), seq=None)


async def _stream(identity: streams.Identity, audience: streams.Audience, last_id: int | None, token: str):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    inbox: asyncio.Queue[dict] = asyncio.Queue()

    async def read_layer():
        # A reader task of its own: cancelling a pending receive() would unsubscribe the
        # channel on the Redis pub/sub layer.
        while True:
            inbox.put_nowait(await layer.receive(channel))

    reader = asyncio.create_task(read_layer())
    groups = sorted({*audience.groups(), session_group(identity.user_id)})
    for group in groups:
        await layer.group_add(group, channel)

    heartbeat_every = settings.REALTIME_SSE_HEARTBEAT_SECONDS
    overview_every = settings.REALTIME_SSE_OVERVIEW_SECONDS
    coalesce = settings.REALTIME_OVERVIEW_COALESCE_SECONDS
    has_overview = registry.overview_provider() is not None
    last_sent = identity.baseline
    counter = 0
    now = time.monotonic()
    next_heartbeat = now + heartbeat_every
    next_overview = now if has_overview else float("inf")
    last_overview = float("-inf")

    def auth_deadline() -> float:
        # When the token stops being accepted, on the monotonic clock of the loop below.
        return time.monotonic() + min(identity.expires_at - time.time(), 86400.0)

    next_auth_check = auth_deadline()

    async def still_authorized() -> str | None:
        """None while the token passes (and a staff stream's user is staff); else why not."""
        nonlocal identity, next_auth_check
        try:
            identity = await database_sync_to_async(streams.recheck)(identity, token)
        except streams.AuthError as exc:
            return str(exc)
        if audience.staff and not identity.is_staff:
            return "The staff scope was withdrawn."
        # Still accepted at its expiry (clocks differ): ask again shortly.
        next_auth_check = max(auth_deadline(), time.monotonic() + 1)
        return None

    async def replay(after: int):
        nonlocal last_sent
        chunks = []
        while True:
            rows = await database_sync_to_async(streams.replay_page)(
                audience, after=after, limit=settings.REALTIME_REPLAY_PAGE
            )
            for row in rows:
                if row["seq"] > last_sent:
                    chunks.append(_frame(event=row["category"], data=row["text"], seq=row["seq"]))
                    last_sent = max(last_sent, row["seq"])
            if len(rows) < settings.REALTIME_REPLAY_PAGE:
                return b"".join(chunks)
            after = rows[-1]["seq"]

    try:
        # A comment line first: headers and the first bytes leave at once through proxies.
        yield b": connected\n\n"
        if last_id is not None:
            if last_id < await database_sync_to_async(streams.purged_through)():
                data = {"type": "resync_required", "last_seq": last_id, "timestamp": timezone.now()}
                yield _frame(event="resync_required", data=dumps(data), seq=None)
            else:
                last_sent = min(last_sent, last_id)
                replayed = await replay(last_id)
                if replayed:
                    yield replayed
        while True:
            timeout = min(next_heartbeat, next_overview, next_auth_check) - time.monotonic()
            try:
                message = inbox.get_nowait()
            except asyncio.QueueEmpty:
                message = None
                with contextlib.suppress(TimeoutError):
                    message = await asyncio.wait_for(inbox.get(), timeout=max(timeout, 0.001))
            if message is not None:
                if message["type"] == EVENT_MESSAGE_TYPE:
                    if message["seq"] > last_sent:
                        last_sent = message["seq"]
                        yield _frame(event=message["category"], data=message["text"], seq=message["seq"])
                        if has_overview and message["category"] in _OVERVIEW_TRIGGERS:
                            next_overview = min(next_overview, max(time.monotonic(), last_overview + coalesce))
                elif message["type"] == "realtime.resubscribed":
                    caught_up = await replay(last_sent)
                    if caught_up:
                        yield caught_up
                elif message["type"] == SESSIONS_CHANGED:
                    reason = await still_authorized()
                    if reason is not None:
                        yield _session_ended(reason)
                        return
            now = time.monotonic()
            if now >= next_auth_check:
                reason = await still_authorized()
                if reason is not None:
                    yield _session_ended(reason)
                    return
            if now >= next_heartbeat:
                counter += 1
                data = {"type": "heartbeat", "timestamp": timezone.now(), "counter": counter}
                yield _frame(event="heartbeat", data=dumps(data), seq=None)
                next_heartbeat = now + heartbeat_every
            if now >= next_overview:
                figures = await database_sync_to_async(streams.overview)(identity.user_id)
                last_overview = time.monotonic()
                next_overview = last_overview + overview_every
                if figures is not None:
                    data = {"type": "overview", **figures, "timestamp": timezone.now()}
                    yield _frame(event="overview_update", data=dumps(data), seq=None)
    finally:
        reader.cancel()
        for group in groups:
            with contextlib.suppress(Exception):  # the layer may be down; nothing to undo then
                await layer.group_discard(group, channel)
