"""Live orders through the venue providers (``credentials.providers``).

Every order carries our client order id. Outcomes:

* the venue answers → :class:`Outcome` with its ``OrderInfo`` (filled, open, canceled);
* the venue refuses (``VenueOrderRejected``, ``VenueAuthError``) → ``rejected`` — it was
  not placed;
* no answer (``VenueTimeout``, ``VenueUnreachable``, any other ``VenueError`` after
  sending) → ``unknown``: the order may or may not exist. :func:`lookup` asks the venue
  for the client order id later; ``None`` from the venue means it never got the order.
  Nothing here ever sends an order a second time.

:func:`increments` turns what the venue reports into the fills still to book: each
execution at its own price and fee (the venue's trades, where it has them), else the
difference of the cumulative filled quantity, cost and fee since what is booked.

The client is the key set's shared one (``client_for``): bots on one key set share its
connection pool and rate limiter. Its calls are bounded by ``VENUE_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from credentials.exceptions import VenueAuthError, VenueError, VenueOrderRejected
from credentials.providers.base import FILLS_TRADES, OrderInfo, VenueClient

logger = logging.getLogger("botfleet.engine.live")

FILLED, OPEN, REJECTED, CANCELED, UNKNOWN, MISSING = "filled", "open", "rejected", "canceled", "unknown", "missing"


@dataclass(frozen=True)
class Outcome:
    kind: str  # filled | open | rejected | canceled | unknown | missing
    info: OrderInfo | None = None
    message: str = ""


def _from_info(info: OrderInfo) -> Outcome:
    if info.status == "closed" or (info.amount and info.filled >= info.amount):
        return Outcome(FILLED, info)
    if info.status in ("canceled", "rejected"):
        return Outcome(CANCELED if info.status == "canceled" else REJECTED, info)
    return Outcome(OPEN, info)


def place(client: VenueClient, *, symbol: str, side: str, amount: Decimal, client_order_id: str, price=None) -> Outcome:
    """Send one market (or limit, with ``price``) order. Never raises a venue error."""
    try:
        info = client.create_order(
            symbol=symbol,
            side=side,
            type="market" if price is None else "limit",
            amount=amount,
            price=price,
            client_order_id=client_order_id,
        )
    except (VenueOrderRejected, VenueAuthError) as exc:
        return Outcome(REJECTED, message=str(exc))
    except VenueError as exc:
        logger.warning("Order %s: outcome unknown (%s); will look it up by client id", client_order_id, exc)
        return Outcome(UNKNOWN, message=str(exc))
    return _from_info(info)


def lookup(client: VenueClient, *, symbol: str, client_order_id: str, since_ms: int | None = None) -> Outcome:
    """What the venue knows about our order; ``missing`` = it never got it.

    A venue that cannot answer (unreachable, or no way to find this order) leaves the
    outcome ``unknown`` with its reason: never ``missing``, which would allow a resend.
    """
    try:
        info = client.fetch_order_by_client_id(symbol=symbol, client_order_id=client_order_id, since_ms=since_ms)
    except VenueError as exc:
        return Outcome(UNKNOWN, message=str(exc))
    if info is None:
        return Outcome(MISSING)
    return _from_info(info)


# ---------------------------------------------------------------------------
# What to book
# ---------------------------------------------------------------------------
ZERO = Decimal(0)


@dataclass(frozen=True)
class Booked:
    """An order's fills already in the books: gross quantity, quote cost, fee, fill ids."""

    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO
    fill_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Increment:
    fill_id: str
    quantity: Decimal  # gross, as the venue executed it
    price: Decimal
    fee: Decimal
    fee_currency: str
    timestamp_ms: int | None = None


def increments(info: OrderInfo, booked: Booked, *, client_order_id: str, fills: str) -> list[Increment] | None:
    """The fills of ``info`` not yet in ``booked``; ``None`` when the venue's figures do not
    allow booking yet (its trades could not be read, or it gave no price) — ask again later.

    * ``fills == "trades"``: one increment per venue execution not booked yet (fill id
      ``<client id>#<trade id>``), each with its own price and fee;
    * else: the difference of the cumulative figures since what is booked — quantity
      ``filled − booked``, price ``(cost − booked cost) / quantity`` (``cost`` or
      ``average × filled``), fee ``fee − booked fee`` (fill id ``<client id>@<filled>``).
    """
    if fills == FILLS_TRADES:
        if info.trades is None:
            return None if info.filled > booked.quantity else []
        out = []
        for trade in info.trades:
            fill_id = f"{client_order_id}#{trade.id}"
            if fill_id in booked.fill_ids or trade.amount <= 0 or trade.price <= 0:
                continue
            out.append(Increment(fill_id, trade.amount, trade.price, trade.fee, trade.fee_currency, trade.timestamp_ms))
        return out
    quantity = info.filled - booked.quantity
    if quantity <= 0:
        return []
    if info.cost:
        total = info.cost
    elif info.average or info.price:
        total = (info.average or info.price) * info.filled
    else:
        return None
    price = (total - booked.cost) / quantity
    if price <= 0:  # a venue's rounded cost can undercut what is booked: its average is the best left
        price = info.average or info.price or total / info.filled
    fee = max((info.fee or ZERO) - booked.fee, ZERO)
    return [
        Increment(
            f"{client_order_id}@{info.filled.normalize():f}", quantity, price, fee, info.fee_currency, info.timestamp_ms
        )
    ]


def settled(info: OrderInfo, booked_quantity: Decimal) -> bool:
    """Whether nothing more will be filled and everything filled is booked."""
    return info.status in ("closed", "canceled", "rejected") and booked_quantity >= info.filled
