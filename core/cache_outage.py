"""Leave the cache alone for a few seconds after it fails (per process).

The cache (Redis in production) is a guard rail or a shortcut for the code that uses
it, never a dependency: when it is down, requests go on without it. A hung Redis
costs a socket timeout per call, so after one failure each user of the cache skips
it for ``SKIP_SECONDS``, then one call probes it again.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("botfleet.cache")

SKIP_SECONDS = 5.0


def is_cache_outage(exc: Exception) -> bool:
    """Whether ``exc`` says the cache is unreachable (not a bug in the caller)."""
    import redis.exceptions
    from django.db import DatabaseError  # the database cache of the embedded mode

    return isinstance(exc, (redis.exceptions.RedisError, DatabaseError, OSError))


class CacheOutage:
    """One user of the cache (``what``: "throttle", "summary cache") and its skip window."""

    def __init__(self, what: str):
        self.what = what
        self.until = 0.0

    def active(self) -> bool:
        return time.monotonic() < self.until

    def tripped_by(self, exc: Exception, doing: str) -> bool:
        """Open the skip window if ``exc`` is an outage; False if it is not (re-raise it)."""
        if not is_cache_outage(exc):
            return False
        self.until = time.monotonic() + SKIP_SECONDS
        logger.warning("%s skipped for %gs, %s failed: %s", self.what, SKIP_SECONDS, doing, exc.__class__.__name__)
        return True
