"""Fill accounting: one fill applied to a long-only position, as pure arithmetic.

The books follow what the account really holds (README "Fees"):

* a trade's ``quantity`` is what the venue executed (gross);
* a fee taken in the **base** asset (Binance without BNB, Kraken's ``fcib``) leaves the
  account in that asset: the position gets the net quantity and quote cash is not charged;
* a fee in the **quote** currency is charged to quote cash;
* a fee in a **third** currency (BNB) is paid from a balance the bot does not hold: neither
  cash nor the position changes, but its value (converted into quote at the latest known
  price, kept as ``fee_quote`` beside the original amount and currency) counts against
  PnL like any other fee.

Every fee's quote value reaches PnL exactly once: a buy's through the cost basis, a sell's
through its realized PnL. With ``f`` the fee, ``v`` its quote value, ``b`` the part of it in
the base asset (``f`` or 0) and ``c`` the part charged to cash (``f`` or 0):

    buy:  position += q − b;  avg' = (qty·avg + (q − b)·p + v) / (qty + q − b);  cash −= q·p + c
    sell: position −= q + b;  realized = q·p − (q + b)·avg − (v − b·p);          cash += q·p − c
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


class FillRefused(ValueError):
    """The fill cannot be applied to the books as they are (it would short, or nets to nothing)."""


@dataclass(frozen=True)
class FeeParts:
    value: Decimal  # in quote: what the fee costs (PnL, totals)
    base: Decimal  # taken from the base asset
    cash: Decimal  # charged to quote cash


def fee_parts(
    *, fee: Decimal, fee_currency: str, base: str, quote: str, price: Decimal, value: Decimal | None = None
) -> FeeParts:
    """Split a fee by where it is paid from. ``value``: the quote value of a third-currency fee."""
    if not fee:
        return FeeParts(ZERO, ZERO, ZERO)
    if not fee_currency or fee_currency == quote:
        return FeeParts(fee, ZERO, fee)
    if fee_currency == base:
        return FeeParts(fee * price, fee, ZERO)
    if value is None:
        raise FillRefused(f"a fee of {fee} {fee_currency} needs its value in {quote} to be booked")
    return FeeParts(Decimal(value), ZERO, ZERO)


@dataclass(frozen=True)
class Applied:
    quantity: Decimal  # the position after the fill
    average_cost: Decimal
    realized: Decimal | None  # sells only
    cash_delta: Decimal


def apply_fill(
    *, side: str, quantity: Decimal, price: Decimal, fee: FeeParts, held: Decimal, average_cost: Decimal
) -> Applied:
    notional = quantity * price
    if side == "buy":
        net = quantity - fee.base
        if net <= 0:
            raise FillRefused(f"a buy of {quantity} with a fee of {fee.base} in the base asset leaves nothing")
        new_qty = held + net
        average = (held * average_cost + net * price + fee.value) / new_qty
        return Applied(new_qty, average, None, -(notional + fee.cash))
    out = quantity + fee.base
    if out > held:
        raise FillRefused(f"cannot sell {out}: the position holds {held}")
    realized = notional - out * average_cost - (fee.value - fee.base * price)
    new_qty = held - out
    return Applied(new_qty, average_cost if new_qty else ZERO, realized, notional - fee.cash)
