"""Live orders through the venue providers (``credentials.providers``).

Every order carries our client order id. Outcomes:

* the venue answers → :class:`Outcome` with its ``OrderInfo`` (filled, open, canceled);
* the venue refuses (``VenueOrderRejected``, ``VenueAuthError``) → ``rejected`` — it was
  not placed;
* no answer (``VenueTimeout``, ``VenueUnreachable``, any other ``VenueError`` after
  sending) → ``unknown``: the order may or may not exist. :func:`lookup` asks the venue
  for the client order id later; ``None`` from the venue means it never got the order.
  Nothing here ever sends an order a second time.

The client is the key set's shared one (``client_for``): bots on one key set share its
connection pool and rate limiter. Its calls are bounded by ``VENUE_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from credentials.exceptions import VenueAuthError, VenueError, VenueOrderRejected
from credentials.providers.base import OrderInfo, VenueClient

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


def lookup(client: VenueClient, *, symbol: str, client_order_id: str) -> Outcome:
    """What the venue knows about our order; ``missing`` = it never got it."""
    try:
        info = client.fetch_order_by_client_id(symbol=symbol, client_order_id=client_order_id)
    except VenueError as exc:
        return Outcome(UNKNOWN, message=str(exc))
    if info is None:
        return Outcome(MISSING)
    return _from_info(info)
