"""A cap on open WebSockets per user, shared by every ASGI process through the cache.

A user has ``REALTIME_MAX_SOCKETS_PER_USER`` numbered slots, cache keys
``realtime:socket:<user>:<i>``. A connection claims the first free one with ``cache.add``
(atomic in Redis and in the database cache, so two processes never take the same slot),
keeps it alive from its ping loop and deletes it when it closes. A slot expires on its
own after ``ttl()`` seconds, so a process killed with its sockets open frees them within
that time rather than never. When the cache is down the cap is not enforced: a stream
must not go dark because a counter cannot be read.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger("botfleet.realtime")


def ttl() -> int:
    # Three ping periods: a slot survives two missed refreshes.
    return max(60, int(settings.REALTIME_WS_PING_SECONDS * 3))


def _key(user_id: int, index: int) -> str:
    return f"realtime:socket:{user_id}:{index}"


async def claim(user_id: int, owner: str) -> str | None:
    """The key of the slot ``owner`` (a channel name) now holds, ``""`` when the cache is
    unavailable (no cap), or ``None`` when every slot is taken."""
    limit = settings.REALTIME_MAX_SOCKETS_PER_USER
    keys = [_key(user_id, index) for index in range(limit)]
    try:
        taken = await cache.aget_many(keys)
        for key in keys:
            if key not in taken and await cache.aadd(key, owner, timeout=ttl()):
                return key
    except Exception as exc:  # a cache outage: serve the stream, uncapped
        logger.warning("socket cap not enforced: cache unavailable (%s)", exc.__class__.__name__)
        return ""
    return None


async def refresh(key: str, owner: str) -> None:
    if not key:
        return
    try:
        if await cache.aget(key) in (owner, None):
            await cache.aset(key, owner, timeout=ttl())
    except Exception as exc:  # the slot expires by itself; the next ping tries again
        logger.warning("socket slot not refreshed: cache unavailable (%s)", exc.__class__.__name__)


async def release(key: str, owner: str) -> None:
    if not key:
        return
    try:
        if await cache.aget(key) == owner:
            await cache.adelete(key)
    except Exception as exc:  # the slot expires by itself
        logger.warning("socket slot not released: cache unavailable (%s)", exc.__class__.__name__)
