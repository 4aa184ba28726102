"""The decision core: what one tick decides, whoever keeps the results.

A tick is candle window → strategy → protective exits and risk rules → sizing → paper fill →
fill accounting. Every step here is a pure function of the numbers a ledger hands it (the
bot's cash, capital, position, strategy and engine memory), so the same code runs

* against the database ledger (:mod:`bots.engine.tick`: paper and live bots; the row lock,
  the re-check under it, idempotent intents and the venue are its business), and
* against the in-memory ledger (:mod:`bots.engine.backtest`: backtests over stored candles).

Nothing here reads the database, the clock or the network; a backtest and a paper bot
replaying the same candles therefore reach the same orders by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bots import fills
from bots.engine import risk
from bots.engine.adapters import paper
from bots.engine.market import MarketRules
from bots.engine.strategies import BUY, SELL, Decision, Fill, View

ZERO = Decimal(0)


@dataclass(frozen=True)
class Book:
    """A ledger's picture of one bot at one tick (its traded symbol only)."""

    cash: Decimal
    capital: Decimal
    position: Decimal  # base quantity held
    average_cost: Decimal
    open_positions: int  # symbols the bot holds (max_open_positions)


@dataclass(frozen=True)
class Verdict:
    decision: Decision | None = None  # None: nothing to order this tick
    refused: str = ""  # why a decision to trade was held back
    exit_reason: str = ""  # a protective exit decided it
    engine: dict | None = None  # the engine memory after this tick's look (the trailing high-water mark)


def strategy_params(strategy: str, params: dict | None, overrides: dict | None) -> dict:
    """The params a strategy decides with: a staff take-profit override also moves DCA's target."""
    out = dict(params or {})
    if strategy == "dca" and (overrides or {}).get("take_profit_pct") is not None:
        out["take_profit_pct"] = float(overrides["take_profit_pct"])
    return out


def tradable(quantity: Decimal, price: Decimal, *, market: MarketRules, venue_real: bool) -> Decimal:
    """The part of a position an order can sell: all of it on a local venue, what one order can
    sell on a real one (its lot size and minimums; dust is no position to trade on)."""
    if quantity <= 0 or not venue_real:
        return quantity
    return risk.sellable(quantity, price, market)


def decide(
    *,
    module,
    params: dict,
    strategy_state: dict,
    engine: dict,
    rules: risk.Rules,
    closes,
    price: float,
    book: Book,
    tradable: Decimal,
    tick: int,
    candle: int,
    now: datetime,
    instructed: Decision | None = None,
) -> Verdict:
    """The tick's decision: a protective exit first, else the strategy (or the decision an
    owner or a signal ``instructed``: :mod:`bots.engine.instruction`); then the limiter and
    the re-entry rule (never in the way of an exit). ``tradable`` is the part of the position
    an order can sell (all of it on a local venue); ``closes`` are closed candles only.
    The verdict carries the engine memory to keep (:func:`risk.trail`)."""
    price_d = Decimal(str(price))
    average_cost = book.average_cost if tradable else ZERO
    engine = risk.trail(engine, position=tradable, average_cost=average_cost, price=price_d)
    exit_reason = risk.protective_exit(
        rules, position=tradable, average_cost=average_cost, price=price_d, engine=engine
    )
    if exit_reason:
        decision = Decision(SELL, quantity=float(book.position), reason=exit_reason)
    elif instructed is not None:
        decision = instructed
    else:
        view = View(
            closes=closes,
            price=price,
            position=float(tradable),
            average_cost=float(average_cost),
            cash=float(book.cash),
            capital=float(book.capital),
            position_size_pct=float(rules.position_size_pct),
            tick=tick,
            state=strategy_state,
            candle=candle,
        )
        decision = module.decide(params, view)
    if not decision.is_order:
        return Verdict(engine=engine)
    if not exit_reason:
        refusal = risk.limiter_refusal(rules, engine, now)
        if not refusal and decision.action == BUY:
            refusal = risk.reentry_refusal(engine, candle=candle)
        if refusal:
            return Verdict(decision, refused=refusal, engine=engine)
    return Verdict(decision, exit_reason=exit_reason, engine=engine)


def size(
    decision: Decision,
    *,
    rules: risk.Rules,
    price: Decimal,
    book: Book,
    paper_route: bool,
    market: MarketRules,
    venue_limits: bool,
    fee_pct: Decimal | None = None,
    slippage_pct: Decimal | None = None,
) -> risk.Sized:
    """How much of ``decision`` may be ordered at ``price``. A paper buy is sized at the price its
    fill will charge (slippage included), so an all-in buy never spends more than the cash."""
    fee = paper.fee_pct() if fee_pct is None else fee_pct
    if decision.action == BUY:
        sizing_price = paper.fill_price(price=price, side=BUY, slippage=slippage_pct) if paper_route else price
        return risk.size_buy(
            rules,
            quote=Decimal(str(decision.quote)),
            price=sizing_price,
            cash=book.cash,
            capital=book.capital,
            position_cost=book.position * book.average_cost,
            open_positions=book.open_positions,
            opens_new_position=book.position <= 0,
            fee_pct=fee,
            market=market,
        )
    return risk.size_sell(
        quantity=Decimal(str(decision.quantity)),
        position=book.position,
        price=price,
        market=market,
        venue_limits=venue_limits,
    )


def note_intent(engine: dict, *, client_order_id: str, decision: Decision, now: datetime) -> dict:
    """The engine memory once an order is decided: the limiter's count and the pending note
    that hands the strategy's tag back to it when the fill arrives."""
    pending = {**engine.get("pending", {}), client_order_id: {"tag": decision.tag, "reason": decision.reason}}
    return {**risk.note_order(engine, now), "pending": pending}


def after_fill(
    *,
    module,
    params: dict,
    strategy_state: dict,
    engine: dict,
    client_order_id: str,
    side: str,
    order_reason: str,
    quantity: Decimal,
    price: Decimal,
    realized: Decimal | None,
    exit_candle: int,
    now: datetime,
    bodyguard: risk.BodyguardLimits | None,
) -> tuple[dict, dict]:
    """Strategy and engine memory after a fill of one of the bot's orders."""
    pending = dict(engine.get("pending", {}))
    noted = pending.pop(client_order_id, None) or {"tag": {}, "reason": order_reason}
    decision = Decision(side, reason=noted.get("reason", ""), tag=noted.get("tag") or {})
    strategy_state = module.on_fill(params, strategy_state, decision, Fill(side, float(quantity), float(price)))
    engine = risk.note_exit({**engine, "pending": pending}, reason=order_reason, candle=exit_candle)
    if side == BUY:  # more bought onto what an exit left: the position is protected again
        engine.pop("exited", None)
    if bodyguard is not None:
        engine = risk.note_fill(
            engine, realized=realized, reason=order_reason, now=now, limits=bodyguard, order=client_order_id
        )
    return strategy_state, engine


@dataclass(frozen=True)
class Booked:
    """One fill applied to a long-only book (:mod:`bots.fills`), fee in the quote currency."""

    applied: fills.Applied
    fee_value: Decimal


def book_paper_fill(*, side: str, quantity: Decimal, price: Decimal, fee: Decimal, book: Book) -> Booked:
    """The books after a paper fill (its fee is in the quote currency), as ``trade_record_fill``
    computes them: the in-memory ledger's accounting."""
    parts = fills.fee_parts(fee=fee, fee_currency="", base="", quote="", price=price)
    applied = fills.apply_fill(
        side=side, quantity=quantity, price=price, fee=parts, held=book.position, average_cost=book.average_cost
    )
    return Booked(applied, parts.value)
