"""The WebSocket stream at ``/api/ws`` (API.md "realtime").

A plain ``AsyncConsumer``: messages are forwarded as the JSON text the relay built,
and the ORM is touched only to authenticate, check a subscription and replay — never
per message (Channels' per-message connection cleanup is skipped on purpose).

Lossless delivery. The consumer remembers ``last_sent``, the highest ``seq`` it sent,
and drops any live message at or below it (duplicates, resends by a new relay). A
``resume`` — and a catch-up after the channel layer's subscription reconnected — reads
the table for everything after it while live messages wait in a buffer; when the table
has nothing more, the buffer is flushed through the same filter. The relay commits a
``seq`` before it sends the event, so whatever is not in the table yet will still arrive
live: no gap, no duplicate, in order.

Slow clients. Outgoing messages go through a bounded queue drained by one writer task;
a client that lets ``REALTIME_WS_SEND_QUEUE`` messages pile up is closed with 1013
instead of holding up the relay or other clients. (This needs an ASGI server whose
``send`` waits for the socket; daphne buffers without bound, so there the queue only
fills when the event loop itself falls behind.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson
from channels.consumer import AsyncConsumer, get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from django.conf import settings
from django.utils import timezone

from accounts.tokens import session_group
from core.renderers import dumps
from realtime import socket_slots, streams
from realtime.relay import ensure_embedded_relay

logger = logging.getLogger("botfleet.realtime")

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_TOO_MANY_SOCKETS = 4429
_BUFFER_LIMIT = 10_000
_RESUME_WINDOW = 60.0


class EventConsumer(AsyncConsumer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.identity: streams.Identity | None = None
        self.token: str | None = None  # kept to check it again (sessions_changed, expiry)
        self.sessions: str | None = None  # this user's session group, joined whatever it follows
        self.audience: streams.Audience | None = None
        self.joined: set[str] = set()
        self.last_sent = 0
        self.sent_from = 0  # this connection sent every audience event in (sent_from, last_sent]
        self.closed = False
        self.replaying = False
        self.replay_again = False
        self.buffer: list[dict] = []
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=settings.REALTIME_WS_SEND_QUEUE)
        self.tasks: list[asyncio.Task] = []
        self.replay_task: asyncio.Task | None = None
        self.auth_timer: asyncio.Task | None = None
        self.socket_slot: str | None = None
        # Resumes while a replay runs collapse into one more replay (the lowest last_seq).
        self.pending_replay: tuple[int, tuple[int, int] | None, bool] | None = None
        self.resume_times: list[float] = []
        self.resume_limited = False

    async def dispatch(self, message):
        # AsyncConsumer.dispatch closes stale DB connections (a thread hop) before every
        # message; this consumer uses the ORM only inside database_sync_to_async calls,
        # which do that themselves.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # -- connection ------------------------------------------------------------------------------
    async def websocket_connect(self, message):
        ensure_embedded_relay()
        if not streams.origin_allowed(self.scope):
            await self.base_send({"type": "websocket.close"})  # rejects the handshake (403)
            self.closed = True
            return
        subprotocols = [p.strip() for p in self.scope.get("subprotocols") or []]
        token, subprotocol = streams.query_param(self.scope, "token"), None
        if not token and len(subprotocols) >= 2 and subprotocols[0].lower() == "bearer":
            token, subprotocol = subprotocols[1], subprotocols[0]
        await self.base_send({"type": "websocket.accept", "subprotocol": subprotocol})
        if token:
            await self._authenticate(token, last_seq=streams.query_param(self.scope, "last_seq"))
        else:
            self.auth_timer = asyncio.create_task(self._auth_deadline())

    async def _auth_deadline(self):
        await asyncio.sleep(settings.REALTIME_WS_AUTH_TIMEOUT)
        if self.identity is None:
            await self._close(CLOSE_UNAUTHORIZED)

    async def _authenticate(self, token: str, last_seq=None) -> None:
        try:
            self.identity = await database_sync_to_async(streams.authenticate)(token)
        except streams.AuthError:
            await self._close(CLOSE_UNAUTHORIZED)
            return
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        self.token = token
        self.socket_slot = await socket_slots.claim(self.identity.user_id, self.channel_name)
        if self.socket_slot is None:
            limit = settings.REALTIME_MAX_SOCKETS_PER_USER
            text = f"At most {limit} open WebSockets per user; close one first."
            message = {"type": "error", "code": "TOO_MANY_CONNECTIONS", "message": text, "limit": limit}
            await self.base_send({"type": "websocket.send", "text": dumps(message).decode()})
            await self._close(CLOSE_TOO_MANY_SOCKETS)
            return
        self.audience = streams.Audience(user_id=self.identity.user_id)
        self.last_sent = self.sent_from = self.identity.baseline
        self.sessions = session_group(self.identity.user_id)
        await self.channel_layer.group_add(self.sessions, self.channel_name)
        await self._join(self.audience.groups())
        self.tasks.append(asyncio.create_task(self._writer()))
        self.tasks.append(asyncio.create_task(self._pinger()))
        self.tasks.append(asyncio.create_task(self._expiry_watch()))
        self._send_json({"type": "connection", "status": "Connected", "timestamp": timezone.now()})
        if last_seq is not None:
            await self._resume(last_seq)

    async def websocket_disconnect(self, message):
        self.closed = True
        if self.socket_slot:
            await socket_slots.release(self.socket_slot, self.channel_name)
        await self._leave(set(self.joined))
        if self.sessions is not None:
            with contextlib.suppress(Exception):  # as in _leave
                await self.channel_layer.group_discard(self.sessions, self.channel_name)
        for task in [*self.tasks, self.replay_task, self.auth_timer]:
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        raise StopConsumer()

    async def _close(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        await self.base_send({"type": "websocket.close", "code": code})

    # -- the token, checked again ---------------------------------------------------------------
    async def sessions_changed(self, message):
        """The user's sessions changed (logout, password change, account disabled): still valid?"""
        await self._recheck()

    async def _recheck(self, token: str | None = None) -> bool:
        """Close with 4401 once the token (or a new one the client sent) no longer passes, and
        with 4403 when a staff-scope follower is no longer staff."""
        if self.identity is None or self.closed:
            return False
        try:
            identity = await database_sync_to_async(streams.recheck)(self.identity, token or self.token)
        except streams.AuthError:
            await self._close(CLOSE_UNAUTHORIZED)
            return False
        if self.audience.staff and not identity.is_staff:
            await self._close(CLOSE_FORBIDDEN)
            return False
        self.identity = identity
        self.token = token or self.token
        return True

    async def _expiry_watch(self) -> None:
        while not self.closed:
            delay = self.identity.expires_at - time.time()
            if delay > 0:
                # Recomputed after each sleep: an in-band re-authentication moves the expiry.
                await asyncio.sleep(min(delay, 3600))
                continue
            if not await self._recheck():
                return
            await asyncio.sleep(1)  # still accepted (clocks differ): ask again shortly

    # -- client messages ---------------------------------------------------------------------
    async def websocket_receive(self, message):
        if self.closed:
            return
        try:
            content = orjson.loads(message.get("text") or message.get("bytes") or b"")
        except orjson.JSONDecodeError:
            content = None
        if not isinstance(content, dict):
            if self.identity is None:
                await self._close(CLOSE_UNAUTHORIZED)
            else:
                self._error("BAD_MESSAGE", "Messages are JSON objects with a type.")
            return
        kind = content.get("type")
        if self.identity is None:
            token = content.get("token")
            if kind == "auth" and isinstance(token, str) and token:
                await self._authenticate(token, last_seq=content.get("last_seq"))
            else:
                await self._close(CLOSE_UNAUTHORIZED)
            return
        if kind == "ping":
            self._send_json({"type": "pong", "timestamp": timezone.now()})
        elif kind == "pong":
            pass
        elif kind == "auth":
            # A fresh token for the same user keeps the connection open past the old one's expiry.
            token = content.get("token")
            if isinstance(token, str) and token:
                await self._recheck(token)
            else:
                await self._close(CLOSE_UNAUTHORIZED)
        elif kind == "resume":
            await self._resume(content.get("last_seq"))
        elif kind == "subscribe":
            await self._subscribe(content)
        else:
            self._error("UNKNOWN_TYPE", f"Unknown message type {kind!r}.")

    async def _resume(self, raw_last_seq) -> None:
        last_seq = streams.parse_seq(raw_last_seq)
        if last_seq is None:
            self._error("VALIDATION_ERROR", "resume needs last_seq, a non-negative integer.")
            return
        if not self._resume_allowed():
            return
        if last_seq < await database_sync_to_async(streams.purged_through)():
            self._send_json({"type": "resync_required", "last_seq": last_seq, "timestamp": timezone.now()})
            return
        skip = (self.sent_from, self.last_sent)
        self.sent_from = min(self.sent_from, last_seq)
        self._start_replay(after=last_seq, skip=skip, announce=True)

    def _resume_allowed(self) -> bool:
        """At most ``REALTIME_WS_RESUMES_PER_MINUTE`` resumes per socket: each reads the
        table, and a client sending thousands would keep the server replaying for seconds.
        Past the limit a resume costs nothing; the client is told once per window."""
        now = asyncio.get_running_loop().time()
        self.resume_times = [t for t in self.resume_times if now - t < _RESUME_WINDOW]
        limit = settings.REALTIME_WS_RESUMES_PER_MINUTE
        if len(self.resume_times) >= limit:
            if not self.resume_limited:
                self.resume_limited = True
                retry = int(_RESUME_WINDOW - (now - self.resume_times[0])) + 1
                self._error(
                    "RATE_LIMITED", f"At most {limit} resume messages a minute.", retry_after=retry, limit=limit
                )
            return False
        self.resume_limited = False
        self.resume_times.append(now)
        return True

    async def _subscribe(self, content: dict) -> None:
        if content.get("scope") == "staff":
            if not self.identity.is_staff:
                self._error("FORBIDDEN", "Only staff may subscribe to every user's events.", scope="staff")
                return
            audience = streams.Audience(user_id=self.identity.user_id, staff=True)
            reply = {"type": "subscribed", "scope": "staff"}
        else:
            bot_id = streams.parse_seq(content.get("bot_id"))
            if bot_id is None:
                self._error("VALIDATION_ERROR", 'subscribe needs bot_id (an integer) or scope "staff".')
                return
            allowed = await database_sync_to_async(streams.may_follow_bot)(self.identity, bot_id)
            if not allowed:
                # Another user's bot and a bot that does not exist look the same (API.md: 404 rule).
                self._error("NOT_FOUND", "No such bot.", bot_id=bot_id)
                return
            current = self.audience.bot_ids if not self.audience.staff else set()
            audience = streams.Audience(user_id=self.identity.user_id, bot_ids={*current, bot_id})
            reply = {"type": "subscribed", "bot_id": bot_id}
        old_groups, new_groups = self.joined - audience.groups(), audience.groups() - self.joined
        await self._join(new_groups)  # join first: the overlap is deduplicated by seq
        self.audience = audience
        await self._leave(old_groups)
        self._send_json(reply)

    # -- live events -----------------------------------------------------------------------------
    async def realtime_event(self, message):
        if self.replaying:
            if len(self.buffer) < _BUFFER_LIMIT:
                self.buffer.append(message)
            else:  # the table has them all: read it again rather than hold more
                self.replay_again = True
            return
        self._forward(message)

    async def realtime_resubscribed(self, message):
        """The layer's subscription was down for a while: fetch what it may have dropped."""
        if self.identity is not None:
            self._start_replay(after=self.last_sent, skip=None, announce=False)

    def _forward(self, message: dict) -> None:
        if message["seq"] > self.last_sent:
            self.last_sent = message["seq"]
            self._enqueue(message["text"])

    # -- replay ----------------------------------------------------------------------------------
    def _start_replay(self, *, after: int, skip: tuple[int, int] | None, announce: bool) -> None:
        if self.replay_task is not None and not self.replay_task.done():
            # One replay at a time; the running one reads the table again before it ends.
            self.replay_again = True
            if after < self.last_sent:
                # Older history asked for meanwhile: one more replay once this one ends, from
                # the lowest point asked — never one per message (a flood of resumes).
                pending = self.pending_replay
                if pending is None:
                    self.replay_task.add_done_callback(self._run_pending_replay)
                    self.pending_replay = (after, skip, announce)
                elif after < pending[0]:
                    self.pending_replay = (after, skip, announce or pending[2])
                else:
                    self.pending_replay = (pending[0], pending[1], announce or pending[2])
            return
        self.replaying = True
        self.replay_task = asyncio.create_task(self._replay(after, skip, announce))

    def _run_pending_replay(self, _task: asyncio.Task) -> None:
        pending, self.pending_replay = self.pending_replay, None
        if pending is not None and not self.closed:
            after, skip, announce = pending
            self._start_replay(after=after, skip=skip, announce=announce)

    async def _replay(self, after: int, skip: tuple[int, int] | None, announce: bool) -> None:
        page_size, replayed = settings.REALTIME_REPLAY_PAGE, 0
        audience = self.audience
        try:
            while True:
                self.replay_again = False
                cursor = after
                while True:
                    rows = await database_sync_to_async(streams.replay_page)(
                        audience, after=cursor, limit=page_size, skip=skip
                    )
                    for row in rows:
                        if row["seq"] > self.last_sent or (skip is not None and row["seq"] <= skip[0]):
                            self.last_sent = max(self.last_sent, row["seq"])
                            self._enqueue(row["text"])
                            replayed += 1
                    if len(rows) < page_size or self.closed:
                        break
                    cursor = rows[-1]["seq"]
                if not self.replay_again or self.closed:
                    break
                after, skip = self.last_sent, None
            # No await from here on: nothing can slip in between the table and the buffer.
            buffered, self.buffer = self.buffer, []
            self.replaying = False
            for message in buffered:
                self._forward(message)
            if announce:
                self._send_json({"type": "resumed", "last_seq": self.last_sent, "replayed": replayed})
        finally:
            self.replaying = False

    # -- sending ---------------------------------------------------------------------------------
    def _send_json(self, content: dict) -> None:
        self._enqueue(dumps(content).decode())

    def _error(self, code: str, message: str, **details) -> None:
        self._send_json({"type": "error", "code": code, "message": message, **details})

    def _enqueue(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            logger.info("closing a slow WebSocket client (user %s): send queue full", self.identity.user_id)
            self.tasks.append(asyncio.create_task(self._close(CLOSE_TRY_AGAIN_LATER)))

    async def _writer(self) -> None:
        while True:
            text = await self.outbox.get()
            if self.closed:
                return
            await self.base_send({"type": "websocket.send", "text": text})

    async def _pinger(self) -> None:
        while not self.closed:
            await asyncio.sleep(settings.REALTIME_WS_PING_SECONDS)
            self._send_json({"type": "ping", "timestamp": timezone.now()})
            if self.socket_slot:
                await socket_slots.refresh(self.socket_slot, self.channel_name)

    # -- groups ----------------------------------------------------------------------------------
    async def _join(self, groups: set[str]) -> None:
        for group in sorted(groups):
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def _leave(self, groups: set[str]) -> None:
        for group in sorted(groups):
            with contextlib.suppress(Exception):  # the layer may be down; the process forgets anyway
                await self.channel_layer.group_discard(group, self.channel_name)
            self.joined.discard(group)
