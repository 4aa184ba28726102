"""The equity curve and what is measured on it: one definition for every number shown.

Pure functions over plain values (no ORM, no network); :mod:`bots.analytics` feeds them
the books, :mod:`bots.engine.risk` (the bodyguard) and :mod:`training.selectors` (the
autopilot's gate) use the same drawdown.

* **Equity** is marked to market: ``cash + Σ position × price``. The books give cash and
  positions after every fill (a buy pays ``quantity × price + fee``, a sell receives
  ``quantity × price − fee``); the price is the market's at the moment of the mark.
* **The daily curve** samples equity at the end of every UTC day of the bot's running
  life (idle days included: an open position moves with the market, a flat bot stays
  put), starting from the capital at the start of that life.
* **Drawdown** is the fall from the highest equity so far, as a fraction of that peak.
* **A trade** (for ``win_rate``) is a round trip: a position opened from flat and closed
  back to flat; its PnL is the realized PnL of its closing fills (buy fees are part of
  the average cost), however many partial fills it took.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

ZERO = Decimal("0")


@dataclass(frozen=True)
class Fill:
    at: datetime
    symbol: str
    side: str  # buy | sell
    quantity: Decimal
    price: Decimal
    fee_quote: Decimal
    realized_pnl: Decimal | None


def drawdown(peak: float, equity: float) -> float:
    """Fall of ``equity`` from ``peak`` as a fraction of the peak (0 at or above it)."""
    return (peak - equity) / peak if peak > 0 and equity < peak else 0.0


def max_drawdown(equities: Iterable[float]) -> float:
    """The largest :func:`drawdown` along an equity curve, the first point its first peak."""
    peak, worst = None, 0.0
    for equity in equities:
        peak = equity if peak is None else max(peak, equity)
        worst = max(worst, drawdown(peak, equity))
    return worst


def returns(equities: Sequence[float]) -> list[float]:
    """Simple returns between consecutive points of an equity curve."""
    return [(b / a - 1) if a > 0 else 0.0 for a, b in zip(equities, equities[1:], strict=False)]


def day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def daily_equity(
    *,
    capital: Decimal,
    fills: Sequence[Fill],
    start: datetime,
    end: datetime,
    price: Callable[[str, datetime], Decimal | None],
) -> list[tuple[date, Decimal]]:
    """Equity at the end of each UTC day from ``start``'s to ``end``'s (the last one at ``end``).

    ``fills`` are in booking order. ``price(symbol, at)`` is the market price at ``at``;
    when it is unknown, the position is marked at its last fill price (the last mark the
    books saw). The first point is ``(day before start, capital)``.
    """
    cash = Decimal(capital)
    held: dict[str, Decimal] = {}
    last_fill_price: dict[str, Decimal] = {}
    curve = [(start.astimezone(UTC).date() - timedelta(days=1), cash)]
    day = start.astimezone(UTC).date()
    last_day = max(end.astimezone(UTC).date(), day)
    i = 0
    while day <= last_day:
        mark_at = min(day_end(day), end) if day == last_day else day_end(day)
        while i < len(fills) and fills[i].at < mark_at:
            fill = fills[i]
            notional = fill.quantity * fill.price
            if fill.side == "buy":
                cash -= notional + fill.fee_quote
                held[fill.symbol] = held.get(fill.symbol, ZERO) + fill.quantity
            else:
                cash += notional - fill.fee_quote
                held[fill.symbol] = held.get(fill.symbol, ZERO) - fill.quantity
            last_fill_price[fill.symbol] = fill.price
            i += 1
        equity = cash
        for symbol, quantity in held.items():
            if quantity:
                known = price(symbol, mark_at)
                equity += quantity * (known if known is not None else last_fill_price[symbol])
        curve.append((day, equity))
        day += timedelta(days=1)
    return curve


def round_trips(fills: Iterable[Fill]) -> list[Decimal]:
    """PnL of each closed round trip (flat → position → flat), per symbol, in order of closing."""
    held: dict[str, Decimal] = {}
    pnl: dict[str, Decimal] = {}
    closed = []
    for fill in fills:
        quantity = held.get(fill.symbol, ZERO)
        if fill.side == "buy":
            held[fill.symbol] = quantity + fill.quantity
            continue
        held[fill.symbol] = quantity - fill.quantity
        pnl[fill.symbol] = pnl.get(fill.symbol, ZERO) + (fill.realized_pnl or ZERO)
        if held[fill.symbol] <= 0:
            closed.append(pnl.pop(fill.symbol))
            held[fill.symbol] = ZERO
    return closed


def marks_since(
    *, capital: Decimal, fills: Sequence[Fill], since: datetime, price_now: Callable[[str], Decimal | None]
) -> list[Decimal]:
    """Marked-to-market equity at ``since``, after each fill from then on, and now.

    Each mark values a position at the last price the books saw for its symbol (a fill's
    own price right after it); the last one at ``price_now`` where known. What the
    autopilot's gate measures its drawdown on (the quarantine is shorter than a day).
    """
    cash = Decimal(capital)
    held: dict[str, Decimal] = {}
    seen: dict[str, Decimal] = {}

    def mark(prices: dict[str, Decimal]) -> Decimal:
        return cash + sum((q * prices[s] for s, q in held.items() if q), ZERO)

    marks: list[Decimal] = []
    for fill in fills:
        if fill.at >= since and not marks:
            marks.append(mark(seen))
        notional = fill.quantity * fill.price
        sign = 1 if fill.side == "buy" else -1
        cash -= sign * notional + fill.fee_quote
        held[fill.symbol] = held.get(fill.symbol, ZERO) + sign * fill.quantity
        seen[fill.symbol] = fill.price
        if fill.at >= since:
            marks.append(mark(seen))
    if not marks:
        marks.append(mark(seen))
    now_prices = {s: (price_now(s) or seen[s]) for s, q in held.items() if q}
    marks.append(mark({**seen, **now_prices}))
    return marks
