"""What every venue provider offers, and the client interface the engine builds on.

A *provider* (one module per kind of venue in this package) declares the key fields a
venue needs and makes two things from a :class:`KeySet`: a :class:`VenueClient` and a
key test (:meth:`Provider.test` → :class:`TestResult`). The engine's order adapters are
built on :class:`VenueClient` only, never on ccxt or httpx directly.

Client interface (all amounts and prices are ``Decimal``; times are epoch milliseconds):

* ``fetch_balance() -> dict[asset, Balance]``
* ``fetch_markets() -> list[Market]`` (cached by the client after the first call)
* ``create_order(symbol=, side=, type=, amount=, price=None, client_order_id=) -> OrderInfo``
* ``fetch_order_by_client_id(symbol=, client_order_id=, since_ms=None) -> OrderInfo | None``
  (``None``: the venue has no such order — it was never placed, so it is safe to place it;
  ``since_ms`` is when we sent it. A venue that cannot tell raises ``VenueNotSupported``
  with the reason, never answers ``None``)
* ``fetch_ohlcv(symbol=, timeframe="1m", since_ms=None, limit=100) -> list[Candle]``
* ``fetch_ticker(symbol=) -> Ticker``
* ``check_keys()`` — one authenticated call; raises on a rejected key

Every failure is a :class:`~credentials.exceptions.VenueError` subclass (auth, timeout,
unreachable, order rejected, not supported) whose message is safe to show and log: the
providers build their own messages and strip the key set's values from anything a venue
echoes back.
"""

from __future__ import annotations

import concurrent.futures
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from credentials.exceptions import VenueError, VenueNotSupported, VenueTimeout

SECRET_NAMES = ("api_key", "api_secret", "passphrase", "client_code", "password", "totp_secret")


@dataclass(frozen=True, repr=False, eq=False)
class KeySet:
    """Decrypted secrets, in memory only. ``repr`` never shows them."""

    provider: str
    api_key: str = ""
    api_secret: str = ""
    passphrase: str = ""
    client_code: str = ""
    password: str = ""
    totp_secret: str = ""
    credential_id: int | None = None
    version: Any = None  # the row's updated_at: a new version gets a new client

    def __repr__(self) -> str:
        return f"<KeySet {self.provider} credential={self.credential_id} fields={self.fields_set()}>"

    __str__ = __repr__

    def fields_set(self) -> list[str]:
        return [name for name in SECRET_NAMES if getattr(self, name)]

    def secret_values(self) -> list[str]:
        return [getattr(self, name) for name in SECRET_NAMES if getattr(self, name)]

    def redact(self, text: str) -> str:
        """``text`` with every secret of this set replaced (for venue messages we pass on)."""
        for value in sorted(self.secret_values(), key=len, reverse=True):
            if len(value) >= 3:
                text = text.replace(value, "[redacted]")
        return text


@dataclass(frozen=True)
class TestResult:
    ok: bool
    message: str
    latency_ms: int

    __test__ = False  # not a pytest class

    def as_dict(self) -> dict:
        return {"ok": self.ok, "message": self.message, "latency_ms": self.latency_ms}


@dataclass(frozen=True)
class Balance:
    free: Decimal
    used: Decimal
    total: Decimal


@dataclass(frozen=True)
class Market:
    symbol: str  # ccxt unified "BASE/QUOTE"; Angel One "EXCHANGE:SYMBOL"
    base: str
    quote: str
    active: bool = True
    min_amount: Decimal | None = None
    amount_step: Decimal | None = None  # quantities are multiples of this (never a digit count)
    price_step: Decimal | None = None  # prices are multiples of this (None: no fixed step)
    venue_id: str = ""  # the venue's own id for it (binance "BTCUSDT", Angel One token)
    min_notional: Decimal | None = None  # the smallest order value, in the quote currency


@dataclass(frozen=True)
class TradeInfo:
    """One execution of an order, as the venue's trades endpoint reports it (gross amount, own fee)."""

    id: str
    amount: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    fee_currency: str = ""
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class OrderInfo:
    """An order as the venue reports it. ``status``: open | closed | canceled | rejected | unknown.

    ``filled``, ``cost`` (quote spent or received) and ``fee`` are *cumulative* over the
    order's life. ``trades`` is every execution so far when the venue's capabilities say
    fills come from its trades endpoint (``None``: not known, book from cumulative figures).
    """

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    amount: Decimal
    filled: Decimal
    price: Decimal | None = None
    average: Decimal | None = None
    fee: Decimal | None = None
    fee_currency: str = ""
    timestamp_ms: int | None = None
    raw: dict = field(default_factory=dict, repr=False)
    cost: Decimal | None = None
    trades: tuple[TradeInfo, ...] | None = None


@dataclass(frozen=True)
class Ticker:
    symbol: str
    last: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    timestamp_ms: int | None = None


# (open time ms, open, high, low, close, volume)
Candle = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]


def dec(value) -> Decimal | None:
    """A venue number as ``Decimal`` (through ``str``: no binary float noise)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


class VenueClient(ABC):
    """One per key set (see ``credentials.providers.client_for``); safe to share between threads."""

    provider_id: str = ""

    @abstractmethod
    def fetch_balance(self) -> dict[str, Balance]: ...

    @abstractmethod
    def fetch_markets(self) -> list[Market]: ...

    @abstractmethod
    def create_order(
        self, *, symbol: str, side: str, type: str, amount: Decimal, price: Decimal | None = None, client_order_id: str
    ) -> OrderInfo: ...

    @abstractmethod
    def fetch_order_by_client_id(
        self, *, symbol: str, client_order_id: str, since_ms: int | None = None
    ) -> OrderInfo | None: ...

    def cancel_order(self, *, symbol: str, venue_order_id: str, client_order_id: str) -> None:
        """Cancel an open order (a resting limit). What became of it is read back by client id
        (``fetch_order_by_client_id``): a fill that beat the cancel is booked, never lost."""
        raise VenueNotSupported(f"{self.provider_id or 'this venue'}: canceling an order is not supported here.")

    @abstractmethod
    def fetch_ohlcv(
        self, *, symbol: str, timeframe: str = "1m", since_ms: int | None = None, limit: int = 100
    ) -> list[Candle]: ...

    @abstractmethod
    def fetch_ticker(self, *, symbol: str) -> Ticker: ...

    @abstractmethod
    def check_keys(self) -> None:
        """One authenticated call; raises ``VenueAuthError`` when the venue rejects the keys."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (called when a newer version of the key set replaces this client)."""


def venue_timeout() -> float:
    return float(getattr(settings, "VENUE_TIMEOUT_SECONDS", 10.0))


def keys_test_timeout() -> float:
    return float(getattr(settings, "KEYS_TEST_TIMEOUT_SECONDS", 10.0))


def venue_url(provider_id: str) -> str:
    """A configured base URL for this venue (``VENUE_URLS``), or "" for the real one."""
    return (getattr(settings, "VENUE_URLS", None) or {}).get(provider_id, "")


# Key tests run here so that a venue that ignores its socket timeout still cannot hold
# a request past the deadline: the request returns, the straggler finishes on its own.
_test_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="keys-test")


# How a venue finds one of our orders again by its client order id (what reconciles an
# order whose outcome is unknown). "" = it cannot: live trading there is refused, since a
# timeout would leave an order we could neither find nor safely re-send.
LOOKUP_FETCH_ORDER = "fetch_order"  # the venue's order endpoint takes the client id (Binance)
LOOKUP_OPEN_CLOSED = "open_closed"  # open and closed order lists filtered by client id (Kraken, Bybit)
LOOKUP_ORDER_BOOK = "order_book"  # the day's order book, matched by tag (Angel One)
FILLS_TRADES = "trades"  # each execution's own price and fee from the trades endpoint
FILLS_CUMULATIVE = "cumulative"  # increments from differences of cumulative filled, cost and fee


@dataclass(frozen=True)
class Capabilities:
    """What a venue supports, declared once per venue (``Provider.capabilities``).

    ``client_id_lookup``: one of the ``LOOKUP_*`` ways, or "" (not supported);
    ``fills``: where a fill's price and fee come from (``FILLS_*``);
    ``note``: why live trading is refused, when it is.
    """

    client_id_lookup: str = ""
    fills: str = FILLS_CUMULATIVE
    note: str = ""

    def live_refusal(self, venue_name: str) -> str:
        """Why live orders may not go to this venue, or "" when they may."""
        if self.client_id_lookup:
            return ""
        why = self.note or "Botfleet cannot look an order up there by its client order id"
        return (
            f"live trading on {venue_name} is not supported: {why}, "
            "so an order whose outcome is unknown could never be resolved"
        )


class Provider(ABC):
    id: str = ""
    name: str = ""
    kind: str = ""  # "local" | "ccxt" | "broker"
    required_fields: tuple[str, ...] = ()
    optional_fields: tuple[str, ...] = ()
    capabilities: Capabilities = Capabilities()

    @property
    def needs_keys(self) -> bool:
        return bool(self.required_fields)

    def describe(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "required_fields": list(self.required_fields),
            "optional_fields": list(self.optional_fields),
        }

    @abstractmethod
    def client(self, keyset: KeySet | None = None, *, timeout: float | None = None) -> VenueClient:
        """A new client for this key set (``None``: public market data only)."""

    def test(self, keyset: KeySet, *, timeout: float | None = None) -> TestResult:
        """Check the key set against the venue within ``timeout`` seconds. Never raises a venue error."""
        timeout = keys_test_timeout() if timeout is None else timeout
        started = time.monotonic()

        def run() -> None:
            client = self.client(keyset, timeout=timeout)
            try:
                client.check_keys()
            finally:
                client.close()

        future = _test_pool.submit(run)
        try:
            future.result(timeout=timeout + 1.0)
        except concurrent.futures.TimeoutError:
            ok, message = False, f"{self.name} did not answer within {timeout:g} s (timeout)."
        except VenueTimeout:
            ok, message = False, f"{self.name} did not answer within {timeout:g} s (timeout)."
        except VenueError as exc:
            ok, message = False, keyset.redact(str(exc))
        else:
            ok, message = True, f"{self.name} accepted the keys."
        latency_ms = int((time.monotonic() - started) * 1000)
        return TestResult(ok=ok, message=message[:300], latency_ms=latency_ms)
