"""Backtests: the decision core (:mod:`bots.engine.core`) ticking over stored candles on an
in-memory ledger.

One tick per candle of the run's timeframe, at the candle's open ``t`` — what a paper bot on
the ``replay`` venue with ``interval_seconds`` equal to the timeframe does:

* the strategy sees the closes of the candles closed by ``t`` (never the candle opening at
  ``t``: its close lies in the future), at most its ``lookback``; the run loads that many
  candles before ``since`` as warm-up;
* the price now is the open of the candle at ``t`` (the price known at ``t``), which exits,
  sizing and the paper fill use;
* the fill is :func:`bots.engine.adapters.paper.execute` with the run's fee and slippage, booked
  by :mod:`bots.fills`; the books are rounded to 12 decimal places as the database stores them,
  so the numbers a run produces are those a paper bot's books would hold.

The bodyguard (a guard against a running bot's losses and errors, which pauses it) is not
part of a backtest: a run shows what the strategy and its risk rules do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from bots import equity as equity_mod
from bots import venues
from bots.candles import Rows
from bots.engine import core, market, risk, strategies
from bots.engine.adapters import paper

ZERO = Decimal(0)
Q12 = Decimal("1e-12")


def q12(value: Decimal) -> Decimal:
    """As a ``numeric(28, 12)`` column keeps it (rounded half away from zero)."""
    return value.quantize(Q12, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Config:
    strategy: str
    params: dict
    exchange: str
    symbol: str
    timeframe: str
    since: int  # epoch seconds: the first tick
    until: int  # the last tick at or before it
    capital: Decimal
    fee_pct: Decimal
    slippage_pct: Decimal
    position_size_pct: Decimal = Decimal(1)
    rules: dict = field(default_factory=dict)  # exits (risk.EXIT_KEYS) and limits (staff override keys)
    order_prefix: str = "bt"


@dataclass
class MemoryLedger:
    """Where a backtest keeps its books: the same numbers the database ledger keeps, in memory."""

    cash: Decimal
    capital: Decimal
    position: Decimal = ZERO
    average_cost: Decimal = ZERO
    realized: Decimal = ZERO
    strategy_state: dict = field(default_factory=dict)
    engine: dict = field(default_factory=dict)
    orders: list[dict] = field(default_factory=list)
    trades: list[dict] = field(default_factory=list)
    fills: list[equity_mod.Fill] = field(default_factory=list)

    def book(self) -> core.Book:
        return core.Book(
            cash=self.cash,
            capital=self.capital,
            position=self.position,
            average_cost=self.average_cost,
            open_positions=1 if self.position > 0 else 0,
        )

    def record(self, *, cid: str, symbol: str, reason: str, reference_price: Decimal, fill: paper.PaperFill, side: str):
        booked = core.book_paper_fill(
            side=side, quantity=fill.quantity, price=fill.price, fee=fill.fee, book=self.book()
        )
        applied = booked.applied
        self.position = applied.quantity
        self.average_cost = q12(applied.average_cost)
        realized = None if applied.realized is None else q12(applied.realized)
        self.realized += realized or ZERO
        self.cash = q12(self.cash + applied.cash_delta)
        at = fill.executed_at.isoformat().replace("+00:00", "Z")
        self.orders.append(
            {
                "client_order_id": cid,
                "symbol": symbol,
                "side": side,
                "type": "market",
                "quantity": fill.quantity,
                "reference_price": reference_price,
                "average_price": fill.price,
                "fee": fill.fee,
                "status": "filled",
                "reason": reason[:64],
                "created_at": at,
            }
        )
        self.trades.append(
            {
                "fill_id": cid,
                "symbol": symbol,
                "side": side,
                "quantity": fill.quantity,
                "price": fill.price,
                "fee": fill.fee,
                "fee_quote": booked.fee_value,
                "realized_pnl": realized,
                "executed_at": at,
                "reason": reason[:64],
            }
        )
        self.fills.append(
            equity_mod.Fill(fill.executed_at, symbol, side, fill.quantity, fill.price, booked.fee_value, realized)
        )
        return realized


@dataclass
class Result:
    ledger: MemoryLedger
    candles: int  # ticks run
    equity: list[tuple[int, Decimal]]  # (epoch s, marked-to-market equity) per tick
    prices: list[Decimal]  # the price each tick judged on (the marks of ``equity``)
    canceled: bool = False


def _when(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def warmup(config: Config) -> int:
    """How many candles before ``since`` the strategy's first decision needs."""
    module = strategies.get(config.strategy)
    return module.lookback(core.strategy_params(config.strategy, config.params, config.rules))


def run(
    config: Config,
    rows: Rows,
    *,
    progress: Callable[[float, int], bool] | None = None,
    every: int | None = None,
) -> Result:
    """Tick over ``rows`` (gaps already filled, warm-up included). ``progress(fraction, ticks)``
    is called every ``every`` ticks (default: about 20 times a run, every 100 to 2,000 ticks);
    when it returns False the run stops (cancel), keeping what it did."""
    module = strategies.get(config.strategy)
    params = core.strategy_params(config.strategy, config.params, config.rules)
    lookback = module.lookback(params)
    rules = risk.effective_rules(
        position_size_pct=config.position_size_pct, override_rules=config.rules, exits=config.rules
    )
    seconds = market.timeframe_seconds(config.timeframe)
    venue_real = venues.is_real(config.exchange)
    rules_market = market.market_rules(config.exchange, config.symbol)
    ledger = MemoryLedger(cash=config.capital, capital=config.capital)
    times, opens, closes = rows.time, rows.open, rows.close
    closes = np.ascontiguousarray(closes, dtype=float)
    closes.setflags(write=False)
    first = int(np.searchsorted(times, config.since, side="left"))
    last = int(np.searchsorted(times, config.until, side="right"))
    total = max(last - first, 0)
    every = every or max(100, min(2000, total // 20))
    curve: list[tuple[int, Decimal]] = []
    marks: list[Decimal] = []
    tick = 0
    canceled = False
    opens_list = opens.tolist()
    times_list = times.tolist()
    for i in range(first, last):
        t = times_list[i]
        now = _when(t)
        price_f = opens_list[i]
        price = Decimal(str(price_f))
        ledger.engine = risk.note_equity(
            ledger.engine, equity=float(ledger.cash + ledger.position * price), capital=float(ledger.capital)
        )
        book = ledger.book()
        verdict = core.decide(
            module=module,
            params=params,
            strategy_state=ledger.strategy_state,
            engine=ledger.engine,
            rules=rules,
            closes=closes[max(0, i - lookback) : i],
            price=price_f,
            book=book,
            tradable=core.tradable(ledger.position, price, market=rules_market, venue_real=venue_real),
            tick=tick,
            candle=t // seconds,
            now=now,
        )
        ledger.engine = verdict.engine
        if verdict.decision is not None and not verdict.refused:
            _order(
                config,
                ledger,
                verdict.decision,
                module=module,
                params=params,
                rules=rules,
                price=price,
                book=book,
                market_rules=rules_market,
                venue_real=venue_real,
                tick=tick,
                now=now,
                candle=t // seconds,
            )
        curve.append((t, ledger.cash + ledger.position * price))
        marks.append(price)
        tick += 1
        if progress is not None and tick % every == 0 and not progress(tick / total if total else 1.0, tick):
            canceled = True
            break
    return Result(ledger=ledger, candles=tick, equity=curve, prices=marks, canceled=canceled)


def _order(
    config, ledger, decision, *, module, params, rules, price, book, market_rules, venue_real, tick, now, candle
):
    sized = core.size(
        decision,
        rules=rules,
        price=price,
        book=book,
        paper_route=True,
        market=market_rules,
        venue_limits=venue_real,
        fee_pct=config.fee_pct,
        slippage_pct=config.slippage_pct,
    )
    if sized.refused:
        return
    cid = f"{config.order_prefix}-{tick}"
    ledger.engine = core.note_intent(ledger.engine, client_order_id=cid, decision=decision, now=now)
    fill = paper.execute(
        client_order_id=cid,
        venue=config.exchange,
        symbol=config.symbol,
        side=decision.action,
        quantity=sized.quantity,
        at=now,
        price=price,
        fee=config.fee_pct,
        slippage=config.slippage_pct,
    )
    realized = ledger.record(
        cid=cid, symbol=config.symbol, reason=decision.reason, reference_price=price, fill=fill, side=decision.action
    )
    ledger.strategy_state, ledger.engine = core.after_fill(
        module=module,
        params=config.params,
        strategy_state=ledger.strategy_state,
        engine=ledger.engine,
        client_order_id=cid,
        side=decision.action,
        order_reason=decision.reason[:64],
        quantity=fill.quantity,
        price=fill.price,
        realized=realized,
        exit_candle=candle,
        now=now,
        bodyguard=None,
    )
