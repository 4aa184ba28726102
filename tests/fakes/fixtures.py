"""pytest fixtures for the fake exchange. Import them into a conftest:

    from tests.fakes.fixtures import fake_exchange, unreachable_venues  # noqa: F401

``fake_exchange`` starts a :class:`~tests.fakes.exchange.FakeExchange`, points ``binance``,
``kraken``, ``bybit`` and ``angelone`` at it (``VENUE_URLS``), shortens venue timeouts to 2 s and empties the
provider client cache before and after. ``unreachable_venues`` points both at a closed
port instead.
"""

from __future__ import annotations

import socket

import pytest

from tests.fakes.exchange import (
    ANGEL_CLIENT,
    ANGEL_KEY,
    ANGEL_PIN,
    ANGEL_TOTP,
    BINANCE_KEY,
    BINANCE_SECRET,
    FakeExchange,
)
from tests.fakes.venues import BYBIT_KEY, BYBIT_SECRET, KRAKEN_KEY, KRAKEN_SECRET

FAKE_TIMEOUT = 2.0

# Payloads a test can post to keys/save or keys/test as they are.
BINANCE_KEYS = {"provider": "binance", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET}
KRAKEN_KEYS = {"provider": "kraken", "api_key": KRAKEN_KEY, "api_secret": KRAKEN_SECRET}
BYBIT_KEYS = {"provider": "bybit", "api_key": BYBIT_KEY, "api_secret": BYBIT_SECRET}
ANGEL_KEYS = {
    "provider": "angelone",
    "api_key": ANGEL_KEY,
    "client_code": ANGEL_CLIENT,
    "password": ANGEL_PIN,
    "totp": ANGEL_TOTP,
}


def _point_venues_at(settings, base: str) -> None:
    from credentials import providers

    settings.VENUE_URLS = {"binance": base, "angelone": base, "kraken": base, "bybit": base}
    settings.VENUE_TIMEOUT_SECONDS = FAKE_TIMEOUT
    settings.KEYS_TEST_TIMEOUT_SECONDS = FAKE_TIMEOUT
    providers.reset_clients()


def _unthrottled_clients(monkeypatch) -> None:
    """ccxt spaces each client's calls by the real venue's rate limit (Kraken's: seconds a
    call; 18 s for one test of six calls). The fake has no limit to respect: its clients keep
    ccxt's throttle, spaced by a millisecond."""
    from credentials.providers import ccxt_exchange

    original = ccxt_exchange.CcxtClient.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._exchange.rateLimit = 1

    monkeypatch.setattr(ccxt_exchange.CcxtClient, "__init__", init)


@pytest.fixture
def fake_exchange(settings, monkeypatch):
    from credentials import providers

    fake = FakeExchange().start()
    _point_venues_at(settings, fake.url)
    _unthrottled_clients(monkeypatch)
    yield fake
    providers.reset_clients()
    fake.stop()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def unreachable_venues(settings):
    from credentials import providers

    _point_venues_at(settings, closed_port_url())
    yield
    providers.reset_clients()
