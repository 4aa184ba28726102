"""Shared by the two venues that never leave the machine (``simulated`` and ``replay``)."""

from __future__ import annotations

from decimal import Decimal

from credentials.exceptions import VenueNotSupported
from credentials.providers.base import (
    Balance,
    Candle,
    KeySet,
    Market,
    OrderInfo,
    Provider,
    TestResult,
    Ticker,
    VenueClient,
)

# The symbols the local venues quote. The engine owns their prices (bots.engine.market).
LOCAL_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ADA/USDT", "DOGE/USDT")


class LocalClient(VenueClient):
    """Markets only: prices and fills of local venues are the engine's (paper adapter)."""

    def __init__(self, provider_id: str, name: str):
        self.provider_id = provider_id
        self._name = name

    def _local(self, what: str):
        return VenueNotSupported(f"{self._name} is a local venue: {what} is done by the engine, not by a client.")

    def fetch_balance(self) -> dict[str, Balance]:
        return {}

    def fetch_markets(self) -> list[Market]:
        return [
            Market(symbol=s, base=s.split("/")[0], quote=s.split("/")[1], min_amount=Decimal("0.00001"))
            for s in LOCAL_SYMBOLS
        ]

    def create_order(self, *, symbol, side, type, amount, price=None, client_order_id) -> OrderInfo:
        raise self._local("filling orders")

    def fetch_order_by_client_id(self, *, symbol, client_order_id, since_ms=None) -> OrderInfo | None:
        raise self._local("order lookup")

    def fetch_ohlcv(self, *, symbol, timeframe="1m", since_ms=None, limit=100) -> list[Candle]:
        raise self._local("market data")

    def fetch_ticker(self, *, symbol) -> Ticker:
        raise self._local("market data")

    def check_keys(self) -> None:
        return None


class LocalProvider(Provider):
    kind = "local"
    required_fields = ()

    def client(self, keyset: KeySet | None = None, *, timeout: float | None = None) -> VenueClient:
        return LocalClient(self.id, self.name)

    def test(self, keyset: KeySet, *, timeout: float | None = None) -> TestResult:
        return TestResult(ok=True, message=f"{self.name} needs no keys; nothing leaves this machine.", latency_ms=0)
