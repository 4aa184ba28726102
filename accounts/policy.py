"""Site-wide account rules staff set in the admin, read through the cache."""

from __future__ import annotations

from django.core.cache import cache

from accounts.models import AccountPolicy

_CACHE_KEY = "accounts:policy:staff-2fa"
_CACHE_SECONDS = 60


def current() -> AccountPolicy:
    return AccountPolicy.objects.filter(pk=AccountPolicy.SINGLETON_ID).first() or AccountPolicy(
        pk=AccountPolicy.SINGLETON_ID
    )


def staff_must_use_two_factor() -> bool:
    value = cache.get(_CACHE_KEY)
    if value is None:
        value = current().require_two_factor_for_staff
        cache.set(_CACHE_KEY, value, _CACHE_SECONDS)
    return bool(value)


def forget() -> None:
    """After staff changed the policy: every process reads it again (within a minute for
    processes with a cache of their own)."""
    cache.delete(_CACHE_KEY)
