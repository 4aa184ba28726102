"""DRF throttles keyed by the trusted client IP, failing open when the cache is down.

A throttle is a guard rail, not a dependency: when Redis is unreachable, requests
that do not otherwise need it keep being served (and the outage is logged).
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache
from rest_framework import throttling

from core.cache_outage import CacheOutage
from core.client_ip import client_ip


class _TrustedIdentMixin:
    def get_ident(self, request) -> str:
        return client_ip(request)

    def allow_request(self, request, view) -> bool:
        if _outage.active():
            return True  # the cache was just found down: don't wait on it again per request
        try:
            return super().allow_request(request, view)
        except Exception as exc:
            if not _outage.tripped_by(exc, "rate check"):
                raise
            return True


_outage = CacheOutage("throttle")


class _FixedWindow(throttling.SimpleRateThrottle):
    """A shared counter per client and window, claimed in blocks.

    DRF stores every request time of the window and loads and saves the whole list
    on every request: at a generous rate that list grows to thousands of entries
    (/api/auth/me fell to about a hundred requests a second). Here the shared count
    lives in the cache (one ``INCRBY`` + ``EXPIRE`` round trip on Redis), and a
    process claims a block of up to 1 % of the rate at once (never more than 20),
    then serves that many requests without a round trip. Tight limits (below 200 per
    window: login, OTP) claim one at a time and stay exact; a generous one may turn
    a client away up to (block - 1) requests early per process and window. A fixed
    window lets a client burst up to twice the rate across a boundary, which is
    fine for a guard rail.
    """

    @property
    def cache(self):
        """``THROTTLE_CACHE``: the shared cache, or the one web process's memory (config/settings.py)."""
        return caches[settings.THROTTLE_CACHE]

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        block = max(1, min(20, self.num_requests // 100))
        return _BLOCKS.take(
            self.cache, f"{self.key}:{window}", window, block, self.num_requests, int(self.duration) + 1
        )

    def wait(self) -> float:
        return max(1.0, self.window_ends - self.now)


class _Blocks:
    """Request slots this process has claimed from the shared counters, per key and window."""

    def __init__(self):
        self._left: dict[str, tuple[int, int]] = {}  # key -> (window, slots left)
        self._lock = threading.Lock()

    def take(self, cache, key: str, window: int, block: int, limit: int, ttl: int) -> bool:
        with self._lock:
            claimed_window, left = self._left.get(key, (window, 0))
            if left > 0:
                self._left[key] = (claimed_window, left - 1)
                return True
        total = _incr(cache, key, block, ttl)
        granted = max(0, min(block, limit - (total - block)))
        with self._lock:
            if len(self._left) > 10_000:  # forget blocks of past windows
                self._left = {k: v for k, v in self._left.items() if v[0] >= window}
            if granted > 1:
                self._left[key] = (window, granted - 1)
        return granted > 0


_BLOCKS = _Blocks()


def _incr(cache, key: str, amount: int, ttl: int) -> int:
    """Add ``amount`` to the shared counter ``key``; returns its new value."""
    if cache is default_cache:  # DRF's default: a proxy, not the backend itself
        cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, RedisCache):
        full_key = cache.make_and_validate_key(key)
        pipe = cache._cache.get_client(full_key, write=True).pipeline(transaction=False)
        pipe.incrby(full_key, amount)
        pipe.expire(full_key, ttl)
        return pipe.execute()[0]
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key, amount)
    except ValueError:  # evicted or expired between add and incr
        cache.set(key, amount, ttl)
        return amount


class AnonRateThrottle(_TrustedIdentMixin, throttling.AnonRateThrottle, _FixedWindow):
    pass


class UserRateThrottle(_TrustedIdentMixin, throttling.UserRateThrottle, _FixedWindow):
    pass


class ScopedRateThrottle(_TrustedIdentMixin, throttling.ScopedRateThrottle, _FixedWindow):
    """Per-view budgets: a view sets ``throttle_scope`` (``auth``, ``otp``, ``keys_test``)."""
