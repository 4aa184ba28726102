"""Django's Redis cache, reusing one client object per connection pool.

Django builds a new ``redis.Redis`` for every cache call, and each one rebuilds its
table of response callbacks: a measurable share of a cheap authenticated request
that makes a throttle round trip. The client is thread-safe (it takes connections
from the pool per command), so one per pool is enough.
"""

from __future__ import annotations

from django.core.cache.backends import redis as django_redis


class _ReusingClient(django_redis.RedisCacheClient):
    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        clients = self.__dict__.setdefault("_clients_by_pool", {})
        client = clients.get(pool)
        if client is None:
            client = clients.setdefault(pool, self._client(connection_pool=pool))
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient
