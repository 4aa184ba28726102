"""The venue registry and the per-key-set client cache.

* :func:`get` — the provider for a venue id (``simulated``, ``replay``, ``angelone`` or any
  ccxt exchange id); raises :class:`UnknownProvider` otherwise.
* :func:`available` — every venue id, local ones first (ccxt's list is loaded lazily).
* :func:`client_for` — *the* client of a saved credential. One client per key set and
  process, cached by (credential id, ``updated_at``), so every bot trading with the same
  keys shares one connection pool and one rate limiter; saving the credential again
  (a new ``updated_at``) retires the old client.
* :func:`public_client` — a keyless client per venue for market data (paper bots).
"""

from __future__ import annotations

import threading
from typing import Any

from credentials.providers import angelone, replay, simulated
from credentials.providers.base import KeySet, Provider, TestResult, VenueClient

__all__ = [
    "KeySet",
    "Provider",
    "TestResult",
    "UnknownProvider",
    "VenueClient",
    "available",
    "client_for",
    "get",
    "is_known",
    "public_client",
]

LOCAL = {p.id: p for p in (simulated.PROVIDER, replay.PROVIDER, angelone.PROVIDER)}


class UnknownProvider(LookupError):
    def __init__(self, provider_id: str):
        self.provider_id = provider_id
        super().__init__(f"Unknown provider {provider_id!r}.")


def _ccxt_ids() -> tuple[str, ...]:
    from credentials.providers import ccxt_exchange

    return ccxt_exchange.exchange_ids()


def available() -> list[str]:
    return [*LOCAL, *(i for i in _ccxt_ids() if i not in LOCAL)]


def is_known(provider_id: str) -> bool:
    return provider_id in LOCAL or provider_id in _ccxt_ids()


def get(provider_id: str) -> Provider:
    if provider_id in LOCAL:
        return LOCAL[provider_id]
    if provider_id in _ccxt_ids():
        from credentials.providers import ccxt_exchange

        return ccxt_exchange.provider(provider_id)
    raise UnknownProvider(provider_id)


_lock = threading.Lock()
_clients: dict[int, tuple[Any, VenueClient]] = {}
_public: dict[str, VenueClient] = {}


def client_for(credential) -> VenueClient:
    """The shared client of a saved credential (decrypts it; ``CredentialDecryptError`` if it cannot).

    A cached client built from a newer version of the row wins over an older row object
    (a bot that loaded the credential before it was re-saved gets the new keys). Retired
    clients are dropped, not closed: another thread may still be mid-call on one.
    """
    version = credential.updated_at
    with _lock:
        cached = _clients.get(credential.pk)
    if cached is not None and (version is None or cached[0] >= version):
        return cached[1]
    client = get(credential.provider).client(credential.keyset())
    with _lock:
        cached = _clients.get(credential.pk)
        if cached is not None and (version is None or cached[0] >= version):  # another thread won the race
            return cached[1]
        _clients[credential.pk] = (version, client)
    return client


def public_client(provider_id: str) -> VenueClient:
    with _lock:
        client = _public.get(provider_id)
    if client is None:
        client = get(provider_id).client(None)
        with _lock:
            client = _public.setdefault(provider_id, client)
    return client


def forget_client(credential_id: int) -> None:
    """Drop a cached client (the credential was deleted)."""
    with _lock:
        _clients.pop(credential_id, None)


def reset_clients() -> None:
    """Drop every cached client (tests; a changed ``VENUE_URLS``)."""
    with _lock:
        cached = [c for _, c in _clients.values()] + list(_public.values())
        _clients.clear()
        _public.clear()
    for client in cached:
        client.close()
