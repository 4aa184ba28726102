"""Paper fills: against the venue's market data, with a fee and slippage.

``PAPER_FEE_PCT`` (default 0.001 = 0.1 %, charged in the quote currency) and
``PAPER_SLIPPAGE_PCT`` (default 0.0005; buys pay more, sells get less) are settings.
The bot's virtual balance is its ``cash_balance`` (kept by ``trade_record_fill``); the
risk rules size orders within it and within the venue's lot size and minimum notional.

A fill is computed from the intent alone — side, quantity, the price the decision was
judged and sized on (stored with the intent: ``Order.reference_price``) and the moment the
intent was persisted — so executing the same intent twice gives the same fill (same
``fill_id``: the client order id), which is how a crashed tick is repaired, however late
and whatever the market and the shared cache hold by then. That price is the one *known*
at that moment (:func:`bots.engine.market.price_at`): the simulated process, the open of the
recorded candle on replay, and on real venues the fresh ticker — never a candle's close.
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


def fill_price(*, price: Decimal, side: str, slippage: Decimal | None = None) -> Decimal:
    """The price a paper market order decided at ``price`` fills at (slippage included).

    Sizing reads it too, so an all-in buy is sized against what the fill will charge.
    ``slippage``: a backtest's own (default: ``PAPER_SLIPPAGE_PCT``).
    """
    slip = slippage_pct() if slippage is None else slippage
    return (price * (1 + slip) if side == "buy" else price * (1 - slip)).quantize(PRICE_QUANTUM)


def execute(
    *,
    client_order_id: str,
    venue: str,
    symbol: str,
    side: str,
    quantity: Decimal,
    at: datetime,
    price: Decimal | None,
    fee: Decimal | None = None,
    slippage: Decimal | None = None,
):
    """The fill of a paper market order placed at ``at`` on ``price``, or ``None`` without a price.

    ``price`` is the intent's own; an intent written without one (before it was stored) falls
    back to the price known at ``at``. ``fee`` and ``slippage``: a backtest's own rates
    (default: the settings).
    """
    if price is None:
        known = market.price_at(venue, symbol, int(at.timestamp()))
        if known is None:
            return None
        price = Decimal(str(known))
    price = fill_price(price=price, side=side, slippage=slippage)
    charged = (quantity * price * (fee_pct() if fee is None else fee)).quantize(PRICE_QUANTUM)
    return PaperFill(fill_id=client_order_id, price=price, quantity=quantity, fee=charged, executed_at=at)
