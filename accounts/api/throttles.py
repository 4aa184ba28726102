"""DRF throttles keyed by the trusted client IP, failing open when the cache is down.

A throttle is a guard rail, not a dependency: when Redis is unreachable, requests
that do not otherwise need it keep being served (and the outage is logged).
"""

from __future__ import annotations

import logging

from rest_framework import throttling

from accounts.api.client_ip import client_ip

logger = logging.getLogger("botfleet.throttle")


class _TrustedIdentMixin:
    def get_ident(self, request) -> str:
        return client_ip(request)

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:
            if not _is_cache_outage(exc):
                raise
            logger.warning("throttle skipped, cache unavailable: %s", exc.__class__.__name__)
            return True


def _is_cache_outage(exc: Exception) -> bool:
    import redis.exceptions
    from django.db import DatabaseError

    return isinstance(exc, (redis.exceptions.RedisError, DatabaseError, OSError))


class AnonRateThrottle(_TrustedIdentMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_TrustedIdentMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(_TrustedIdentMixin, throttling.ScopedRateThrottle):
    """Per-view budgets: a view sets ``throttle_scope`` (``auth``, ``otp``, ``keys_test``)."""
