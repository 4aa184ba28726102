"""Paper fills: against the venue's market data, with a fee and slippage.

``PAPER_FEE_PCT`` (default 0.001 = 0.1 %, charged in the quote currency) and
``PAPER_SLIPPAGE_PCT`` (default 0.0005; buys pay more, sells get less) are settings.
The bot's virtual balance is its ``cash_balance`` (kept by ``trade_record_fill``); the
risk rules size orders within it and within the venue's lot size and minimum notional.

A fill is computed from the intent alone — venue, symbol, side, quantity and the
moment the intent was persisted — so executing the same intent twice gives the same
fill (same ``fill_id``: the client order id), which is how a crashed tick is repaired.
Its price is the price *known* at that moment (:func:`bots.engine.market.price_at`): the
simulated process, the open of the recorded candle on replay, and on real venues the
fresh ticker the decision itself was judged and sized on — never a candle's close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bots.engine import market
from bots.engine.risk import setting

PRICE_QUANTUM = Decimal("1e-12")


def fee_pct() -> Decimal:
    return Decimal(str(setting("PAPER_FEE_PCT", "0.001", str)))


def slippage_pct() -> Decimal:
    return Decimal(str(setting("PAPER_SLIPPAGE_PCT", "0.0005", str)))


@dataclass(frozen=True)
class PaperFill:
    fill_id: str
    price: Decimal
    quantity: Decimal
    fee: Decimal  # quote currency
    executed_at: datetime


def fill_price(*, venue: str, symbol: str, side: str, at: datetime) -> Decimal | None:
    """The price a paper market order placed at ``at`` fills at (slippage included), or ``None``.

    Sizing reads it too, so an all-in buy is sized against what the fill will charge.
    """
    price = market.price_at(venue, symbol, int(at.timestamp()))
    if price is None:
        return None
    slip = slippage_pct()
    mid = Decimal(str(price))
    return (mid * (1 + slip) if side == "buy" else mid * (1 - slip)).quantize(PRICE_QUANTUM)


def execute(*, client_order_id: str, venue: str, symbol: str, side: str, quantity: Decimal, at: datetime):
    """The fill of a paper market order placed at ``at``, or ``None`` without a price then."""
    price = fill_price(venue=venue, symbol=symbol, side=side, at=at)
    if price is None:
        return None
    fee = (quantity * price * fee_pct()).quantize(PRICE_QUANTUM)
    return PaperFill(fill_id=client_order_id, price=price, quantity=quantity, fee=fee, executed_at=at)
