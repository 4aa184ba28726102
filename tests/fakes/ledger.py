"""The fake venues' own record: one account, its orders, its fills and its balances.

Every fake venue (Binance, Kraken, Bybit shapes) places and fills orders here, so a test
can compare the books with what *the venue* executed (``FakeExchange.fills``), never with
the database itself. Orders fill at the venue's price, all at once by default, or in the
chunks of ``plan`` (fractions of the amount, each at its own price): the first chunk at
placement, the next ones when a test calls ``fill_next``. Fees follow ``fee_mode``:

* ``"received"`` — in the asset received (a buy pays in base, a sell in quote): Binance
  without BNB, Bybit spot;
* ``"quote"`` — always in quote (Kraken's default ``fciq``);
* ``"bnb"`` — in BNB, valued at BNB's price (Binance with "pay fees with BNB").

A sell (or a buy) larger than the free balance is refused, as a venue does.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

EIGHT = Decimal("0.00000001")

# Prices by unified symbol; every venue shape maps its own ids onto these.
PRICES = {"BTC/USDT": Decimal("50000.00"), "ETH/USDT": Decimal("3000.00"), "BNB/USDT": Decimal("600.00")}


class Refused(Exception):
    """The venue refuses the order (``code`` is venue-neutral: funds, duplicate, symbol)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class VenueFill:
    trade_id: str
    order_id: str
    client_id: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    ts_ms: int


@dataclass
class VenueOrder:
    venue: str
    id: str
    client_id: str
    symbol: str
    side: str  # buy | sell
    type: str
    amount: Decimal
    created_ms: int
    status: str = "open"  # open | closed | canceled
    fills: list[VenueFill] = field(default_factory=list)
    plan: list[tuple[Decimal, Decimal | None]] = field(default_factory=list)
    limit: Decimal | None = None  # a limit order's price: it fills there, when a test says the market got there

    @property
    def filled(self) -> Decimal:
        return sum((f.quantity for f in self.fills), Decimal(0))

    @property
    def cost(self) -> Decimal:
        return sum((f.quantity * f.price for f in self.fills), Decimal(0))

    @property
    def average(self) -> Decimal | None:
        return (self.cost / self.filled).quantize(EIGHT) if self.filled else None

    def fee_total(self) -> tuple[Decimal, str]:
        assets = {f.fee_asset for f in self.fills}
        return sum((f.fee for f in self.fills), Decimal(0)), (assets.pop() if len(assets) == 1 else "")

    @property
    def updated_ms(self) -> int:
        return self.fills[-1].ts_ms if self.fills else self.created_ms

    # Only for old tests that read a Binance-shaped dict: order["side"] etc.
    def __getitem__(self, key):
        return {"side": self.side.upper(), "clientOrderId": self.client_id}[key]


def now_ms() -> int:
    return int(time.time() * 1000)


class Ledger:
    def __init__(self):
        self.orders: dict[str, VenueOrder] = {}  # by client order id, in placement order
        self.fills: list[VenueFill] = []
        self.balances: dict[str, Decimal] = {
            "BTC": Decimal("0.5"),
            "ETH": Decimal("0"),
            "USDT": Decimal("10000"),
            "BNB": Decimal("10"),
        }
        self.prices = dict(PRICES)
        self.fee_rate = Decimal(0)
        self.fee_mode = "received"
        self.plan: list[tuple[Decimal, Decimal | None]] | None = None  # chunks of the next orders
        self._ids = itertools.count(1000)
        self._trades = itertools.count(5000)
        self.lock = threading.RLock()

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def by_id(self, order_id: str) -> VenueOrder | None:
        return next((o for o in self.orders.values() if o.id == str(order_id)), None)

    def place(
        self, *, venue: str, symbol: str, side: str, amount: Decimal, client_id: str, type="market", limit=None
    ) -> VenueOrder:
        """A market order fills (its first planned chunk) at once; a limit order does when it is
        marketable, else it rests until ``fill_next`` (the market reaching it), at its price."""
        with self.lock:
            if symbol not in self.prices:
                raise Refused("symbol", f"Invalid symbol {symbol}.")
            if client_id in self.orders:
                raise Refused("duplicate", "Duplicate order sent.")
            if amount <= 0:
                raise Refused("amount", "Invalid quantity.")
            base, quote = symbol.split("/")
            price = self.prices[symbol]
            marketable = limit is None or (limit >= price if side == "buy" else limit <= price)
            need, asset = (amount * (limit or price), quote) if side == "buy" else (amount, base)
            if need > self.balances.get(asset, Decimal(0)):
                raise Refused("funds", "Account has insufficient balance for requested action.")
            order = VenueOrder(
                venue=venue,
                id=str(self.next_id()),
                client_id=client_id,
                symbol=symbol,
                side=side,
                type=type,
                amount=amount,
                created_ms=now_ms(),
                plan=list(self.plan or [(Decimal(1), None)]),
                limit=limit,
            )
            self.orders[client_id] = order
            if marketable:
                self.fill_next(client_id)
            return order

    def fill_next(self, client_id: str) -> VenueFill | None:
        """Execute the order's next planned chunk (the last one takes whatever is left)."""
        with self.lock:
            order = self.orders[client_id]
            if order.status != "open" or not order.plan:
                return None
            fraction, price = order.plan.pop(0)
            quantity = order.amount - order.filled if not order.plan else (order.amount * fraction).quantize(EIGHT)
            price = price or order.limit or self.prices[order.symbol]
            base, quote = order.symbol.split("/")
            fee, asset = self._fee(order.side, quantity, price, base, quote)
            fill = VenueFill(
                trade_id=str(next(self._trades)),
                order_id=order.id,
                client_id=client_id,
                symbol=order.symbol,
                side=order.side,
                quantity=quantity,
                price=price,
                fee=fee,
                fee_asset=asset,
                ts_ms=now_ms(),
            )
            sign = 1 if order.side == "buy" else -1
            self._add(base, sign * quantity)
            self._add(quote, -sign * quantity * price)
            self._add(asset, -fee)
            order.fills.append(fill)
            self.fills.append(fill)
            if not order.plan:
                order.status = "closed"
            return fill

    def _fee(self, side: str, quantity: Decimal, price: Decimal, base: str, quote: str) -> tuple[Decimal, str]:
        if self.fee_mode == "bnb":
            return (quantity * price * self.fee_rate / self.prices["BNB/USDT"]).quantize(EIGHT), "BNB"
        if self.fee_mode == "received" and side == "buy":
            return (quantity * self.fee_rate).quantize(EIGHT), base
        return (quantity * price * self.fee_rate).quantize(EIGHT), quote

    def _add(self, asset: str, amount: Decimal) -> None:
        self.balances[asset] = self.balances.get(asset, Decimal(0)) + amount

    def cancel(self, client_id: str) -> None:
        with self.lock:
            order = self.orders[client_id]
            if order.status == "open":
                order.status = "canceled"
                order.plan.clear()
