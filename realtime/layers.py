"""channels_redis's pub/sub layer, telling local consumers when their subscription reconnects.

Redis pub/sub delivers at most once: while a process's subscriber connection is down
(Redis restarted, a network blip, an output-buffer overflow), every message published
for its consumers is gone. redis-py reconnects and resubscribes on its own, silently.
This layer puts ``{"type": "realtime.resubscribed"}`` into every local channel after
each *re*-connection, so a consumer replays what it missed from the event table
(``seq`` after the last one it sent). Consumers on this layer must handle that type.
"""

from __future__ import annotations

import asyncio
import logging

from channels_redis import pubsub
from channels_redis.utils import _wrap_close, decode_hosts
from redis.asyncio.client import PubSub

logger = logging.getLogger("botfleet.realtime")

RESUBSCRIBED = {"type": "realtime.resubscribed"}


class _PubSub(PubSub):
    """redis-py's PubSub, calling ``on_reconnect`` after every connection but the first.

    ``on_connect`` (which resubscribes) must stay a bound method: redis-py holds it weakly.
    """

    def __init__(self, *args, on_reconnect, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_reconnect = on_reconnect
        self._connected_before = False

    async def on_connect(self, connection):
        await super().on_connect(connection)
        if self._connected_before:
            self._on_reconnect()
        self._connected_before = True


class _Shard(pubsub.RedisSingleShardConnection):
    def _ensure_redis(self):
        if self._redis is None:
            super()._ensure_redis()
            self._pubsub = _PubSub(
                self._redis.connection_pool,
                event_dispatcher=getattr(self._redis, "_event_dispatcher", None),
                on_reconnect=self._announce_reconnect,
            )

    def _announce_reconnect(self) -> None:
        loop_layer = self.channel_layer
        data = loop_layer.channel_layer.serialize(RESUBSCRIBED)
        logger.warning("channel layer subscription reconnected; %d local consumers catch up", len(loop_layer.channels))
        for queue in list(loop_layer.channels.values()):
            queue.put_nowait(data)


class _LoopLayer(pubsub.RedisPubSubLoopLayer):
    def __init__(self, hosts=None, *args, **kwargs):
        super().__init__(hosts, *args, **kwargs)
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer
